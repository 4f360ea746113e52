"""An HA router on two hosts, built by agents from hand-made ``HostState``s (no server): the
topology of ``test_r22_l3_ha_hosts.py`` and ``bench/ha_failover.py``, with the failures they cause
and the measurements they take.

Three "hosts" (``v6h-<tag>a``/``b``/``c``) on one underlay bridge (namespace ``t7-<tag>-ul``),
each with an agent. Hosts a and b each run an instance of router r1 (the same legs, port ids and
MACs; keepalived on an ``ha-`` leg of the HA network, unicast to the other); host c runs the
workload (tenant network, SLAAC from the master's RAs) and the far host (external network,
static address, route to the tenant prefix via the router's external address). All three
networks are VXLAN over the IPv6 underlay; the tenant and external ones learn (the router's
MACs move with the master), the HA network's two ports are pinned.

The measurements are in ``ha_probes``.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.conftest import eui64, wait_for
from tests.e2e.ha_probes import transitions
from tests.e2e.hand_made import HandMadeLab
from tests.e2e.traffic import pings
from v6fabric.agent import vrrp
from v6fabric.drivers.commands import read_pid, run
from v6fabric.hoststate.model import (
    FdbEntry,
    HostState,
    NamespaceSpec,
    NetworkSpec,
    OverlaySpec,
    PortSpec,
    RadvdSpec,
    RaInterface,
    RaPrefix,
    WorkloadInterface,
    WorkloadSpec,
    bridge_name,
    router_namespace,
    tap_name,
    vxlan_name,
    workload_namespace,
)
from v6fabric.hoststate.vrrp import VirtualAddress, VrrpSpec
from v6fabric.render._common import eui64_link_local

MTU = 1430  # VXLAN over a 1500-byte IPv6 underlay
HOSTS = ("a", "b", "c")
L3_HOSTS = ("a", "b")
ENDPOINT = {"a": "fd00:7e::a", "b": "fd00:7e::b", "c": "fd00:7e::c"}
TENANT_PREFIX, EXTERNAL_PREFIX = "2001:db8:7a::/64", "2001:db8:7e::/64"
GATEWAY, EXTERNAL_GATEWAY = "2001:db8:7a::1/64", "2001:db8:7e::1/64"
FAR = "2001:db8:7e::100"
MAC = {
    "qr": "fa:16:3e:7a:00:01",
    "qg": "fa:16:3e:7e:00:01",
    "ha-a": "fa:16:3e:7f:00:0a",
    "ha-b": "fa:16:3e:7f:00:0b",
    "workload": "fa:16:3e:7a:00:64",
    "far": "fa:16:3e:7e:01:00",
}
VNI = {"tenant": 7001, "external": 7002, "ha": 7003}


@dataclass
class HaLab(HandMadeLab):
    HOSTS = HOSTS
    ENDPOINT = ENDPOINT
    CONVERGE_SECONDS = 60

    advert_interval: float = 0.2
    removed: set[str] = field(default_factory=set)

    # --- names ---------------------------------------------------------------------------

    @property
    def router(self) -> str:
        return f"{self.tag}r1"

    def router_netns(self, host: str) -> str:
        """Where host's instance runs (``agent.vrrp.ha_namespace``: names are per machine)."""
        return vrrp.ha_namespace(router_namespace(self.router), self.netns(host))

    def network(self, name: str) -> str:
        return f"{self.tag}{name[:2]}-{name}"

    def port(self, name: str) -> str:
        return f"{self.tag}p{name}"

    def workload(self, name: str) -> WorkloadSpec:
        port = self.port(name)
        nic = WorkloadInterface(port, "eth0", tap_name(port), MAC[name], MTU)
        workload_id = f"{self.tag}w{name[:3]}"
        return WorkloadSpec(workload_id, name, workload_namespace(workload_id), (nic,))

    @property
    def workload_ns(self) -> str:
        return self.workload("workload").namespace

    @property
    def far_ns(self) -> str:
        return self.workload("far").namespace

    @property
    def workload_address(self) -> str:
        return str(eui64(TENANT_PREFIX, MAC["workload"]))

    def leg(self, kind: str) -> str:
        return f"{kind}-{self.port(kind)[:11]}"

    # --- states ------------------------------------------------------------------------------

    def state(self, host: str, revision: int = 1) -> HostState:
        networks, ports, fdb = [], [], []
        others = [h for h in HOSTS if h != host]
        for name in ("tenant", "external"):
            net = self.network(name)
            overlay = OverlaySpec(
                vxlan_name(net),
                VNI[name],
                ENDPOINT[host],
                tuple(ENDPOINT[h] for h in others),
                learning=True,
            )
            networks.append(NetworkSpec(net, bridge_name(net), MTU, overlay))
            guest = "workload" if name == "tenant" else "far"
            if host == "c":
                port = self.port(guest)
                ports.append(PortSpec(port, net, "workload", tap_name(port), MAC[guest], MTU))
            else:
                fdb.append(FdbEntry(vxlan_name(net), MAC[guest], ENDPOINT["c"]))
        if host == "c":
            return HostState(
                f"host-{host}",
                revision,
                networks=tuple(networks),
                ports=tuple(ports),
                workloads=(self.workload("workload"), self.workload("far")),
                fdb=tuple(sorted(fdb, key=lambda e: e.entry_id)),
            )
        other = "b" if host == "a" else "a"
        ha_net = self.network("ha")
        ha_overlay = OverlaySpec(vxlan_name(ha_net), VNI["ha"], ENDPOINT[host], (ENDPOINT[other],))
        networks.append(NetworkSpec(ha_net, bridge_name(ha_net), MTU, ha_overlay))
        fdb.append(FdbEntry(vxlan_name(ha_net), MAC[f"ha-{other}"], ENDPOINT[other]))
        namespace = router_namespace(self.router)
        for kind, name in (("qr", "tenant"), ("qg", "external")):
            port = self.port(kind)
            ports.append(
                PortSpec(
                    port,
                    self.network(name),
                    "router",
                    tap_name(port),
                    MAC[kind],
                    MTU,
                    namespace=namespace,
                    ifname=self.leg(kind),
                    vrrp_managed=True,
                )
            )
        ha_port = f"{self.tag}pha-{host}"
        ports.append(
            PortSpec(
                ha_port,
                ha_net,
                "router",
                tap_name(ha_port),
                MAC[f"ha-{host}"],
                MTU,
                namespace=namespace,
                ifname=f"ha-{ha_port[:11]}",
            )
        )
        qr, qg = self.leg("qr"), self.leg("qg")
        radvd = RadvdSpec(
            namespace,
            (
                RaInterface(
                    qr,
                    managed=False,
                    other=False,
                    mtu=MTU,
                    prefixes=(RaPrefix(TENANT_PREFIX, autonomous=True),),
                    source=str(eui64_link_local(MAC["qr"])),
                ),
            ),
            vrrp=True,
        )
        spec = VrrpSpec(
            namespace,
            self.router,
            vrid=1,
            interface=f"ha-{ha_port[:11]}",
            legs=tuple(sorted((qr, qg))),
            addresses=(VirtualAddress(EXTERNAL_GATEWAY, qg), VirtualAddress(GATEWAY, qr)),
            peers=(str(eui64_link_local(MAC[f"ha-{other}"])),),
            advert_interval=self.advert_interval,
        )
        return HostState(
            f"host-{host}",
            revision,
            networks=tuple(networks),
            ports=tuple(sorted(ports, key=lambda p: p.port_id)),
            namespaces=(NamespaceSpec(namespace, forwarding=True),),
            radvd=(radvd,),
            fdb=tuple(sorted(fdb, key=lambda e: e.entry_id)),
            vrrp=(spec,),
        )

    # --- building -------------------------------------------------------------------------

    def build(self) -> None:
        """Everything, until the workload reaches the far host through the router."""
        self.build_underlay()
        for host in HOSTS:
            self.converge(host)
        far = [f"link set eth0 mtu {MTU}", f"addr add {FAR}/64 dev eth0 nodad"]
        far.append(f"route add {TENANT_PREFIX} via {EXTERNAL_GATEWAY.split('/')[0]}")
        run(["ip", "-n", self.far_ns, "-batch", "-"], input="\n".join(far) + "\n")
        wait_for("a master", self.master, timeout=30)
        wait_for(
            "the workload to reach the far host",
            lambda: pings(self.workload_ns, FAR),
            timeout=60,
        )

    # --- looking -------------------------------------------------------------------------

    def states(self) -> dict[str, str]:
        """Host -> active|standby as its hook recorded it (hosts still there)."""
        found = {}
        for host in L3_HOSTS:
            if host in self.removed:
                continue
            paths = vrrp.hook_paths(self.agents[host].layout, self.router_netns(host))
            with contextlib.suppress(OSError):
                found[host] = Path(paths.state).read_text().strip()
        return found

    def master(self) -> str | None:
        masters = [h for h, s in self.states().items() if s == "active"]
        return masters[0] if len(masters) == 1 else None

    def transitions(self, host: str) -> list[tuple[float, str]]:
        return transitions(self.agents[host].layout.run_dir, self.router_netns(host))

    def keepalived_pids(self, host: str) -> list[int]:
        layout = self.agents[host].layout
        files = ("pid", "vrrp.pid")
        found = [
            read_pid(layout.daemon_file("keepalived", self.router_netns(host), f)) for f in files
        ]
        return [pid for pid in found if pid is not None]

    # --- failures ------------------------------------------------------------------------

    def kill_keepalived(self, host: str) -> None:
        for pid in self.keepalived_pids(host):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def link(self, host: str, up: bool) -> None:
        """The host's underlay link down, or up again with its address (gone with the link)."""
        lines = ["link set ul0 " + ("up" if up else "down")]
        if up:
            lines.append(f"addr replace {ENDPOINT[host]}/64 dev ul0 nodad")
        run(["ip", "-n", self.netns(host), "-batch", "-"], input="\n".join(lines) + "\n")

    def remove_host(self, host: str) -> None:
        """As a machine that dies: everything of it goes at once."""
        self.removed.add(host)
        for name in (self.router_netns(host), self.netns(host)):
            pids = run(["ip", "netns", "pids", name], check=False).stdout.split()
            if pids:
                run(["kill", "-9", *pids], check=False)
            run(["ip", "netns", "delete", name], check=False)
