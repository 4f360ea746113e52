"""HA router instances on this host (``HostState.vrrp``): keepalived, its notify hook, and the
state the hook records for the agent's status report.

The agent starts a keepalived per instance once the namespace and its legs exist, reloads it
(SIGHUP: VRRP state kept, measured) when its config or hook changes, and stops it when the spec
goes. It never touches what the hook owns: the legs' link state and addresses, and radvd's
life (it only writes radvd's config and SIGHUPs a radvd the hook started). Each instance has
its own pid files (``-p``/``-r``/``-c``), removed before a start: keepalived refuses to start
while one of them names a live process, which a stale file may do after a pid is reused.

Labs run several hosts on one machine, where namespace names are global: two instances of one
router, both ``v6r-<router>``, would be one namespace. An agent with a ``host_netns`` therefore
names an HA router's namespace ``v6r-<router>@<host_netns>`` (``localise``); on a real host
(``host_netns`` None) the name is the compiler's.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from pathlib import Path

from v6fabric.agent.desired import DaemonDesired
from v6fabric.agent.layout import Layout
from v6fabric.drivers.files import Files, digest
from v6fabric.hoststate.memo import IdentityMemo
from v6fabric.hoststate.model import HostState
from v6fabric.hoststate.vrrp import VrrpSpec
from v6fabric.render.keepalived import render_keepalived
from v6fabric.render.vrrp_notify import ACTIVE, STANDBY, HookPaths, render_notify_hook

KIND = "keepalived"
STATES = (ACTIVE, STANDBY)


def hook_paths(layout: Layout, namespace: str) -> HookPaths:
    def path(kind: str, suffix: str) -> str:
        return str(layout.daemon_file(kind, namespace, suffix))

    return HookPaths(
        state=path(KIND, "state"),
        transitions=path(KIND, "transitions"),
        lock=path(KIND, "lock"),
        watcher_pid=path(KIND, "watcher.pid"),
        keepalived_vrrp_pid=path(KIND, "vrrp.pid"),
        radvd_conf=path("radvd", "conf"),
        radvd_pid=path("radvd", "pid"),
        radvd_log=path("radvd", "log"),
        order=path(KIND, "order"),
    )


def hook_script(layout: Layout, namespace: str) -> Path:
    """The instance's notify hook (``render.vrrp_notify``), also run by the agent (REFRESH)."""
    return layout.daemon_file(KIND, namespace, "notify")


@functools.lru_cache(maxsize=256)  # asked on every plan; changes only with its spec
def daemon(spec: VrrpSpec, layout: Layout) -> DaemonDesired | str:
    """keepalived for ``spec``, or why its config cannot be rendered (left as it is)."""

    def path(suffix: str) -> Path:
        return layout.daemon_file(KIND, spec.namespace, suffix)

    try:
        hook = render_notify_hook(spec, hook_paths(layout, spec.namespace), python=sys.executable)
        conf = render_keepalived(spec, notify=hook_script(layout, spec.namespace))
    except ValueError as exc:
        return str(exc)
    argv = (
        "keepalived",
        *("--dont-fork", "--log-console", "--log-detail", "--no-syslog", "--vrrp"),
        *("-f", str(path("conf")), "-p", str(path("pid"))),
        *("-r", str(path("vrrp.pid")), "-c", str(path("check.pid"))),
    )
    return DaemonDesired(
        kind=KIND,
        netns=spec.namespace,
        files=((path("conf"), conf), (hook_script(layout, spec.namespace), hook)),
        argv=argv,
        pid_file=path("pid"),
        log_file=path("log"),
        marker=path("loaded"),
        conf_digest=digest(conf + hook),
        data_digest="",
        interfaces=(spec.interface,),
        clear=(path("vrrp.pid"), path("check.pid")),
    )


def daemons(state: HostState, layout: Layout) -> dict[tuple[str, str | None], DaemonDesired | str]:
    return {(KIND, spec.namespace): daemon(spec, layout) for spec in state.vrrp}


def router_states(state: HostState, layout: Layout, files: Files) -> dict[str, str]:
    """Router id -> "active" | "standby", as the hook last recorded it; a router whose hook
    has not run yet (keepalived starting) is left out (the server shows it as unknown)."""
    found = {}
    for spec in state.vrrp:
        text = files.read(Path(hook_paths(layout, spec.namespace).state))
        if text is not None and text.strip() in STATES:
            found[spec.router_id] = text.strip()
    return found


# --- one machine, several hosts ---------------------------------------------------------------


def ha_namespace(namespace: str, host_netns: str | None) -> str:
    """The name of an HA router's namespace on a host whose agent plays ``host_netns``."""
    return namespace if host_netns is None else f"{namespace}@{host_netns}"


_LOCALISED = IdentityMemo(4)  # the same state object is asked on every pass


def localise(state: HostState, host_netns: str | None) -> HostState:
    """``state`` with the namespaces that also exist on other hosts (HA routers' instances,
    distributed routers' ``NamespaceSpec.distributed``) named for this host
    (``ha_namespace``); the very same object when there is nothing to rename."""
    if host_netns is None or not _shared_namespaces(state):
        return state
    return _LOCALISED.get(state, lambda: _localise(state, host_netns))


def _shared_namespaces(state: HostState) -> set[str]:
    shared = {spec.namespace for spec in state.vrrp}
    return shared | {spec.name for spec in state.namespaces if spec.distributed}


def _localise(state: HostState, host_netns: str) -> HostState:
    names = {name: ha_namespace(name, host_netns) for name in _shared_namespaces(state)}

    def rename(item: object, attr: str = "namespace") -> object:
        name = getattr(item, attr)
        if name not in names:
            return item
        return dataclasses.replace(item, **{attr: names[name]})  # type: ignore[type-var]

    metadata = state.metadata
    if any(listener.namespace in names for listener in metadata.listeners):
        listeners = tuple(rename(listener) for listener in metadata.listeners)
        metadata = dataclasses.replace(metadata, listeners=listeners)  # type: ignore[arg-type]
    return dataclasses.replace(
        state,
        ports=tuple(rename(port) for port in state.ports),  # type: ignore[misc]
        namespaces=tuple(rename(ns, "name") for ns in state.namespaces),  # type: ignore[misc]
        radvd=tuple(rename(radvd) for radvd in state.radvd),  # type: ignore[misc]
        dnsmasq=tuple(rename(dnsmasq) for dnsmasq in state.dnsmasq),  # type: ignore[misc]
        vrrp=tuple(rename(spec) for spec in state.vrrp),  # type: ignore[misc]
        metadata=metadata,
    )
