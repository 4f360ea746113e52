"""Applying a plan: one manager per subsystem, each turning its actions into driver calls.

Link operations of one namespace that follow each other in the plan go to the kernel as one
``ip -batch``, VXLAN forwarding-table entries as one ``bridge -batch``; namespaces, sysctls, daemons and workloads have their own
managers. A failed action is reported, never raised: the loop keeps it pending and retries it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from v6fabric.agent import firewall_loaded
from v6fabric.agent.actions import (
    Action,
    AddFdb,
    AddNamespace,
    DeleteFdb,
    DeleteNamespace,
    LoadFirewall,
    PlugWorkload,
    RefreshVrrp,
    ReloadDaemon,
    RemoveDir,
    RemoveFile,
    RemoveFirewall,
    SetSysctls,
    StartDaemon,
    StopDaemon,
    UnplugWorkload,
    WriteFile,
)
from v6fabric.agent.host import Drivers
from v6fabric.agent.layout import Layout
from v6fabric.agent.observe_firewall import remember_loaded
from v6fabric.drivers.commands import CommandError
from v6fabric.drivers.neighbors import DeleteNeighbor, ReplaceNeighbor
from v6fabric.drivers.netlink import (
    AddAddress,
    AddBridge,
    AddGretap,
    AddVeth,
    AddVlan,
    AddVxlan,
    DeleteAddress,
    DeleteLink,
    DeleteRoute,
    ReplaceRoute,
    SetBridgeOptions,
    SetBridgePort,
    SetLink,
    SetVxlanLearning,
)
from v6fabric.hoststate.firewall import changed_buckets

log = logging.getLogger(__name__)

LINK_OPS = (
    AddBridge,
    SetBridgeOptions,
    AddVeth,
    AddVxlan,
    SetVxlanLearning,
    AddGretap,
    AddVlan,
    SetBridgePort,
    SetLink,
    DeleteLink,
    AddAddress,
    DeleteAddress,
    ReplaceRoute,
    DeleteRoute,
    ReplaceNeighbor,
    DeleteNeighbor,
)
FDB_OPS = (AddFdb, DeleteFdb)


@dataclass
class Outcome:
    applied: list[Action] = field(default_factory=list)
    failed: list[tuple[Action, str]] = field(default_factory=list)

    @property
    def failed_actions(self) -> list[Action]:
        return [action for action, _error in self.failed]

    def record(self, action: Action, error: str | None) -> None:
        if error is None:
            self.applied.append(action)
        else:
            log.warning("%s failed: %s", action, error)
            self.failed.append((action, error))


class NamespaceManager:
    """Router and DHCP namespaces: created in one batch (claimed first, see ``layout``),
    deleted after whatever still runs in them has been stopped (else a daemon would live on in
    a namespace no name reaches)."""

    def __init__(self, drivers: Drivers, layout: Layout) -> None:
        self.drivers, self.layout = drivers, layout

    def add(self, actions: Sequence[AddNamespace], outcome: Outcome) -> None:
        for action in actions:
            self.drivers.files.write(self.layout.namespace_claims / action.name, "")
        results = self.drivers.netlink.add_namespaces([a.name for a in actions])
        for action, error in zip(actions, results, strict=True):
            outcome.record(action, error)

    def delete(self, action: DeleteNamespace) -> None:
        for pid in self.drivers.netlink.namespace_pids(action.name):
            self.drivers.processes.kill(pid)
        self.drivers.netlink.delete_namespace(action.name)
        self.drivers.files.remove(self.layout.namespace_claims / action.name)


class DaemonManager:
    """radvd, dnsmasq and keepalived: started once their interfaces' link-locals are usable
    (an RS answered from a tentative address is lost: dataplane.md §1), reloaded by SIGHUP,
    restarted only when dnsmasq's main config changes; the lease file survives both."""

    def __init__(self, drivers: Drivers, *, link_local_timeout: float = 3.0) -> None:
        self.drivers = drivers
        self.link_local_timeout = link_local_timeout

    def _link_locals_ready(self, action: StartDaemon) -> str | None:
        if not action.interfaces:
            return None
        deadline = time.monotonic() + self.link_local_timeout
        while True:
            links = self.drivers.netlink.read(action.netns).links
            waiting = [
                i for i in action.interfaces if not (i in links and links[i].link_local_ready)
            ]
            if not waiting:
                return None
            if time.monotonic() >= deadline:
                return f"no usable link-local on {', '.join(waiting)} in {action.netns}"
            time.sleep(0.02)

    def start(self, action: StartDaemon) -> str | None:
        processes = self.drivers.processes
        if action.restart:
            processes.stop(action.pid_file)
        elif processes.pid(action.pid_file) is not None:
            return None  # already running (started by an earlier round)
        waiting = self._link_locals_ready(action)
        if waiting:
            return waiting
        for path in action.clear:
            self.drivers.files.remove(path)
        pid = processes.start(
            action.argv, netns=action.netns, pid_file=action.pid_file, log_file=action.log_file
        )
        log.info("%s started in %s (pid %d)", action.kind, action.netns, pid)
        self.drivers.files.write(action.marker, action.loaded + "\n")
        return None

    def reload(self, action: ReloadDaemon) -> None:
        if not action.if_running:
            self.drivers.processes.signal(action.pid_file, signal.SIGHUP)
        elif self.drivers.processes.pid(action.pid_file) is not None:
            with contextlib.suppress(CommandError, ProcessLookupError):  # killed meanwhile
                self.drivers.processes.signal(action.pid_file, signal.SIGHUP)
        self.drivers.files.write(action.marker, action.loaded + "\n")

    def stop(self, action: StopDaemon) -> None:
        self.drivers.processes.stop(action.pid_file)
        for path in action.files:
            self.drivers.files.remove(path)


