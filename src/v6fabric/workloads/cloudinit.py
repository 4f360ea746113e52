"""The workload's cloud-init-like step: what a cloud image does once at boot with metadata.

Inside the workload's namespace, from the network only:

1. fetch ``meta_data.json``, ``network_data.json`` and ``user_data`` (404: none) from the
   metadata service, per interface in order (eth0 first) at ``http://[fe80::a9fe:a9fe%IF]/``,
   falling back to ``http://169.254.169.254/`` where the interface has IPv4; retried for
   ~30 s, as the service and the guest's link-local address appear within seconds of plugging;
2. record what it fetched in the workload's own ``metadata/`` (as ``/var/lib/cloud`` would),
   with ``status.json``: when, from which URL, success or the last error, what was applied;
3. install ``public_keys`` into the workload's own ``root/.ssh/authorized_keys`` (never the
   host's);
4. apply ``network_data.json``'s static networks (:mod:`.network_config`).

The guest agent runs it in a background thread at its start (:func:`start`), so RA and DHCP
handling never wait for it. On demand, inside the namespace::

    ip netns exec NS python -m v6fabric.workloads.cloudinit --workload-dir RUN/workloads/NS

Running it again changes nothing that is already right.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from v6fabric.drivers.commands import CommandError
from v6fabric.drivers.sysctl import ProcSysctls, Sysctls
from v6fabric.workloads import network_config
from v6fabric.workloads.metadata_client import (
    FILES,
    METADATA_IPV4,
    OPENSTACK_PATH,
    Attempts,
    Endpoint,
    Fetched,
    FetchError,
    fetch,
)
from v6fabric.workloads.observe import read_interfaces
from v6fabric.workloads.paths import WorkloadPaths
from v6fabric.workloads.resolver import write_if_changed

log = logging.getLogger("v6fabric.workloads.cloudinit")

DEADLINE = 30.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def metadata_endpoints(ifnames: Sequence[str]) -> Callable[[], list[Endpoint]]:
    """Per interface in order: the IPv6 link-local service, then (if the interface has an IPv4
    address by now) the IPv4 one, which the routing table, not the zone, takes to a network."""

    def endpoints() -> list[Endpoint]:
        try:
            with_ipv4 = {name for name, nic in read_interfaces().items() if nic.ipv4}
        except (CommandError, ValueError):
            with_ipv4 = set()
        found: list[Endpoint] = []
        for name in ifnames:
            found.append(Endpoint.ipv6(name))
            if name in with_ipv4 and Endpoint(METADATA_IPV4) not in found:
                found.append(Endpoint(METADATA_IPV4))
        return found

    return endpoints


def authorized_keys(meta_data: Mapping[str, Any]) -> str:
    """``public_keys`` (name -> key, in the service's order), then any ``keys`` entry of type
    ssh not already among them: one key a line; empty if there is none."""
    keys = [str(k).strip() for k in (meta_data.get("public_keys") or {}).values()]
    for entry in meta_data.get("keys") or ():
        if isinstance(entry, Mapping) and entry.get("type", "ssh") == "ssh" and entry.get("data"):
            keys.append(str(entry["data"]).strip())
    keys = list(dict.fromkeys(k for k in keys if k))
    return "".join(f"{k}\n" for k in keys)


def install_keys(paths: WorkloadPaths, meta_data: Mapping[str, Any]) -> int:
    """The keys into the workload's own ``root/.ssh/authorized_keys`` (0700 / 0600); a
    metadata without keys leaves an existing file alone, as cloud-init does."""
    text = authorized_keys(meta_data)
    if not text:
        return 0
    ssh_dir = paths.authorized_keys.parent
    for directory in (paths.home, ssh_dir):
        directory.mkdir(mode=0o700, exist_ok=True)
        directory.chmod(0o700)
    write_if_changed(paths.authorized_keys, text, mode=0o600)
    return text.count("\n")


def record(paths: WorkloadPaths, fetched: Fetched) -> dict[str, str]:
    """The fetched files into ``metadata/``; a file the service no longer has is removed."""
    paths.metadata_dir.mkdir(parents=True, exist_ok=True)
    what = {}
    for name in FILES:
        body = fetched.files.get(name)
        if body is None:
            paths.metadata_file(name).unlink(missing_ok=True)
            what[name] = "none (404)"
        else:
            write_if_changed(paths.metadata_file(name), body)
            what[name] = f"{len(body)} bytes"
    return what


def write_status(paths: WorkloadPaths, status: Mapping[str, Any]) -> None:
    paths.metadata_dir.mkdir(parents=True, exist_ok=True)
    write_if_changed(paths.cloudinit_status, json.dumps(status, indent=2) + "\n")


def run_step(
    paths: WorkloadPaths,
    ifnames: Sequence[str],
    *,
    timeout: float = DEADLINE,
    endpoints: Callable[[], Sequence[Endpoint]] | None = None,
    sysctls: Sysctls | None = None,
) -> dict[str, Any]:
    """Fetch, record, install keys, apply network_data; the status (also in ``status.json``).
    Never raises for what the network or the data did: that is what the status is for."""
    attempts = Attempts()
    status: dict[str, Any] = {"ok": False, "started_at": _now(), "interfaces": list(ifnames)}
    try:
        fetched = fetch(
            endpoints or metadata_endpoints(ifnames), timeout=timeout, attempts=attempts
        )
    except FetchError as exc:
        status.update(error=str(exc))
        log.warning("metadata: nothing fetched after %d attempts: %s", attempts.count, exc)
    else:
        base = fetched.endpoint.url + OPENSTACK_PATH
        status.update(source=fetched.endpoint.url, urls={n: base + n for n in FILES})
        try:
            status["files"] = record(paths, fetched)
            meta = fetched.meta_data
            status["instance"] = {k: meta.get(k) for k in ("uuid", "name", "hostname")}
            status["ssh_keys"] = install_keys(paths, meta)
            status["network"] = apply_network(fetched.network_data, sysctls or ProcSysctls())
            status["ok"] = True
        except (OSError, CommandError, ValueError) as exc:
            status["error"] = f"applying the metadata: {exc}"
            log.error("metadata from %s: %s", fetched.endpoint.url, status["error"])
    status.update(attempts=attempts.count, finished_at=_now())
    if status["ok"]:
        log.info("metadata from %s applied: %s", status["source"], status["network"])
    write_status(paths, status)
    return status


def apply_network(network_data: Mapping[str, Any], sysctls: Sysctls) -> dict[str, list[str]]:
    """Plan against the kernel's current state, apply; what was changed and what was skipped."""
    nics = list(read_interfaces().values())
    values = sysctls.read(None, network_config.sysctl_keys([n.ifname for n in nics]))
    changes = network_config.plan(network_data, nics, values)
    network_config.apply(changes, sysctls)
    return {"applied": changes.describe(), "skipped": list(changes.skipped)}


def start(paths: WorkloadPaths, ifnames: Sequence[str]) -> threading.Thread:
    """Run the step once, in a daemon thread (it ends with the guest agent if still fetching)."""

    def body() -> None:
        try:
            run_step(paths, ifnames)
        except Exception:  # a bug here must not take the guest agent down with it
            log.exception("cloud-init step failed")

    thread = threading.Thread(target=body, name="cloudinit", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m v6fabric.workloads.cloudinit", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--workload-dir", required=True, type=Path, help="RUN/workloads/NS")
    parser.add_argument("--interfaces", help="comma-separated, in order (default: all but lo)")
    parser.add_argument("--timeout", type=float, default=DEADLINE, help="seconds of retries")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    ifnames = [n for n in (args.interfaces or "").split(",") if n] or sorted(read_interfaces())
    status = run_step(WorkloadPaths(args.workload_dir), ifnames, timeout=args.timeout)
    print(json.dumps(status, indent=2))
    return 0 if status["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
