"""keepalived's notify hook for one HA router instance: a POSIX shell script (``/bin/sh``).

keepalived runs it on every transition (``INSTANCE <name> <state> <priority>``). It is in the
failover's path and must work while the agent is dead, so it is a script of builtins and three
programs (``flock``, ``ip``, ``radvd``), with everything it needs written into it by the agent:

* MASTER: ``ndisc_notify=1`` on every leg, then the legs up in one ``ip -batch`` (the kernel's
  unsolicited NAs at link-up tell every bridge and VXLAN device where the MAC now is), then
  radvd with the agent's config if there is one, then a watcher, then the state.
* BACKUP, FAULT, STOP: radvd SIGKILLed (a stopping radvd's last RA, router lifetime 0, would
  come from the shared link-local and delete the workloads' default route: dataplane.md §4),
  the legs down, the state.
* The watcher (``WATCH``): keepalived killed with SIGKILL runs no hook, and its legs would stay
  up beside the new master's (two hosts answering for one MAC, RAs from a non-master). A
  Python one-liner blocks on a pidfd of keepalived's VRRP process (readable the moment it
  exits: no polling, and a zombie counts as gone, where ``tail --pid`` waited 1.4 s here for a
  slow init to reap it), then the backup side runs; the next transition ends the watcher.

* REFRESH (run by the agent, not keepalived): on the master, the legs made and the radvd config
  written since its MASTER transition (an interface added to the router later) are brought up
  and started; decided under the lock on the state file, so it never races a transition.

Transitions are taken one at a time (``flock``), in keepalived's order: keepalived forks a hook
per transition, and two forked a few milliseconds apart (MASTER then BACKUP: two backups whose
master-down timers end together, as equal priorities make them, both take over, and one steps
down at the other's first advert) may take the lock in the other order. Seen in the lab:
BACKUP applied, then MASTER, and the instance stayed up beside the real master for good. So
each hook, holding the lock, compares its own process's start time (and pid) with the last
applied one's (``order``) and does nothing when it is older (logged ``STALE-<state>``). Under
the lock, the legs are read again from this script as the agent last wrote it: a hook forked
before the agent rewrote it (a leg added) must not miss the new leg after the agent's REFRESH.

Each transition appends ``<uptime> <state>`` to the transition log (``/proc/uptime``: a builtin
read, no fork), MASTER before it acts and the others once they are done, so that between a
down entry and the next MASTER this instance can send nothing: tests compare captures with it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from v6fabric.hoststate.vrrp import VrrpSpec
from v6fabric.render._common import GENERATED_BY, check_ifname, check_path

ACTIVE, STANDBY = "active", "standby"  # what the state file says (the API's ha_state)
SCRIPT_PATH = "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class HookPaths:
    """The files the hook uses, all under the instance's namespace directory."""

    state: str  # "active" | "standby", for the agent's status report
    transitions: str  # "<uptime seconds> <STATE>" per transition, appended
    lock: str
    watcher_pid: str
    keepalived_vrrp_pid: str  # keepalived's VRRP process (-r)
    radvd_conf: str  # written by the agent (it may be absent: no RA on this router)
    radvd_pid: str
    radvd_log: str
    order: str  # the last transition applied: "<boot id> <start time> <pid>" of its hook


# Exits 0 once the process (argv[1]) has exited or is gone; blocks without polling till then.
_WAIT_FOR_EXIT = (
    "import os, select, sys\n"
    "try: fd = os.pidfd_open(int(sys.argv[1]))\n"
    "except ProcessLookupError: raise SystemExit(0)\n"
    "select.select([fd], [], [])"
)


def render_notify_hook(
    spec: VrrpSpec, paths: HookPaths, *, python: str = "/usr/bin/python3"
) -> str:
    """The hook's text for ``spec``; ``python`` runs the watcher. Raises ``ValueError`` on a
    name or path it will not paste into a shell script."""
    legs = " ".join(check_ifname(leg) for leg in spec.legs)
    values = {
        "LEGS": legs,
        "PYTHON": check_path(python, "python"),
        **{
            name.upper(): check_path(os.fspath(getattr(paths, name)), name)
            for name in HookPaths.__dataclass_fields__
        },
    }
    assignments = "".join(f"{name}='{value}'\n" for name, value in values.items())
    assignments += f"WAIT_FOR_EXIT='{_WAIT_FOR_EXIT}'\n"
    return (
        f"#!/bin/sh\n# {GENERATED_BY}\n# keepalived notify hook for HA router {spec.router_id}"
        f" in namespace {spec.namespace}\nPATH={SCRIPT_PATH}\n{assignments}{_BODY}"
    )