class WorkloadManager:
    """Namespace workloads, plugged and unplugged through the workloads package (which keeps
    its files in ``<run_dir>/workloads/<namespace>/``); a claim file records what each was
    plugged with (and, in a lab, that it is ours)."""

    def __init__(self, drivers: Drivers, layout: Layout) -> None:
        self.drivers, self.layout = drivers, layout

    def plug(self, action: PlugWorkload) -> None:
        claim = self.layout.workload_claims / action.spec.namespace
        self.drivers.files.write(claim, "pending\n")
        self.drivers.workloads.plug(
            action.spec,
            host_netns=self.layout.host_netns,
            run_dir=self.layout.run_dir,
            bridges=dict(action.bridges),
        )
        self.drivers.files.write(claim, action.digest + "\n")

    def unplug(self, action: UnplugWorkload) -> None:
        self.drivers.workloads.unplug(action.namespace, run_dir=self.layout.run_dir)
        self.drivers.files.remove(self.layout.workload_claims / action.namespace)


class FirewallManager:
    """nftables in the host namespace. br_netfilter must hand bridged frames to the inet
    hooks, or security groups would silently let everything through: set before each load."""

    BR_NETFILTER = {
        "net.bridge.bridge-nf-call-ip6tables": "1",
        "net.bridge.bridge-nf-call-iptables": "1",
    }

    def __init__(self, drivers: Drivers, layout: Layout) -> None:
        self.drivers, self.layout = drivers, layout

    def load(self, action: LoadFirewall) -> None:
        host, marker = self.layout.host_netns, self.layout.firewall_loaded
        self.drivers.sysctls.write(host, self.BR_NETFILTER)
        self.drivers.files.remove(marker)  # unknown until nft succeeds and the files are written
        self.drivers.nftables.load(host, action.script)
        self._store(action)
        self.drivers.files.write(marker, action.loaded + "\n")
        remember_loaded(marker, action.loaded, action.spec)

    def _store(self, action: LoadFirewall) -> None:
        """The loaded spec's files: ``spec.json`` (without members) and a file per member
        bucket, only those that differ from ``action.base`` (what the files hold)."""
        files, spec, base = self.drivers.files, action.spec, action.base
        files.write(self.layout.firewall_spec, firewall_loaded.frame_json(spec))
        if base is None:  # unknown: all of them again
            files.remove_tree(self.layout.firewall_members)
        before = {group.group_id: group for group in base.remote_groups} if base else {}
        for group in spec.remote_groups:
            for key, _was, bucket in changed_buckets(before.pop(group.group_id, None), group):
                path = self.layout.firewall_bucket(group.group_id, key)
                if bucket is None:
                    files.remove(path)
                else:
                    files.write(path, firewall_loaded.bucket_json(group, bucket))
        for group_id in before:  # groups gone
            files.remove_tree(self.layout.firewall_members / group_id)

    def remove(self, action: RemoveFirewall) -> None:
        self.drivers.nftables.load(self.layout.host_netns, action.script)
        self.drivers.files.remove(self.layout.firewall_loaded)
        self.drivers.files.remove(self.layout.firewall_spec)
        self.drivers.files.remove_tree(self.layout.firewall_members)


