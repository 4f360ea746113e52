"""`security group` and `security group rule` commands, named and optioned like the openstack
CLI's: `security group rule create web --protocol tcp --dst-port 22:23 --remote-ip 2001:db8::/64`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer

from v6fabric.cli import options
from v6fabric.cli.client import FabricClient
from v6fabric.cli.context import JsonOption, client, want_json
from v6fabric.cli.output import Column, print_list, print_resource
from v6fabric.cli.resources import (
    Description,
    Long,
    NameOrId,
    NamesOrIds,
    Project,
    compact,
    delete_each,
    require_changes,
)

security_app = typer.Typer(help="Security groups and their rules.", no_args_is_help=True)
group_app = typer.Typer(help="Security groups (/v2.0/security-groups).", no_args_is_help=True)
rule_app = typer.Typer(
    help="Security group rules (/v2.0/security-group-rules).", no_args_is_help=True
)
security_app.add_typer(group_app, name="group")
group_app.add_typer(rule_app, name="rule")

GROUPS = "security-groups"
RULES = "security-group-rules"
ICMP = ("icmp", "ipv6-icmp", "icmpv6", "1", "58")


def port_range(rule: Mapping[str, Any]) -> str:
    """22:23 for ports, type/code for ICMP, empty for any."""
    low, high = rule.get("port_range_min"), rule.get("port_range_max")
    if low is None:
        return ""
    if rule.get("protocol") in ICMP:
        return f"type {low}" + ("" if high is None else f" code {high}")
    return f"{low}:{high}"


def rule_summary(rule: Mapping[str, Any]) -> str:
    """One line a rule: `ingress IPv6 tcp 22:22 from 2001:db8::/64`."""
    parts = [rule["direction"], rule["ethertype"], rule.get("protocol") or "any", port_range(rule)]
    remote = rule.get("remote_ip_prefix") or rule.get("remote_group_id")
    if remote:
        parts.append(("from " if rule["direction"] == "ingress" else "to ") + str(remote))
    return " ".join(part for part in parts if part)


GROUP_COLUMNS = [
    Column("ID", "id"),
    Column("Name", "name"),
    Column("Description", "description"),
    Column("Project", "project_id", True),
]
GROUP_LONG = [
    *GROUP_COLUMNS,
    Column("Stateful", "stateful"),
    Column("Rules", lambda g: [rule_summary(r) for r in g.get("security_group_rules") or []]),
]
RULE_COLUMNS = [
    Column("ID", "id"),
    Column("IP Protocol", "protocol"),
    Column("Ethertype", "ethertype"),
    Column("IP Range", "remote_ip_prefix"),
    Column("Port Range", port_range),
    Column("Direction", "direction"),
    Column("Remote Security Group", "remote_group_id", True),
]
RULE_LONG = [*RULE_COLUMNS, Column("Security Group", "security_group_id", True)]
Stateful = Annotated[
    bool | None,
    typer.Option("--stateful/--stateless", help="Connection tracking (replies pass) or not."),
]


def _show_group(ctx: typer.Context, group: dict[str, Any], json_flag: bool) -> None:
    """Rules one line each in a table; as they are in JSON."""
    as_json = want_json(ctx, json_flag)
    if not as_json:
        rules = group.get("security_group_rules") or []
        group = {**group, "security_group_rules": [rule_summary(r) for r in rules]}
    print_resource(group, as_json=as_json)


# --- groups --------------------------------------------------------------------------------------


@group_app.command("create")
def group_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new group.")],
    description: Description = None,
    stateful: Stateful = None,
    project: Project = None,
    json_flag: JsonOption = False,
) -> None:
    """Create a group (it allows all egress until you add rules)."""
    attributes = compact(name=name, description=description, stateful=stateful, project_id=project)
    _show_group(ctx, client(ctx).create(GROUPS, attributes), json_flag)


@group_app.command("list")
def group_list(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("--project", help="Only this project's.")] = None,
    long: Long = False,
    json_flag: JsonOption = False,
) -> None:
    """List groups (your project's default group is created on first use)."""
    rows = client(ctx).list(GROUPS, **compact(project_id=project))
    print_list(rows, GROUP_LONG if long else GROUP_COLUMNS, as_json=want_json(ctx, json_flag))


@group_app.command("show")
def group_show(ctx: typer.Context, group: NameOrId, json_flag: JsonOption = False) -> None:
    """Show one group and its rules."""
    _show_group(ctx, client(ctx).find(GROUPS, group), json_flag)


@group_app.command("set")
def group_set(
    ctx: typer.Context,
    group: NameOrId,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    description: Description = None,
    stateful: Stateful = None,
    json_flag: JsonOption = False,
) -> None:
    """Change a group (the default group keeps its name)."""
    changes = require_changes(ctx, compact(name=name, description=description, stateful=stateful))
    api = client(ctx)
    _show_group(ctx, api.update(GROUPS, api.find_id(GROUPS, group), changes), json_flag)


@group_app.command("delete")
def group_delete(ctx: typer.Context, groups: NamesOrIds) -> None:
    """Delete groups (not while a port uses them)."""
    delete_each(ctx, GROUPS, groups)


# --- rules ---------------------------------------------------------------------------------------


def _ethertype(remote_ip: str | None, protocol: str | None) -> str:
    """As the openstack CLI guesses it: IPv6 for an IPv6 remote or ICMPv6, else IPv4."""
    if (remote_ip and ":" in remote_ip) or protocol in ("ipv6-icmp", "icmpv6"):
        return "IPv6"
    return "IPv4"


def _range(
    dst_port: str | None, icmp_type: int | None, icmp_code: int | None
) -> tuple[int | None, int | None]:
    if dst_port is not None:
        if icmp_type is not None or icmp_code is not None:
            raise typer.BadParameter(
                "give --dst-port or --icmp-type/--icmp-code", param_hint="--dst-port"
            )
        return options.port_range(dst_port)
    return icmp_type, icmp_code


def _group_id(api: FabricClient, group: str | None) -> str | None:
    return api.find_id(GROUPS, group) if group else None


@rule_app.command("create")
def rule_create(
    ctx: typer.Context,
    group: Annotated[str, typer.Argument(help="The group (name or ID) the rule goes into.")],
    protocol: Annotated[
        str | None,
        typer.Option("--protocol", help="tcp, udp, ipv6-icmp, icmp, esp, ... or 0-255 (any)."),
    ] = None,
    dst_port: Annotated[
        str | None, typer.Option("--dst-port", metavar="PORT[:PORT]", help="Port or range.")
    ] = None,
    icmp_type: Annotated[int | None, typer.Option("--icmp-type", help="ICMP type.")] = None,
    icmp_code: Annotated[int | None, typer.Option("--icmp-code", help="ICMP code.")] = None,
    remote_ip: Annotated[
        str | None, typer.Option("--remote-ip", help="Remote prefix (default: anywhere).")
    ] = None,
    remote_group: Annotated[
        str | None, typer.Option("--remote-group", help="Remote group: its members' addresses.")
    ] = None,
    ingress: Annotated[bool, typer.Option("--ingress/--egress", help="Direction.")] = True,
    ethertype: Annotated[
        str | None, typer.Option("--ethertype", help="IPv4 or IPv6 (default: from the remote).")
    ] = None,
    description: Description = None,
    project: Project = None,
    json_flag: JsonOption = False,
) -> None:
    """Add a rule to a group."""
    low, high = _range(dst_port, icmp_type, icmp_code)
    api = client(ctx)
    attributes = compact(
        security_group_id=api.find_id(GROUPS, group),
        direction="ingress" if ingress else "egress",
        ethertype=ethertype or _ethertype(remote_ip, protocol),
        protocol=protocol,
        port_range_min=low,
        port_range_max=high,
        remote_ip_prefix=remote_ip,
        remote_group_id=_group_id(api, remote_group),
        description=description,
        project_id=project,
    )
    print_resource(api.create(RULES, attributes), as_json=want_json(ctx, json_flag))


@rule_app.command("list")
def rule_list(
    ctx: typer.Context,
    group: Annotated[str | None, typer.Argument(help="Only this group's rules.")] = None,
    protocol: Annotated[str | None, typer.Option("--protocol", help="Only this protocol.")] = None,
    ethertype: Annotated[str | None, typer.Option("--ethertype", help="IPv4 or IPv6.")] = None,
    ingress: Annotated[
        bool | None, typer.Option("--ingress/--egress", help="Only this direction.")
    ] = None,
    long: Long = False,
    json_flag: JsonOption = False,
) -> None:
    """List rules."""
    api = client(ctx)
    filters = compact(
        security_group_id=_group_id(api, group),
        protocol=protocol,
        ethertype=ethertype,
        direction=None if ingress is None else ("ingress" if ingress else "egress"),
    )
    rows = api.list(RULES, **filters)
    print_list(rows, RULE_LONG if long else RULE_COLUMNS, as_json=want_json(ctx, json_flag))


@rule_app.command("show")
def rule_show(
    ctx: typer.Context,
    rule: Annotated[str, typer.Argument(help="Rule ID.")],
    json_flag: JsonOption = False,
) -> None:
    """Show one rule."""
    print_resource(client(ctx).show(RULES, rule), as_json=want_json(ctx, json_flag))


@rule_app.command("delete")
def rule_delete(
    ctx: typer.Context, rules: Annotated[list[str], typer.Argument(help="Rule IDs.")]
) -> None:
    """Delete rules."""
    delete_each(ctx, RULES, rules, by_name=False)