_BODY = f"""
log() {{  # $1: the transition
    read -r up _ < /proc/uptime
    printf '%s %s\\n' "$up" "$1" >> "$TRANSITIONS"
}}

record() {{  # $1: active|standby
    printf '%s\\n' "$1" > "$STATE.tmp" && mv -f "$STATE.tmp" "$STATE"
}}

kill_pid_file() {{  # $1: a pid file, $2: the program it must be (a pid may have been reused)
    pid=
    comm=
    read -r pid < "$1" 2>/dev/null
    if [ -n "$pid" ] && read -r comm < "/proc/$pid/comm" 2>/dev/null && [ -n "$comm" ]; then
        case "$2" in "$comm"*) kill -9 "$pid" 2>/dev/null ;; esac  # comm: 15 bytes at most
    fi
    rm -f "$1"
}}

legs() {{  # $1: up|down
    for leg in $LEGS; do printf 'link set dev %s %s\\n' "$leg" "$1"; done | ip -force -batch -
}}

up() {{  # the legs up, the kernel announcing them (its unsolicited NAs teach every bridge)
    for leg in $LEGS; do echo 1 2>/dev/null > "/proc/sys/net/ipv6/conf/$leg/ndisc_notify"; done
    legs up
}}

start_radvd() {{  # with the agent-written config; not holding the lock
    radvd -C "$RADVD_CONF" -p "$RADVD_PID" -m logfile -l "$RADVD_LOG" 9>&-
}}

locked() {{  # one at a time; then the legs as the agent last wrote this script (maybe since $0 ran)
    exec 9> "$LOCK"
    flock 9
    q="'"
    while IFS= read -r line; do
        case "$line" in "LEGS=$q"*) line=${{line#LEGS=$q}}; LEGS=${{line%$q}}; break ;; esac
    done < "$0"
}}

in_order() {{  # false when a transition keepalived started after this one was applied already
    read -r boot < /proc/sys/kernel/random/boot_id
    read -r stat < "/proc/$$/stat"
    set -- ${{stat##*) }}
    shift 19  # field 22: this process's start time (keepalived forks one hook per transition)
    last_boot=
    last_start=
    last_pid=
    read -r last_boot last_start last_pid 2>/dev/null < "$ORDER"
    if [ "$last_boot" = "$boot" ]; then
        [ "$last_start" -gt "$1" ] && return 1
        [ "$last_start" -eq "$1" ] && [ "$last_pid" -gt $$ ] && return 1
    fi
    printf '%s %s %s\\n' "$boot" "$1" $$ > "$ORDER"
}}

down() {{  # $1: the transition
    kill_pid_file "$RADVD_PID" radvd
    legs down
    record {STANDBY}
    log "$1"
}}

if [ "${{1:-}}" = WATCH ]; then  # started by MASTER below: keepalived's VRRP process is $2
    "$PYTHON" -I -S -c "$WAIT_FOR_EXIT" "$2" &
    printf '%s\\n' "$!" > "$WATCHER_PID"
    wait "$!" || exit 0  # killed by a later transition
    locked
    down KEEPALIVED-GONE
    exit 0
fi

locked
if [ "${{1:-}}" = REFRESH ]; then  # the agent: legs or radvd config that came after MASTER
    state=
    read -r state < "$STATE" 2>/dev/null
    if [ "$state" = {ACTIVE} ]; then
        up
        running=
        pid=
        read -r pid < "$RADVD_PID" 2>/dev/null
        [ -n "$pid" ] && read -r running < "/proc/$pid/comm" 2>/dev/null
        if [ -f "$RADVD_CONF" ] && [ "$running" != radvd ]; then start_radvd; fi
    fi
    exit 0
fi
if ! in_order; then
    log "STALE-${{3:-}}"
    exit 0
fi
kill_pid_file "$WATCHER_PID" "${{PYTHON##*/}}"
case "${{3:-}}" in
MASTER)
    log MASTER
    up
    if [ -f "$RADVD_CONF" ]; then
        kill_pid_file "$RADVD_PID" radvd
        start_radvd
    fi
    keepalived=
    read -r keepalived < "$KEEPALIVED_VRRP_PID" 2>/dev/null
    [ -n "$keepalived" ] || keepalived=$PPID
    sh "$0" WATCH "$keepalived" 9>&- > /dev/null 2>&1 &
    record {ACTIVE}
    ;;
BACKUP|FAULT|STOP)
    down "$3"
    ;;
esac
"""
