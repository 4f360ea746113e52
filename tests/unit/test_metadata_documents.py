"""What the metadata service answers for an instance: Nova's OpenStack and EC2 trees."""

from __future__ import annotations

import json

import pytest

from tests.unit.metadata_cases import KEY_A, NETWORK_DATA_A, instance_a, instance_b
from v6fabric.hoststate.metadata import MetadataInstance
from v6fabric.metadata.documents import (
    JSON,
    OPENSTACK_VERSIONS,
    TEXT,
    InstanceDocuments,
    answer,
)


def text(path: str, instance: MetadataInstance | None = None) -> str:
    got = answer(instance or instance_a(), path)
    assert got.status == 200, path
    return got.body.decode()


def test_openstack_versions_include_latest_and_rocky() -> None:
    versions = text("/openstack").splitlines()
    assert versions[-1] == "latest"
    assert "2018-08-27" in versions
    assert text("/openstack/") == text("/openstack")


def test_version_listing_names_user_data_only_when_present() -> None:
    assert text("/openstack/latest").splitlines() == [
        "meta_data.json",
        "network_data.json",
        "user_data",
        "vendor_data.json",
        "vendor_data2.json",
    ]
    assert "user_data" not in text("/openstack/latest/", instance_b()).splitlines()


def test_meta_data_json_has_novas_shape() -> None:
    got = answer(instance_a(), "/openstack/latest/meta_data.json")
    assert (got.status, got.content_type) == (200, JSON)
    assert json.loads(got.body) == {
        "uuid": "dev-a",
        "name": "alpha",
        "hostname": "alpha",
        "project_id": "proj-a",
        "availability_zone": "nova",
        "launch_index": 0,
        "public_keys": {"alice": KEY_A},
        "keys": [{"name": "alice", "type": "ssh", "data": KEY_A}],
        "meta": {"role": "web"},
        "devices": [],
    }


@pytest.mark.parametrize("version", [*OPENSTACK_VERSIONS, "latest"])
def test_every_dated_version_serves_the_same_documents(version: str) -> None:
    assert text(f"/openstack/{version}/meta_data.json") == text("/openstack/latest/meta_data.json")


def test_instance_documents_encode_the_json_documents_once() -> None:
    """The server's per-config object answers as ``answer`` does and keeps the encoded JSON
    documents (no json.dumps per request)."""
    documents = InstanceDocuments(instance_a())
    for path in (
        "/openstack/latest/meta_data.json",
        "/openstack/2018-08-27/network_data.json",
        "/openstack/latest/user_data",
        "/latest/meta-data/public-keys/0/openssh-key",
        "/openstack/latest/nothing",
    ):
        assert documents.answer(path) == answer(instance_a(), path), path
    first = documents.answer("/openstack/latest/meta_data.json")
    assert documents.answer("/openstack/2013-04-04/meta_data.json") is first
    network = documents.answer("/openstack/latest/network_data.json")
    assert documents.answer("/openstack/latest/network_data.json") is network


def test_network_data_is_served_as_given() -> None:
    got = answer(instance_a(), "/openstack/latest/network_data.json")
    assert (got.status, got.content_type, got.body) == (200, JSON, NETWORK_DATA_A.encode())


def test_user_data_is_raw_and_missing_user_data_is_404() -> None:
    assert answer(instance_a(), "/openstack/latest/user_data").body == (
        b"#cloud-config\nhostname: alpha\n"
    )
    assert answer(instance_b(), "/openstack/latest/user_data").status == 404


def test_vendor_data_is_empty_json() -> None:
    for name in ("vendor_data.json", "vendor_data2.json"):
        got = answer(instance_a(), f"/openstack/latest/{name}")
        assert (got.status, json.loads(got.body)) == (200, {})


@pytest.mark.parametrize(
    "path",
    [
        "/openstack/1999-01-01/meta_data.json",
        "/openstack/latest/nothing",
        "/openstack/latest/meta_data.json/more",
        "/nonsense",
        "/latest/meta-data/public-keys/1/openssh-key",
        "/latest/meta-data/public-keys/x",
        "/latest/meta-data/public-keys/0/other",
        "/latest/meta-data/nothing",
        "/latest/other",
    ],
)
def test_unknown_paths_are_404(path: str) -> None:
    got = answer(instance_a(), path)
    assert (got.status, got.content_type) == (404, TEXT)


def test_ec2_listings() -> None:
    assert text("/").splitlines()[-1] == "latest"
    assert "2009-04-04" in text("/").splitlines()
    assert text("/latest").splitlines() == ["meta-data/", "user-data"]
    assert text("/latest", instance_b()).splitlines() == ["meta-data/"]
    listing = text("/latest/meta-data/").splitlines()
    assert {"instance-id", "hostname", "local-hostname", "placement/", "public-keys/"} <= set(
        listing
    )
    keyless = MetadataInstance(instance_id="x", project_id="p", name="n", hostname="h")
    assert "public-keys/" not in text("/latest/meta-data/", keyless).splitlines()


def test_ec2_values() -> None:
    assert text("/latest/meta-data/instance-id") == "dev-a"
    assert text("/latest/meta-data/hostname") == "alpha"
    assert text("/latest/meta-data/local-hostname") == "alpha"
    assert text("/latest/meta-data/ami-launch-index") == "0"
    assert text("/latest/meta-data/placement/") == "availability-zone"
    assert text("/latest/meta-data/placement/availability-zone") == "nova"
    assert text("/2009-04-04/meta-data/instance-id?x=1") == "dev-a"


def test_ec2_public_keys() -> None:
    assert text("/latest/meta-data/public-keys/") == "0=alice"
    assert text("/latest/meta-data/public-keys/0/") == "openssh-key"
    assert text("/latest/meta-data/public-keys/0/openssh-key") == KEY_A


def test_ec2_user_data() -> None:
    assert text("/latest/user-data") == "#cloud-config\nhostname: alpha\n"
    assert answer(instance_b(), "/latest/user-data").status == 404
