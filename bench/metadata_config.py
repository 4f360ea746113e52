#!/usr/bin/env python3
"""What one bind costs the metadata proxy's config: the agent's plan, the bytes written, the
proxy's reload. In-process, medians over binds; the code before runs in the same run.

    PYTHONPATH=src .venv/bin/python bench/metadata_config.py --baseline-src /work/wt-md-base/src

The host serves N workloads (one port with 3 addresses, one instance with ~3 kB of
user_data, a key and a network_data.json each). A bind adds one workload: the new spec keeps
every other bucket as the same object (``buckets.edited``), as the agent's state delta gives
it. Per bind, timed:

* ``plan``: the plan's metadata part, ``metadata_proxy.desired`` plus the digest of the head
  the daemon loop compares, plus (bucketed code) ``bucket_actions`` against the head on disk;
* ``write``: applying the files with ``LocalFiles`` (compare, then temp file + rename) in a
  temp directory, and the bytes written (and read back to compare);
* ``reload``: the proxy's SIGHUP work, ``load_config`` (given the loaded config where the code
  takes it) and the server's new tables (``MetadataProxy._tables_for``).

Each tree runs in its own subprocess (``--src``), this file's code against that tree.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parent.parent / "src"


def spec_of(count: int) -> Any:
    from v6fabric.hoststate.metadata import MetadataListener, MetadataSpec

    listeners = (MetadataListener("v6d-net", "ns-net", "net", ipv4=True),)
    items = [item(n) for n in range(count)]
    return MetadataSpec.of(listeners, [p for p, _i in items], [i for _p, i in items])


def item(n: int) -> tuple[Any, Any]:
    from v6fabric.hoststate.metadata import MetadataInstance, MetadataPort

    mac = f"fa:16:3e:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}"
    port = MetadataPort(
        f"port-{n:06d}", "net", mac, (f"2001:db8::{n:x}", f"10.0.{n >> 8}.{n & 255}", f"fe80::{n:x}:1"),
        f"dev-{n:06d}", "project",
    )  # fmt: skip
    network_data = json.dumps({"links": [{"id": f"tap{n}", "ethernet_mac_address": mac}] * 3})
    instance = MetadataInstance(
        f"dev-{n:06d}", "project", f"vm{n}", f"vm{n}", (("k", "ssh-ed25519 " + "A" * 68),),
        "#cloud-config\n" + "x" * 3000, (("role", "bench"),), network_data,
    )  # fmt: skip
    return port, instance


def bind(spec: Any, n: int) -> Any:
    """``spec`` with workload ``n`` added, every other bucket the same object."""
    import dataclasses

    from v6fabric.hoststate.buckets import bucket_key, edited
    from v6fabric.hoststate.metadata import MetadataInstanceBucket, MetadataPortBucket

    port, instance = item(n)
    out = spec
    for attr, part, cls, new in (
        ("port_buckets", "ports", MetadataPortBucket, port),
        ("instance_buckets", "instances", MetadataInstanceBucket, instance),
    ):
        key = bucket_key(cls.NAME(new), cls.COUNT)
        old = next((b for b in getattr(out, attr) if b.key == key), cls(key))
        bucket = cls(key, tuple(sorted((*getattr(old, part), new), key=cls.NAME)))
        out = dataclasses.replace(out, **{attr: edited(getattr(out, attr), {key: bucket})})
    return out


def measure(count: int, binds: int) -> dict[str, float]:
    from v6fabric.agent import actions as plan_actions
    from v6fabric.agent import metadata_proxy
    from v6fabric.agent.layout import Layout
    from v6fabric.agent.observe import DaemonObserved
    from v6fabric.drivers.files import LocalFiles, digest
    from v6fabric.metadata.config import load_config
    from v6fabric.metadata.neighbours import NetlinkNeighbours
    from v6fabric.metadata.server import MetadataProxy

    bucketed = hasattr(metadata_proxy, "bucket_actions")
    run_dir = Path(tempfile.mkdtemp(prefix="mdbench-"))
    layout, files = Layout(run_dir), LocalFiles()
    loop = asyncio.new_event_loop()
    proxy = MetadataProxy(NetlinkNeighbours(), listener_factory=_no_listener)
    spec = spec_of(count)
    figures: dict[str, list[float]] = {"plan": [], "write": [], "written": [], "reload": []}
    seen = None
    config = None
    for step in range(binds + 1):
        if step:
            spec = bind(spec, count + step)
        t0 = time.perf_counter()
        daemon = metadata_proxy.desired(spec, layout, None)
        head_path, head = daemon.files[0]
        digest(head)  # the daemon loop's _TEXT_DIGESTS, on a new text
        actions: list[Any] = [plan_actions.WriteFile(head_path, head)]
        if bucketed:
            actions = [*metadata_proxy.bucket_actions(spec, daemon, seen), *actions]
        t1 = time.perf_counter()
        written = 0
        for action in actions:
            if isinstance(action, plan_actions.WriteFile):
                if files.write(action.path, action.text):
                    written += len(action.text)
            else:  # a RemoveFile
                files.remove(action.path)
        t2 = time.perf_counter()
        seen = DaemonObserved(pid=1, digests={head_path.name: digest(head)})
        new = load_config(head_path, config) if bucketed else load_config(head_path)
        tables = loop.run_until_complete(proxy._tables_for(new, proxy._tables))
        t3 = time.perf_counter()
        proxy._tables, config = tables, new
        if step:  # the first is the start, not a bind
            figures["plan"].append((t1 - t0) * 1e3)
            figures["write"].append((t2 - t1) * 1e3)
            figures["written"].append(written / 1e3)
            figures["reload"].append((t3 - t2) * 1e3)
    assert proxy.tables.config.spec == spec
    loop.close()
    return {name: statistics.median(values) for name, values in figures.items()}


def _no_listener(listener: Any) -> Any:
    raise OSError("benchmark: no listeners")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", default="150,2000")
    parser.add_argument("--binds", type=int, default=15)
    parser.add_argument("--baseline-src", type=Path, help="the code before (its src dir)")
    parser.add_argument("--src", type=Path, help=argparse.SUPPRESS)  # a child's tree
    args = parser.parse_args()
    counts = [int(x) for x in args.workloads.split(",")]
    if args.src is not None:
        sys.path.insert(0, str(args.src))
        print(json.dumps({c: measure(c, args.binds) for c in counts}))
        return
    trees = {"after": SRC}
    if args.baseline_src is not None:
        trees = {"before": args.baseline_src, **trees}
    results = {}
    for name, src in trees.items():
        argv = [sys.executable, __file__, "--src", str(src), "--workloads", args.workloads]
        argv += ["--binds", str(args.binds)]
        env = {**os.environ, "PYTHONPATH": str(src)}
        out = subprocess.run(argv, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
        results[name] = json.loads(out)
    print(f"medians over {args.binds} binds; ms unless noted")
    print(f"| workloads | figure | {' | '.join(trees)} |")
    print(f"|---|---|{'---|' * len(trees)}")
    labels = {
        "plan": "plan: metadata part (ms)",
        "write": "apply: files.write (ms)",
        "written": "bytes written (kB)",
        "reload": "proxy reload: load + tables (ms)",
    }
    for count in counts:
        for key, label in labels.items():
            cells = [f"{results[t][str(count)][key]:.3g}" for t in trees]
            print(f"| {count} | {label} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
