"""The daemon's config file: what the agent writes is what the daemon loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.metadata_cases import two_networks
from v6fabric.metadata.config import Backend, ConfigError, load_config, parse_config, write_config


def test_write_then_load_gives_the_same_spec(tmp_path: Path) -> None:
    path = tmp_path / "run" / "metadata.json"
    spec = two_networks()
    assert write_config(path, spec) is True
    assert write_config(path, spec) is False  # same text: nothing to reload
    loaded = load_config(path)
    assert loaded.spec == spec
    assert loaded.backend is None
    assert [p.name for p in path.parent.iterdir()] == ["metadata.json"]  # no temp file left


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
