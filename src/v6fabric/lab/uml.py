"""Run a command inside a User-Mode-Linux guest, for kernel features this host lacks.

Debian's ``user-mode-linux`` package is a Linux 6.1 kernel that runs as an ordinary process
(``/usr/bin/linux``) with every network feature as a module (802.1Q, GRE, ESP, VRF, Geneve,
bridge conntrack) in ``/usr/lib/uml/modules/<version>``. The guest's root is the host's ``/``
through hostfs, read-only, so it runs the host's own ``ip``, ``tcpdump``, python and venv: no
image to build. Boot and halt cost about 3 s; work inside is 3-10x slower than native.

The guest gets private tmpfs ``/dev`` (with the few nodes programs need: there is no devtmpfs),
``/run``, ``/tmp`` and ``/dev/shm``; the modules on ``/lib/modules``; ``ipv6`` loaded (it is a
module, and rtnetlink does not autoload address families); and read-write hostfs mounts of the
directories the caller names. The command's exit code, stdout and stderr come back through a
private control directory that the guest mounts read-write.

It lives in ``v6fabric.lab`` rather than under ``tests`` because it is not test-only: the pytest
plugin (``tests/uml_plugin.py``) uses it, and so can a lab or a developer
(``python -m v6fabric.lab.uml [-m MEM] [-w DIR] [-r DIR] -- CMD``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

KERNEL = Path("/usr/bin/linux")
MODULES = Path("/usr/lib/uml/modules")
IN_GUEST_ENV = "V6FABRIC_IN_UML"  # "1" inside a guest started here
DEFAULT_MEMORY = "256M"
DEFAULT_TIMEOUT = 600.0
MODPROBE_DIR = "/run/v6fabric-uml-bin"  # the guest's modprobe wrapper: first on PATH
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Host variables that would mislead the guest: its /tmp is a fresh tmpfs, its shell is new.
_DROPPED_ENV = {"PWD", "OLDPWD", "SHLVL", "_", "TMPDIR", "TMP", "TEMP"}
_CONTROL = "/run/v6fabric-uml"  # where the guest mounts the control directory
_GUEST_TMPFS = ("/tmp", "/run", "/dev")  # host paths under these are hidden in the guest

# PID 1 of the guest. $v6f_uml (from the kernel command line) is the host's control directory.
# /tmp is mounted over only after the control directory is reachable under /run; the shell
# keeps reading this script through its open descriptor.
_INIT = r"""#!/bin/sh
export PATH=__PATH__
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs -o mode=755 dev /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/random c 1 8
mknod -m 666 /dev/urandom c 1 9
mknod -m 666 /dev/tty c 5 0
mkdir -p /dev/net /dev/pts /dev/shm
mknod -m 666 /dev/net/tun c 10 200
ln -s /proc/self/fd /dev/fd
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs shm /dev/shm
mount -t tmpfs -o mode=755 run /run
mkdir -p /run/netns __CONTROL__
mount -t hostfs -o "$v6f_uml" none __CONTROL__
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
release=$(uname -r)
# The host may have no /lib/modules (and the root is read-only): the modules go under /run and
# a modprobe wrapper points there, for us, for the command (first on PATH) and for the kernel.
mkdir -p "/run/v6fabric-uml-modules/lib/modules/$release" __MODPROBE_DIR__
mount --bind "__MODULES__/$release" "/run/v6fabric-uml-modules/lib/modules/$release"
printf '#!/bin/sh\nexec /sbin/modprobe -d /run/v6fabric-uml-modules "$@"\n' > __MODPROBE_DIR__/modprobe
chmod 755 __MODPROBE_DIR__/modprobe
echo __MODPROBE_DIR__/modprobe > /proc/sys/kernel/modprobe
export PATH=__MODPROBE_DIR__:$PATH
modprobe ipv6
ip link set lo up
while read -r mode dir; do
  [ -n "$dir" ] || continue
  mkdir -p "$dir" && mount "-$mode" -t hostfs -o "$dir" none "$dir" || echo "uml: cannot mount $dir" >&2
