"""The daemons a plan starts, reloads, restarts and stops, with the files they run from
(pure; called from ``reconcile.plan``).

radvd and dnsmasq (``desired``), keepalived (``vrrp``) and the metadata proxy
(``metadata_proxy``) meet here: which daemon needs its files written, a SIGHUP, a restart or
a stop, and when an HA router's notify hook must run again. Each action comes with its step
of the agent's order, which ``reconcile`` maps to its phases, as ``overlay`` and ``segments``
do.
"""

from __future__ import annotations

from v6fabric.agent import desired as want
from v6fabric.agent import metadata_proxy, vrrp
from v6fabric.agent.actions import (
    Action,
    RefreshVrrp,
    ReloadDaemon,
    RemoveDir,
    StartDaemon,
    StopDaemon,
    WriteFile,
)
from v6fabric.agent.observe import Observed
from v6fabric.drivers.files import digest
from v6fabric.hoststate.memo import IdentityMemo
from v6fabric.hoststate.model import HostState
from v6fabric.metadata.config import Backend

# The steps of the agent's order (``reconcile``) a daemon action belongs to: stops and run
# directories' removals with the deletes, files and daemons after everything else.
STOP, RMDIR, FILES, DAEMON = "stop", "rmdir", "files", "daemon"


# a daemon's files are the very same text objects until its spec changes (``desired``)
_TEXT_DIGESTS = IdentityMemo(256)


def plan(
    desired: HostState,
    observed: Observed,
    renderers: want.Renderers,
    backend: Backend | None,
    created: set[tuple[str | None, str]],
) -> list[tuple[str, Action]]:
    """The daemon actions, each with its step; ``created``: the links (re)made by this plan
    (an HA router's fresh legs need its notify hook run again)."""
    steps: list[tuple[str, Action]] = []
    layout = observed.layout
    wanted = want.daemons(desired, layout, renderers)
    wanted.update(vrrp.daemons(desired, layout))
    proxy = metadata_proxy.desired(desired.metadata, layout, backend)
    if proxy is not None:
        wanted[(proxy.kind, proxy.netns)] = proxy
        seen_proxy = observed.daemons.get((proxy.kind, proxy.netns))
        for action in metadata_proxy.bucket_actions(desired.metadata, proxy, seen_proxy):
            steps.append((FILES, action))
    hooked_changed: dict[str | None, str] = {}  # namespace -> its hooked radvd's new config
    for key, daemon in wanted.items():
        if isinstance(daemon, str):
            continue  # its config cannot be rendered: leave it as it is
        seen = observed.daemons.get(key)
        digests = seen.digests if seen else {}
        for path, text in daemon.files:
            if digests.get(path.name) != _TEXT_DIGESTS.get(text, lambda: digest(text)):  # noqa: B023
                steps.append((FILES, WriteFile(path, text)))
        start = StartDaemon(
            daemon.kind,
            daemon.netns,
            daemon.argv,
            daemon.pid_file,
            daemon.log_file,
            daemon.marker,
            daemon.loaded,
            daemon.interfaces,
            clear=daemon.clear,
        )
        if daemon.hooked:  # the notify hook starts and kills it: reload it where it runs
            if seen is None or seen.loaded != daemon.loaded:
                reload = ReloadDaemon(
                    daemon.kind, daemon.netns, daemon.pid_file, daemon.marker, daemon.loaded, True
                )
                steps.append((DAEMON, reload))
                hooked_changed[daemon.netns] = daemon.loaded
        elif seen is None or seen.pid is None:
            steps.append((DAEMON, start))
        elif daemon.netns is not None and daemon.netns not in observed.namespaces:
            # it runs in a namespace that is gone
            steps.append((DAEMON, _restart(start)))
        elif seen.loaded != daemon.loaded:
            conf_changed = (seen.loaded or "").split(" ")[0] != daemon.conf_digest
            if (daemon.kind == "dnsmasq" and conf_changed) or metadata_proxy.must_restart(
                daemon, seen.loaded
            ):
                steps.append((DAEMON, _restart(start)))
            else:
                reload = ReloadDaemon(
                    daemon.kind, daemon.netns, daemon.pid_file, daemon.marker, daemon.loaded
                )
                steps.append((DAEMON, reload))
    for key, seen in observed.daemons.items():
        if key not in wanted:
            kind, netns = key
            files = tuple(layout.daemon_dir(netns) / name for name in sorted(seen.files))
            steps.append(
                (STOP, StopDaemon(kind, netns, layout.daemon_file(kind, netns, "pid"), files))
            )
    keep = {netns for _kind, netns in wanted}
    for netns in observed.daemon_dirs - keep:
        steps.append((RMDIR, RemoveDir(layout.netns_dir(netns))))
    for spec in desired.vrrp:  # a master's hook ran before these legs or that config
        fresh = [leg for leg in spec.legs if (spec.namespace, leg) in created]
        if fresh or spec.namespace in hooked_changed:
            cause = (*fresh, f"radvd {hooked_changed.get(spec.namespace, '')}")
            hook = vrrp.hook_script(layout, spec.namespace)
            steps.append((DAEMON, RefreshVrrp(spec.namespace, hook, cause)))
    return steps


def _restart(start: StartDaemon) -> StartDaemon:
    return StartDaemon(**{**start.__dict__, "restart": True})
