"""The UML harness itself, from the host: a guest runs a command and hands back its exit code,
output and files; the pytest plugin runs ``uml`` tests in one guest and reports each outcome
(pass, fail with the guest's traceback, skip, xfail) under the test's own node id."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from v6fabric.lab import uml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def guest_possible() -> None:
    reason = uml.unavailable_reason()
    if reason and os.environ.get("CI"):
        pytest.fail(f"CI must run the UML harness tests: {reason}")
    if reason:
        pytest.skip(reason)
    if os.geteuid() != 0:
        pytest.skip("the guest's init mounts and loads modules as root")


def test_without_the_kernel_nothing_starts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(uml, "KERNEL", tmp_path / "no-linux")
    assert "apt-get install user-mode-linux" in (uml.unavailable_reason() or "")
    with pytest.raises(uml.UmlError, match="not installed"):
        uml.run(["true"])


def test_the_guest_environment_drops_host_only_variables() -> None:
    env = uml.guest_environment({"PATH": "/venv/bin", "TMPDIR": "/host/tmp", "KEEP": "x y"})
    assert env["KEEP"] == "x y" and "TMPDIR" not in env
    assert env["PATH"].startswith(f"{uml.MODPROBE_DIR}:/venv/bin:")
    assert env[uml.IN_GUEST_ENV] == "1"


def test_a_guest_returns_exit_code_output_and_files(guest_possible: None, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    script = (
        "echo out; echo err >&2; uname -r > shared/release; "
        "touch /etc/v6fabric-uml-probe 2>/dev/null && echo root-writable; "
        "echo $V6FABRIC_IN_UML; exit 7"
    )
    result = uml.run(["sh", "-c", script], writable=[shared], cwd=tmp_path, timeout=300)
    assert result.returncode == 7, result
    assert result.stdout.split() == ["out", "1"], result  # and the root was read-only
    assert result.stderr.strip() == "err"
    assert (shared / "release").read_text().strip() == uml.kernel_release()
    assert not list(Path("/dev/shm").glob("v6fabric-uml-ram.*"))  # the RAM file is gone


def test_a_guest_that_runs_too_long_is_killed(guest_possible: None) -> None:
    with pytest.raises(uml.UmlError, match="did not finish within"):
        uml.run(["sleep", "600"], timeout=8)


INNER = """
import os
import pytest

uml = pytest.mark.uml


@uml
def test_passes():
    assert os.environ["V6FABRIC_IN_UML"] == "1"


@uml
def test_fails():
    print("said in the guest")
    assert 1 == 2, "an expected failure"


@uml
def test_skips():
    pytest.skip("not today")


@uml
@pytest.mark.xfail(reason="known bug")
def test_xfails():
    assert False


@uml
@pytest.mark.parametrize("n", [1, 2])
def test_parametrized(n):
    assert n in (1, 2)


def test_on_the_host():
    assert "V6FABRIC_IN_UML" not in os.environ
"""


def _inner_pytest(directory: Path, *options: str) -> subprocess.CompletedProcess[str]:
    (directory / "test_inner.py").write_text(textwrap.dedent(INNER))
    (directory / "pytest.ini").write_text("[pytest]\nmarkers =\n    uml: in UML\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    argv = [sys.executable, "-m", "pytest", "-p", "tests.uml_plugin", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*argv, "-rA", *options, str(directory)],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_plugin_reports_each_guest_outcome_on_the_host(
    guest_possible: None, tmp_path: Path
) -> None:
    proc = _inner_pytest(tmp_path)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "1 failed, 4 passed, 1 skipped, 1 xfailed" in out, out
    assert "PASSED test_inner.py::test_on_the_host" in out
    assert "PASSED test_inner.py::test_passes" in out
    assert "PASSED test_inner.py::test_parametrized[2]" in out
    assert "FAILED test_inner.py::test_fails" in out
    assert "[in the UML guest, call]" in out and "an expected failure" in out, out
    assert "said in the guest" in out, out  # the guest's captured output comes along
    assert "in the UML guest: not today" in out, out
    assert "in the UML guest: known bug" in out, out


def test_no_uml_skips_the_uml_tests_and_runs_the_others(tmp_path: Path) -> None:
    proc = _inner_pytest(tmp_path, "--no-uml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 6 skipped" in proc.stdout, proc.stdout
    assert "runs in User-Mode-Linux only: --no-uml" in proc.stdout
