"""The daemon's config file: what the agent writes is what the daemon loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.metadata_cases import two_networks
from v6fabric.metadata.config import (
    Backend,
    ConfigError,
    bucket_digest,
    is_bucket_name,
    load_config,
    parse_config,
    to_json,
    write_config,
)


def test_write_then_load_gives_the_same_spec(tmp_path: Path) -> None:
    path = tmp_path / "run" / "metadata.json"
    spec = two_networks()
    assert write_config(path, spec) is True
    assert write_config(path, spec) is False  # same text: nothing to reload
    loaded = load_config(path)
    assert loaded.spec == spec
    assert loaded.backend is None
    names = {p.name for p in path.parent.iterdir()}  # the head, its buckets, no temp file
    assert names == {"metadata.json", *loaded.buckets}
    assert all(is_bucket_name("metadata", name) for name in loaded.buckets)
    assert len(loaded.buckets) == len(spec.port_buckets) + len(spec.instance_buckets)


def test_backend_round_trip_and_secret_from_its_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    path = tmp_path / "metadata.json"
    write_config(path, two_networks(), Backend("http://127.0.0.1:8775", str(secret)))
    loaded = load_config(path)
    assert loaded.backend == Backend("http://127.0.0.1:8775", str(secret))
    assert loaded.backend.secret() == b"s3cret"
    assert "s3cret" not in path.read_text()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"backend": null}',
        '{"spec": {}, "backend": {"url": "ftp://x", "secret_file": "/s"}}',
    ],
)
def test_malformed_configs_are_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_config(text)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(tmp_path / "nope.json")


def test_the_single_file_form_is_still_read() -> None:
    spec = two_networks()
    assert parse_config(to_json(spec)).spec == spec


def test_a_reload_reads_only_the_buckets_whose_digest_changed(tmp_path: Path) -> None:
    path = tmp_path / "metadata.conf"
    spec = two_networks()
    write_config(path, spec)
    first = load_config(path)
    again = load_config(path, first)
    assert again.spec == spec and again.digest == first.digest
    assert all(
        a is b for a, b in zip(again.spec.port_buckets, first.spec.port_buckets, strict=True)
    )
    # a bucket file changed behind the head is not read again while its digest is the same
    name = next(name for name in again.buckets if ".ports-" in name)
    (tmp_path / name).write_text("garbage")
    assert load_config(path, first).spec == spec
    with pytest.raises(ConfigError, match="does not match the head"):
        load_config(path)


def test_a_changed_bucket_is_read_and_a_gone_one_removed(tmp_path: Path) -> None:
    path = tmp_path / "metadata.conf"
    spec = two_networks()
    write_config(path, spec)
    first = load_config(path)
    fewer = spec.replaced(ports=spec.ports[:1], instances=())
    assert write_config(path, fewer) is True
    loaded = load_config(path, first)
    assert loaded.spec == fewer
    kept = [n for n in loaded.buckets if n in first.buckets]
    assert all(loaded.buckets[n][1] is first.buckets[n][1] for n in kept)
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"metadata.conf", *loaded.buckets}  # the gone buckets' files removed


@pytest.mark.parametrize("key", ["../x", "1/../2", "-1", "7"])
def test_a_head_names_only_its_own_bucket_files(tmp_path: Path, key: str) -> None:
    (tmp_path / "metadata.ports-7.json").write_text('{"key": 8, "ports": []}\n')
    text = (
        '{"version": 2, "listeners": [], "backend": null, "ports": {"%s": "%s"}, "instances": {}}'
    )
    wanted = bucket_digest('{"key": 8, "ports": []}\n')
    with pytest.raises(ConfigError):
        load_config(_write(tmp_path / "metadata.conf", text % (key, wanted)))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
