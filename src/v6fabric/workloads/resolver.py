"""The workload's resolver settings: RDNSS/DNSSL from RAs merged with DHCPv6 and DHCPv4 data.

The dhclient hook writes what a lease says into ``dns/<ifname>.<4|6>`` (``nameserver X`` and
``search a b`` lines); the guest agent adds what RAs say and writes the workload's own
``resolv.conf``. ``/etc/resolv.conf`` is never written: namespaces share the host's files.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

IPAddress = IPv4Address | IPv6Address


@dataclass
class ResolverSource:
    """Resolver data from one source (an interface's RAs, or one DHCP lease)."""

    ifname: str
    nameservers: list[IPAddress] = field(default_factory=list)
    search: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Resolver:
    nameservers: tuple[tuple[IPAddress, str], ...] = ()  # (server, interface: zone for LLs)
    search: tuple[str, ...] = ()

    def render(self, header: str) -> str:
        lines = [f"# {header}"]
        for server, ifname in self.nameservers:
            zone = f"%{ifname}" if server.is_link_local else ""
            lines.append(f"nameserver {server}{zone}")
        if self.search:
            lines.append("search " + " ".join(self.search))
        return "\n".join(lines) + "\n"


def _domain(text: str) -> str:
    return text.strip().rstrip(".").lower()


def read_lease_dns(path: Path, ifname: str) -> ResolverSource:
    """What the dhclient hook wrote for one lease (missing file: nothing)."""
    source = ResolverSource(ifname)
    try:
        text = path.read_text()
    except OSError:
        return source
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        if key == "nameserver":
            for word in rest.split():
                try:
                    source.nameservers.append(ipaddress.ip_address(word.split("%", 1)[0]))
                except ValueError:
                    continue
        elif key in ("search", "domain"):
            source.search.extend(_domain(word) for word in rest.split() if _domain(word))
    return source


def merge(sources: Iterable[ResolverSource]) -> Resolver:
    """Servers and search domains in source order, duplicates dropped."""
    servers: list[tuple[IPAddress, str]] = []
    seen: set[tuple[IPAddress, str]] = set()
    search: list[str] = []
    for source in sources:
        for server in source.nameservers:
            key = (server, source.ifname if server.is_link_local else "")
            if key not in seen:
                seen.add(key)
                servers.append((server, source.ifname))
        for domain in source.search:
            if domain not in search:
                search.append(domain)
    return Resolver(tuple(servers), tuple(search))


def parse_resolv_conf(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(nameservers, search domains) of a resolv.conf text; nameservers keep their zone."""
    servers: list[str] = []
    search: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            search = [_domain(w) for w in words[1:]]
    return tuple(servers), tuple(search)


def write_if_changed(path: Path, content: str | bytes, mode: int | None = None) -> bool:
    """Write ``content`` atomically (temp file + rename) unless the file already holds it (with
    ``mode``, if given: the temp file gets it before it has any content, so a key file is never
    readable by others, not even for a moment)."""
    data = content.encode() if isinstance(content, str) else content
    try:
        if path.read_bytes() == data and (mode is None or path.stat().st_mode & 0o7777 == mode):
            return False
    except OSError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if mode is None:
        tmp.write_bytes(data)
    else:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)  # O_CREAT's mode is masked by the umask
            out.write(data)
    os.replace(tmp, path)
    return True
