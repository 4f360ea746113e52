"""Removing a lab by its tag, whatever state it was left in: processes by pid (from its record)
and by run directory (any process whose command line names the lab's directory: the server,
agents, dnsmasq, radvd, metadata proxies, guests), then namespaces: the underlay's and the
hosts' by name, and those the agents created, by their claims (``agent/layout.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

from v6fabric.drivers.commands import pid_alive, run
from v6fabric.lab.plan import LAB_ROOT, UNDERLAY_NS_PREFIX, is_host_netns, underlay_netns

NETNS_DIR = Path("/run/netns")
TERM_GRACE = 5.0  # seconds an agent or server gets to stop on SIGTERM


def record_path(tag: str) -> Path:
    return LAB_ROOT / f"{tag}.json"


def read_record(tag: str) -> dict[str, object]:
    with contextlib.suppress(OSError, ValueError):
        found = json.loads(record_path(tag).read_text())
        if isinstance(found, dict):
            return found
    return {}


def write_record(tag: str, record: dict[str, object]) -> None:
    LAB_ROOT.mkdir(parents=True, exist_ok=True)
    path = record_path(tag)
    path.with_suffix(".tmp").write_text(json.dumps(record, indent=1))
    path.with_suffix(".tmp").replace(path)


def recorded_tags() -> list[str]:
    """Labs with a record, and tags of underlay namespaces left without one."""
    tags = {p.stem for p in LAB_ROOT.glob("*.json")} if LAB_ROOT.exists() else set()
    tags |= {
        n[len(UNDERLAY_NS_PREFIX) :] for n in _namespaces() if n.startswith(UNDERLAY_NS_PREFIX)
    }
    return sorted(tags)


def _namespaces() -> set[str]:
    with contextlib.suppress(FileNotFoundError):
        return set(os.listdir(NETNS_DIR))
    return set()


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    return ""


def _processes_naming(text: str) -> list[int]:
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != me and text in _cmdline(int(entry.name)):
            found.append(int(entry.name))
    return found


def stop_processes(pids: list[int], grace: float = TERM_GRACE) -> list[int]:
    """SIGTERM, then SIGKILL whoever is still there after ``grace``; those that survived."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid in pids:
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 3
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return [p for p in pids if pid_alive(p)]


def _claimed(lab_dir: Path) -> set[str]:
    """Namespaces the lab's agents claimed (``<run>/claims/{netns,workloads}/<name>``)."""
    names: set[str] = set()
    for kind in ("netns", "workloads"):
        names |= {p.name for p in lab_dir.glob(f"hosts/*/run/claims/{kind}/*")}
    return names


def lab_namespaces(tag: str, lab_dir: Path | None) -> set[str]:
    """The lab's namespaces present now."""
    present = _namespaces()
    ours = {n for n in present if n == underlay_netns(tag) or is_host_netns(tag, n)}
    return ours | (_claimed(lab_dir) & present if lab_dir else set())


def remove(tag: str, lab_dir: Path | None = None) -> list[str]:
    """Remove everything of lab ``tag``; what could not be removed (empty: all gone)."""
    record = read_record(tag)
    lab_dir = lab_dir or Path(str(record.get("lab_dir") or LAB_ROOT / tag))
    problems: list[str] = []
    # agents first, so that none recreates what is being removed; then the server
    recorded = [record.get("agent_pids") or [], [record.get("server_pid")]]
    for group in recorded:
        pids = [p for p in group if isinstance(p, int) and tag in _cmdline(p)]  # not reused
        problems += [f"pid {p} survived SIGKILL" for p in stop_processes(pids)]
    named = _processes_naming(f"{lab_dir}/") if lab_dir.exists() else []
    problems += [f"pid {p} survived SIGKILL" for p in stop_processes(named, grace=1.0)]
    namespaces = lab_namespaces(tag, lab_dir)
    for name in sorted(namespaces):
        pids = [int(p) for p in run(["ip", "netns", "pids", name], check=False).stdout.split()]
        problems += [f"pid {p} in {name} survived SIGKILL" for p in stop_processes(pids, 1.0)]
        deleted = run(["ip", "netns", "delete", name], check=False)
        if deleted.returncode != 0:
            problems.append(f"ip netns delete {name}: {deleted.stderr.strip()}")
    if lab_dir.exists():
        shutil.rmtree(lab_dir, onerror=lambda _f, p, exc: problems.append(f"{p}: {exc[1]}"))
    with contextlib.suppress(FileNotFoundError):
        record_path(tag).unlink()
    problems += [f"namespace {n} is still there" for n in sorted(namespaces & _namespaces())]
    return problems
