"""The ``v6fabric metadata-proxy`` process without root (a config with no listeners): pid
file once serving, status file, SIGHUP reload (a broken config is refused and the old one
kept), SIGTERM, and a refused first config."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import wait_for
from tests.unit.metadata_cases import instance_b, two_networks
from v6fabric.drivers.files import digest
from v6fabric.metadata.config import write_config

SRC = Path(__file__).resolve().parents[2] / "src"


def spawn(tmp_path: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "v6fabric.cli.main", "metadata-proxy"]
    argv += ["--config", str(tmp_path / "proxy.json"), "--pid-file", str(tmp_path / "proxy.pid")]
    argv += ["--status-file", str(tmp_path / "status.json"), "--log-file", str(tmp_path / "log")]
    env = {**os.environ, "PYTHONPATH": f"{SRC}:{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(argv, env=env)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    write_config(tmp_path / "proxy.json", two_networks().replaced(listeners=()))
    proc = spawn(tmp_path)
    try:
        wait_for("the pid file", lambda: (tmp_path / "proxy.pid").exists())
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def status(tmp_path: Path) -> dict[str, object]:
    return json.loads((tmp_path / "status.json").read_text())


def test_pid_file_and_status_name_the_process_and_its_config(
    daemon: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    assert int((tmp_path / "proxy.pid").read_text()) == daemon.pid
    text = (tmp_path / "proxy.json").read_text()
    assert status(tmp_path) == {
        "pid": daemon.pid,
        "config": digest(text),
        "mode": "local",
        "listening": [],
        "pending": [],
    }


def test_sighup_reloads_and_a_broken_config_is_refused(
    daemon: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    config = tmp_path / "proxy.json"
    new = two_networks().replaced(listeners=(), instances=(instance_b(),))
    write_config(config, new)
    daemon.send_signal(signal.SIGHUP)
    wanted = digest(config.read_text())  # the head's digest names the whole config
    wait_for("the new config loaded", lambda: status(tmp_path)["config"] == wanted)
    config.write_text("{not json")
    daemon.send_signal(signal.SIGHUP)
    wait_for(
        "the refusal logged", lambda: "keeping the current config" in (tmp_path / "log").read_text()
    )
    assert daemon.poll() is None
    assert status(tmp_path)["config"] == wanted


def test_sigterm_exits_0_and_removes_pid_and_status_files(
    daemon: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    assert not (tmp_path / "proxy.pid").exists()
    assert not (tmp_path / "status.json").exists()


def test_an_unreadable_first_config_exits_1_without_a_pid_file(tmp_path: Path) -> None:
    (tmp_path / "proxy.json").write_text("[]")
    proc = spawn(tmp_path)
    assert proc.wait(30) == 1
    assert not (tmp_path / "proxy.pid").exists()
    assert "not a metadata proxy config" in (tmp_path / "log").read_text()
