"""The agent's view of namespace workloads: it plugs and unplugs them as a hypervisor starts and
stops VMs, through the ``workloads`` package (``plug``/``unplug``/``plugged``), and otherwise
treats their taps like Nova's: once a tap shows up on the host it is enslaved and set up.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from v6fabric.drivers.commands import CommandError
from v6fabric.drivers.fake import FakeKernel
from v6fabric.drivers.netlink import AddVeth, DeleteLink, SetLink
from v6fabric.hoststate.model import WorkloadSpec


class Workloads(Protocol):
    def plug(
        self,
        spec: WorkloadSpec,
        *,
        host_netns: str | None,
        run_dir: Path,
        bridges: Mapping[str, str] | None = None,
    ) -> None: ...

    def unplug(self, namespace: str, *, run_dir: Path) -> None: ...

    def plugged(self) -> set[str]: ...


class NamespaceWorkloads:
    """``Workloads`` through ``v6fabric.workloads`` (imported on first use: only hosts that run
    namespace workloads need it)."""

    def plug(
        self,
        spec: WorkloadSpec,
        *,
        host_netns: str | None,
        run_dir: Path,
        bridges: Mapping[str, str] | None = None,
    ) -> None:
        from v6fabric import workloads

        workloads.plug(spec, host_netns=host_netns, run_dir=run_dir, bridges=bridges)

    def unplug(self, namespace: str, *, run_dir: Path) -> None:
        from v6fabric import workloads

        workloads.unplug(namespace, run_dir=run_dir)

    def plugged(self) -> set[str]:
        from v6fabric import workloads

        return set(workloads.plugged())


class FakeWorkloads:
    """``Workloads`` on a ``FakeKernel``: a namespace with one veth per interface, the tap end
    in the host namespace (enslaved when ``bridges`` says so, as libvirt does)."""

    def __init__(self, kernel: FakeKernel) -> None:
        self.kernel = kernel

    def plug(
        self,
        spec: WorkloadSpec,
        *,
        host_netns: str | None,
        run_dir: Path,
        bridges: Mapping[str, str] | None = None,
    ) -> None:
        """Idempotent, as the real one: a NIC whose veth is not the spec's is made again, its
        tap enslaved and up when ``bridges`` names a bridge that exists."""
        self.kernel.add_namespaces([spec.namespace])
        inside = self.kernel.links[spec.namespace]
        host = self.kernel.links[host_netns]
        wanted = {nic.ifname for nic in spec.interfaces}
        for name in [n for n, link in inside.items() if link.kind == "veth" and n not in wanted]:
            self.kernel.apply(spec.namespace, [DeleteLink(spec.namespace, name)])
        for nic in spec.interfaces:
            link = inside.get(nic.ifname)
            if link and link.peer == (host_netns, nic.tap) and link.mac == nic.mac:
                continue
            ops = [DeleteLink(spec.namespace, nic.ifname)] if link else []
            self.kernel.apply(spec.namespace, ops)
            if nic.tap in host:
                self.kernel.apply(host_netns, [DeleteLink(host_netns, nic.tap)])
            op = AddVeth(host_netns, nic.tap, nic.mtu, nic.ifname, spec.namespace, nic.mac)
            (error,) = self.kernel.apply(host_netns, [op])
            if error:
                raise CommandError(["plug", spec.namespace], 1, error)
            bridge = (bridges or {}).get(nic.tap)
            if bridge:
                (error,) = self.kernel.apply(
                    host_netns, [SetLink(host_netns, nic.tap, master=bridge, up=True)]
                )
                if error:
                    raise CommandError(["plug", spec.namespace], 1, error)

    def unplug(self, namespace: str, *, run_dir: Path) -> None:
        self.kernel.delete_namespace(namespace)

    def plugged(self) -> set[str]:
        return {name for name in self.kernel.namespaces() if name.startswith("v6w-")}