done < __CONTROL__/mounts
env -i /bin/sh __CONTROL__/command.sh > __CONTROL__/stdout 2> __CONTROL__/stderr < /dev/null
echo $? > __CONTROL__/rc.tmp
mv __CONTROL__/rc.tmp __CONTROL__/rc
sync
echo o > /proc/sysrq-trigger
sleep 30  # the power-off is asynchronous; PID 1 must not exit first (a panic)
"""


class UmlError(RuntimeError):
    """The guest did not report an exit code: it failed to boot, crashed or timed out."""

    def __init__(self, message: str, console: str) -> None:
        tail = "\n".join(console.splitlines()[-30:])
        super().__init__(f"{message}\n--- guest console (last lines) ---\n{tail}")
        self.console = console


@dataclass(frozen=True)
class UmlResult:
    returncode: int
    stdout: str
    stderr: str
    console: str  # the kernel's and init's messages


def in_guest() -> bool:
    return os.environ.get(IN_GUEST_ENV) == "1"


def kernel_release() -> str | None:
    """The UML kernel's version as its modules directory names it (``6.1.176``), if installed."""
    if not os.access(KERNEL, os.X_OK) or not MODULES.is_dir():
        return None
    releases = sorted(p.name for p in MODULES.iterdir() if (p / "modules.dep").exists())
    return releases[-1] if releases else None


def unavailable_reason() -> str | None:
    """Why no guest can be started here (None: it can)."""
    if kernel_release() is None:
        return f"User-Mode-Linux is not installed ({KERNEL}, {MODULES}/<version>): apt-get install user-mode-linux"
    try:
        ram_directory()
    except UmlError as exc:
        return str(exc).splitlines()[0]
    return None


def _exec_allowed(directory: Path) -> bool:
    try:
        flags = os.statvfs(directory).f_flag
    except OSError:
        return False
    return not flags & os.ST_NOEXEC and os.access(directory, os.W_OK | os.X_OK)


def ram_directory() -> Path:
    """Where the guest's RAM file goes: UML maps it executable, so a noexec mount fails the boot.

    /dev/shm (tmpfs, what UML itself prefers) unless mounted noexec, then the temp directory."""
    for candidate in (Path("/dev/shm"), Path(tempfile.gettempdir())):
        if _exec_allowed(candidate):
            return candidate
    raise UmlError("no writable directory allowing exec for the guest's RAM (/dev/shm, /tmp)", "")