class Managers:
    """Dispatches a plan's actions to the managers, in the plan's order."""

    def __init__(self, drivers: Drivers, layout: Layout) -> None:
        self.drivers, self.layout = drivers, layout
        self.namespaces = NamespaceManager(drivers, layout)
        self.daemons = DaemonManager(drivers)
        self.workloads = WorkloadManager(drivers, layout)
        self.firewall = FirewallManager(drivers, layout)

    def apply(self, actions: Sequence[Action]) -> Outcome:
        outcome = Outcome()
        i = 0
        while i < len(actions):
            action = actions[i]
            ops = LINK_OPS if isinstance(action, LINK_OPS) else FDB_OPS
            if isinstance(action, ops):
                j = i
                while (
                    j < len(actions)
                    and isinstance(actions[j], ops)
                    and actions[j].netns == action.netns  # type: ignore[union-attr]
                ):
                    j += 1
                self._batch(actions[i:j], outcome)  # type: ignore[arg-type]
                i = j
            elif isinstance(action, AddNamespace):
                j = i
                while j < len(actions) and isinstance(actions[j], AddNamespace):
                    j += 1
                batch: list[AddNamespace] = list(actions[i:j])  # type: ignore[arg-type]
                try:
                    self.namespaces.add(batch, outcome)
                except Exception as exc:  # a driver failure must not stop the rest of the plan
                    for item in batch:
                        outcome.record(item, f"{type(exc).__name__}: {exc}")
                i = j
            elif isinstance(action, PlugWorkload) and any(
                isinstance(a, LoadFirewall) for a in outcome.failed_actions
            ):
                # Fail closed: no workload is plugged in while its guards are not loaded.
                outcome.record(action, "waiting for the firewall to load")
                i += 1
            else:
                try:
                    outcome.record(action, self._one(action))
                except Exception as exc:
                    outcome.record(action, f"{type(exc).__name__}: {exc}")
                i += 1
        return outcome

    def _batch(self, ops: Sequence, outcome: Outcome) -> None:
        """Link operations (``ip -batch``) or fdb ones (``bridge -batch``) of one namespace."""
        driver = self.drivers.fdb if isinstance(ops[0], FDB_OPS) else self.drivers.netlink
        try:
            results = driver.apply(ops[0].netns, ops)
        except Exception as exc:
            results = [f"{type(exc).__name__}: {exc}"] * len(ops)
        for op, error in zip(ops, results, strict=True):
            outcome.record(op, error)

    def _one(self, action: Action) -> str | None:
        """Apply one action; its error text, or None when done."""
        error: str | None = None
        match action:
            case DeleteNamespace():
                self.namespaces.delete(action)
            case SetSysctls():
                self.drivers.sysctls.write(action.netns, dict(action.values))
            case WriteFile():
                self.drivers.files.write(action.path, action.text)
            case RemoveFile():
                self.drivers.files.remove(action.path)
            case StartDaemon():
                error = self.daemons.start(action)
            case ReloadDaemon():
                self.daemons.reload(action)
            case RefreshVrrp():
                self.drivers.processes.run(("sh", str(action.hook), "REFRESH"), netns=action.netns)
            case StopDaemon():
                self.daemons.stop(action)
            case RemoveDir():
                if self.layout.netns_root not in action.path.parents:
                    raise ValueError(f"{action.path} is not under {self.layout.netns_root}")
                self.drivers.files.remove_tree(action.path)
            case PlugWorkload():
                self.workloads.plug(action)
            case UnplugWorkload():
                self.workloads.unplug(action)
            case LoadFirewall():
                self.firewall.load(action)
            case RemoveFirewall():
                self.firewall.remove(action)
            case _:
                raise TypeError(f"unknown action {action!r}")
        return error
