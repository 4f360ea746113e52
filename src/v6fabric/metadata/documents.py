"""What the metadata service answers for one instance (pure): OpenStack and EC2 paths.

Shapes follow Nova's metadata API, which cloud-init and other guest agents read: the
OpenStack tree (``/openstack/<version>/meta_data.json`` ...) and the EC2 tree
(``/<version>/meta-data/...``). Versions are accepted by name and all serve the same
documents: what differs between Nova's versions are keys we do not have.
"""

from __future__ import annotations

import functools
import json
from typing import NamedTuple

from v6fabric.hoststate.metadata import MetadataInstance

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
OPENSTACK_VERSIONS = (
    "2012-08-10",
    "2013-04-04",
    "2013-10-17",
    "2015-10-15",
    "2016-06-30",
    "2016-10-06",
    "2017-02-22",
    "2018-08-27",
    "2020-10-14",
)
EC2_VERSIONS = (
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
)


class Answer(NamedTuple):
    status: int
    content_type: str
    body: bytes


NOT_FOUND = Answer(404, TEXT, b"404 Not Found\n\nThe resource could not be found.\n")


def _text(lines: list[str] | str) -> Answer:
    text = lines if isinstance(lines, str) else "\n".join(lines)
    return Answer(200, TEXT, text.encode())


def _json(value: object) -> Answer:
    return Answer(200, JSON, json.dumps(value).encode())


def meta_data(instance: MetadataInstance) -> dict[str, object]:
    """Nova's ``meta_data.json``: the keys cloud-init reads (uuid, names, keys, meta)."""
    return {
        "uuid": instance.instance_id,
        "name": instance.name,
        "hostname": instance.hostname,
        "project_id": instance.project_id,
        "availability_zone": instance.availability_zone,
        "launch_index": 0,
        "public_keys": dict(instance.public_keys),
        "keys": [{"name": n, "type": "ssh", "data": key} for n, key in instance.public_keys],
        "meta": dict(instance.properties),
        "devices": [],
    }


class InstanceDocuments:
    """One instance's documents, as the server's tables hold them (built per config): the JSON
    ones are encoded on their first request and kept, not again on every request (encoding
    meta_data.json was ~8 us of a request's ~60)."""

    def __init__(self, instance: MetadataInstance) -> None:
        self.instance = instance

    @functools.cached_property
    def meta_data_json(self) -> Answer:
        return _json(meta_data(self.instance))

    @functools.cached_property
    def network_data_json(self) -> Answer:
        return Answer(200, JSON, self.instance.network_data.encode())

    def answer(self, path: str) -> Answer:
        """The answer to ``GET path`` (query string ignored; ``a/b`` and ``a/b/`` are the
        same)."""
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        if not parts:
            return _text([*EC2_VERSIONS, "latest"])
        if parts[0] == "openstack":
            return _openstack(self, parts[1:])
        return _ec2(self.instance, parts[0], parts[1:])


def _openstack(documents: InstanceDocuments, rest: list[str]) -> Answer:
    instance = documents.instance
    if not rest:
        return _text([*OPENSTACK_VERSIONS, "latest"])
    version, *leaf = rest
    if version != "latest" and version not in OPENSTACK_VERSIONS:
        return NOT_FOUND
    if not leaf:
        files = ["meta_data.json", "network_data.json"]
        files += ["user_data"] if instance.user_data is not None else []
        return _text([*files, "vendor_data.json", "vendor_data2.json"])
    if len(leaf) != 1:
        return NOT_FOUND
    match leaf[0]:
        case "meta_data.json":
            return documents.meta_data_json
        case "network_data.json":
            return documents.network_data_json
        case "user_data" if instance.user_data is not None:
            return _text(instance.user_data)
        case "vendor_data.json" | "vendor_data2.json":
            return _json({})
    return NOT_FOUND


def _ec2_meta_data(instance: MetadataInstance, rest: list[str]) -> Answer:
    keys = instance.public_keys
    if not rest:
        listing = ["ami-launch-index", "hostname", "instance-id", "local-hostname", "placement/"]
        return _text(listing + (["public-keys/"] if keys else []))
    values = {
        ("instance-id",): instance.instance_id,
        ("hostname",): instance.hostname,
        ("local-hostname",): instance.hostname,
        ("ami-launch-index",): "0",
        ("placement",): "availability-zone",
        ("placement", "availability-zone"): instance.availability_zone,
    }
    found = values.get(tuple(rest))
    if found is not None:
        return _text(found)
    if rest[0] != "public-keys" or not keys:
        return NOT_FOUND
    if len(rest) == 1:
        return _text([f"{i}={name}" for i, (name, _key) in enumerate(keys)])
    index = rest[1]
    if not index.isdigit() or int(index) >= len(keys) or len(rest) > 3:
        return NOT_FOUND
    if len(rest) == 2:
        return _text("openssh-key")
    return _text(keys[int(index)][1]) if rest[2] == "openssh-key" else NOT_FOUND


def _ec2(instance: MetadataInstance, version: str, rest: list[str]) -> Answer:
    if version != "latest" and version not in EC2_VERSIONS:
        return NOT_FOUND
    if not rest:
        return _text(["meta-data/"] + (["user-data"] if instance.user_data is not None else []))
    if rest == ["user-data"]:
        return _text(instance.user_data) if instance.user_data is not None else NOT_FOUND
    if rest[0] == "meta-data":
        return _ec2_meta_data(instance, rest[1:])
    return NOT_FOUND


def answer(instance: MetadataInstance, path: str) -> Answer:
    """The answer to ``GET path`` for ``instance``, nothing kept (see ``InstanceDocuments``)."""
    return InstanceDocuments(instance).answer(path)