def guest_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the command sees: ``env`` (default: ours) minus host-only variables."""
    source = os.environ if env is None else env
    result = {k: v for k, v in source.items() if k not in _DROPPED_ENV and k.isidentifier()}
    path = result.get("PATH", "")
    result["PATH"] = (
        f"{MODPROBE_DIR}:{path}:{GUEST_PATH}" if path else f"{MODPROBE_DIR}:{GUEST_PATH}"
    )
    result[IN_GUEST_ENV] = "1"
    return result


def _command_script(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> str:
    lines = [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    lines.append(f"cd {shlex.quote(str(cwd))} || exit 125")
    lines.append(f"exec {shlex.join(argv)}")
    return "\n".join(lines) + "\n"


def _mount_list(
    writable: Sequence[str | os.PathLike[str]], readable: Sequence[str | os.PathLike[str]]
) -> str:
    """Lines ``w <dir>`` / ``r <dir>`` for the guest's init (hostfs mounts after its tmpfs)."""
    rw = [Path(d).resolve() for d in writable]
    hidden = [
        path
        for path in (Path(d).resolve() for d in readable)
        if any(path.is_relative_to(top) for top in _GUEST_TMPFS)
        and not any(path.is_relative_to(w) for w in rw)
    ]
    mounts = [("w", d) for d in rw] + [("r", d) for d in dict.fromkeys(hidden)]
    mounts.sort(key=lambda mount: len(mount[1].parts))  # a parent before what it contains
    return "".join(f"{mode} {path}\n" for mode, path in mounts)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the UML kernel and its helper processes (its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def run(
    argv: Sequence[str],
    *,
    writable: Sequence[str | os.PathLike[str]] = (),
    readable: Sequence[str | os.PathLike[str]] = (),
    memory: str = DEFAULT_MEMORY,
    timeout: float = DEFAULT_TIMEOUT,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> UmlResult:
    """Run ``argv`` as root in a fresh guest and return its exit code and output.

    ``writable``: host directories mounted read-write at the same path (the rest of ``/`` is
    read-only). ``readable``: directories the guest must see although they lie under a path
    it mounts a tmpfs on (/tmp, /run, /dev), mounted read-only; ``cwd`` (default: ours) is
    one of them.
    Raises ``UmlError`` if the guest gives no exit code within ``timeout`` seconds (it is
    killed). Nothing is left behind: the control directory and the RAM directory are removed
    and every process of the guest is gone when this returns."""
    release = kernel_release()
    if release is None:
        raise UmlError(unavailable_reason() or "User-Mode-Linux is not installed", "")
    ram_dir = Path(tempfile.mkdtemp(prefix="v6fabric-uml-ram.", dir=ram_directory()))
    control = Path(tempfile.mkdtemp(prefix="v6fabric-uml."))
    try:
        control.chmod(0o755)
        init = control / "init"
        init.write_text(
            _INIT.replace("__PATH__", GUEST_PATH)
            .replace("__CONTROL__", _CONTROL)
            .replace("__MODULES__", str(MODULES))
            .replace("__MODPROBE_DIR__", MODPROBE_DIR)
        )
        init.chmod(0o755)
        workdir = Path(cwd).resolve() if cwd is not None else Path.cwd()
        (control / "mounts").write_text(_mount_list(writable, [*readable, workdir]))
        (control / "command.sh").write_text(_command_script(argv, workdir, guest_environment(env)))
        kernel_argv = [
            str(KERNEL),
            f"mem={memory}",
            f"uml_dir={ram_dir}",  # its pid file and mconsole socket: not in ~/.uml
            "rootfstype=hostfs",
            "rootflags=/",
            "ro",
            f"init={init}",
            f"v6f_uml={control}",
            "con=null",
            "con0=fd:0,fd:1",
            "quiet",
        ]
        process = subprocess.Popen(
            kernel_argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={"PATH": GUEST_PATH, "HOME": str(ram_dir), "TMPDIR": str(ram_dir)},
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            output, _ = process.communicate()
            console = output.decode(errors="replace")
            raise UmlError(f"the guest did not finish within {timeout:g} s", console) from None
        finally:
            _kill_group(process)  # helpers the kernel left (normally none)
        console = output.decode(errors="replace").replace("\r\n", "\n")
        rc_file = control / "rc"
        if not rc_file.exists():
            raise UmlError(
                f"the guest gave no exit code (kernel exit {process.returncode})", console
            )
        return UmlResult(
            returncode=int(rc_file.read_text().strip()),
            stdout=_read(control / "stdout"),
            stderr=_read(control / "stderr"),
            console=console,
        )
    finally:
        shutil.rmtree(control, ignore_errors=True)
        shutil.rmtree(ram_dir, ignore_errors=True)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def main(args: Sequence[str] | None = None) -> int:
    """``python -m v6fabric.lab.uml [-m MEM] [-w DIR]... [--timeout S] -- CMD...``"""
    parser = argparse.ArgumentParser(prog="python -m v6fabric.lab.uml", description=__doc__)
    parser.add_argument("-m", "--memory", default=DEFAULT_MEMORY)
    parser.add_argument("-w", "--writable", action="append", default=[], metavar="DIR")
    parser.add_argument("-r", "--readable", action="append", default=[], metavar="DIR")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    parser.add_argument("--console", action="store_true", help="print the guest's console too")
    parser.add_argument("command", nargs="+")
    options = parser.parse_args(args)
    try:
        result = run(
            options.command,
            writable=options.writable,
            readable=options.readable,
            memory=options.memory,
            timeout=options.timeout,
        )
    except UmlError as exc:
        print(f"uml: {exc}", file=sys.stderr)
        return 125
    if options.console:
        sys.stderr.write(result.console)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
