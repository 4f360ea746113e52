"""Parsing of the openstack-CLI style `key=value,key=value` options into Neutron attributes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import typer


def parse_pairs(
    text: str,
    option: str,
    *,
    allowed: Mapping[str, str],
    required: Iterable[str] = (),
) -> dict[str, str]:
    """`subnet=S,ip-address=IP` -> {wire_name: value}; `allowed` maps CLI keys to wire names.

    Raises typer.BadParameter (usage error, exit 2) naming the option and the accepted keys.
    """
    result: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not value.strip():
            raise typer.BadParameter(f"'{part}' is not key=value", param_hint=option)
        if key not in allowed:
            keys = ", ".join(sorted(allowed))
            raise typer.BadParameter(f"unknown key '{key}' (use {keys})", param_hint=option)
        result[allowed[key]] = value.strip()
    missing = [key for key in required if allowed[key] not in result]
    if missing:
        raise typer.BadParameter(f"'{text}' lacks {', '.join(missing)}", param_hint=option)
    return result


def allocation_pools(values: Iterable[str]) -> list[dict[str, str]]:
    """--allocation-pool start=A,end=B -> [{"start": A, "end": B}]."""
    keys = {"start": "start", "end": "end"}
    return [
        parse_pairs(v, "--allocation-pool", allowed=keys, required=("start", "end")) for v in values
    ]


def host_routes(values: Iterable[str]) -> list[dict[str, str]]:
    """--host-route destination=C,gateway=IP -> [{"destination": C, "nexthop": IP}]."""
    keys = {"destination": "destination", "gateway": "nexthop", "nexthop": "nexthop"}
    return [
        parse_pairs(v, "--host-route", allowed=keys, required=("destination", "gateway"))
        for v in values
    ]


def fixed_ips(values: Iterable[str]) -> list[dict[str, str]]:
    """--fixed-ip subnet=S,ip-address=IP (either part) -> [{"subnet_id": S, "ip_address": IP}].

    The subnet is still a name or ID here; the caller resolves it over the API.
    """
    keys = {"subnet": "subnet_id", "ip-address": "ip_address"}
    result: list[dict[str, str]] = []
    for text in values:
        item = parse_pairs(text, "--fixed-ip", allowed=keys)
        if not item:
            raise typer.BadParameter(f"'{text}' names neither subnet nor ip-address", "--fixed-ip")
        result.append(item)
    return result


def allowed_addresses(values: Iterable[str]) -> list[dict[str, str]]:
    """--allowed-address ip-address=IP[,mac-address=M] -> allowed_address_pairs entries."""
    keys = {"ip-address": "ip_address", "mac-address": "mac_address"}
    return [
        parse_pairs(v, "--allowed-address", allowed=keys, required=("ip-address",)) for v in values
    ]


def fixed_ip_filters(values: Iterable[str]) -> list[dict[str, str]]:
    """port list --fixed-ip subnet=S | ip-address=IP | ip-address-substr=X."""
    keys = {
        "subnet": "subnet_id",
        "ip-address": "ip_address",
        "ip-address-substr": "ip_address_substr",
    }
    return [parse_pairs(v, "--fixed-ip", allowed=keys) for v in values]


def key_values(values: Iterable[str], option: str) -> dict[str, str]:
    """Repeated ``--property KEY=VALUE`` -> {KEY: VALUE}; the value may hold ``=`` or be empty,
    the key may not be empty, and a key given twice is a usage error rather than a silent
    overwrite."""
    result: dict[str, str] = {}
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"'{text}' is not KEY=VALUE", param_hint=option)
        if key in result:
            raise typer.BadParameter(f"'{key}' is given twice", param_hint=option)
        result[key] = value
    return result


def port_range(text: str, option: str = "--dst-port") -> tuple[int, int]:
    """--dst-port 22 or 22:23 -> (port_range_min, port_range_max), as the openstack CLI reads it."""
    low, sep, high = text.partition(":")
    try:
        first = int(low)
        last = int(high) if sep else first
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not PORT or PORT:PORT", param_hint=option) from None
    return first, last
