"""The drivers one agent works through, built in one place: real ones for a host, fakes for
tests (``fake_drivers``), never module-level singletons."""

from __future__ import annotations

from dataclasses import dataclass

from v6fabric.agent.workloads import FakeWorkloads, NamespaceWorkloads, Workloads
from v6fabric.drivers.fake import FakeKernel
from v6fabric.drivers.fake_daemons import FakeProcesses, MemoryFiles
from v6fabric.drivers.fdb import BridgeFdb, FakeFdb, Fdb
from v6fabric.drivers.files import Files, LocalFiles
from v6fabric.drivers.iproute import IpNetlink
from v6fabric.drivers.netlink import Netlink
from v6fabric.drivers.nftables import FakeNftables, Nftables, default_nftables
from v6fabric.drivers.processes import DaemonProcesses, Processes
from v6fabric.drivers.sysctl import ProcSysctls, Sysctls


@dataclass
class Drivers:
    netlink: Netlink
    sysctls: Sysctls
    files: Files
    processes: Processes
    workloads: Workloads
    nftables: Nftables
    fdb: Fdb


def real_drivers() -> Drivers:
    return Drivers(
        netlink=IpNetlink(),
        sysctls=ProcSysctls(),
        files=LocalFiles(),
        processes=DaemonProcesses(),
        workloads=NamespaceWorkloads(),
        nftables=default_nftables(),
        fdb=BridgeFdb(),
    )


@dataclass
class FakeHost:
    """Fake drivers sharing one fake kernel, and the handles tests inspect."""

    kernel: FakeKernel
    files: MemoryFiles
    processes: FakeProcesses
    drivers: Drivers


def fake_drivers(host_netns: str | None = None) -> FakeHost:
    kernel = FakeKernel()
    if host_netns:
        kernel.add_namespaces([host_netns])
    files = MemoryFiles()
    processes = FakeProcesses(files, kernel)
    drivers = Drivers(
        netlink=kernel,
        sysctls=kernel.sysctls(),
        files=files,
        processes=processes,
        workloads=FakeWorkloads(kernel),
        nftables=FakeNftables(),
        fdb=FakeFdb(kernel),
    )
    return FakeHost(kernel, files, processes, drivers)
