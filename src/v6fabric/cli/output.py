"""Rendering: rich tables for people, raw JSON for scripts, and one error format."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

SHORT_ID = 8
PIPE_WIDTH = 4096  # tables take only the width they need; this just stops folding
FULL_ID = 36


def console(*, stderr: bool = False) -> Console:
    """Piped output gets a wide fixed width so that rows are not folded for grep and awk."""
    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, width=PIPE_WIDTH if wide else None, highlight=False)


def short_id(value: object) -> str:
    return str(value)[:SHORT_ID]


def _item(item: object, short: bool) -> str:
    """One element of a list attribute, recognised by its shape rather than its name."""
    if not isinstance(item, Mapping):
        return short_id(item) if short else str(item)
    keys = set(item)
    if {"ip_address", "subnet_id"} <= keys:  # fixed_ips
        subnet = short_id(item["subnet_id"]) if short else item["subnet_id"]
        return f"{item['ip_address']} ({subnet})"
    if {"start", "end"} <= keys:  # allocation_pools
        return f"{item['start']}-{item['end']}"
    if {"destination", "nexthop"} <= keys:  # host_routes
        return f"{item['destination']} via {item['nexthop']}"
    if "ip_address" in keys:  # allowed_address_pairs
        mac = item.get("mac_address")
        return f"{item['ip_address']} ({mac})" if mac else str(item["ip_address"])
    return ", ".join(f"{k}={v}" for k, v in item.items())


def format_value(value: object, *, short: bool = False) -> str:
    """A cell: lists one element a line, ids shortened where a list column asks for it."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Mapping):
        return "\n".join(f"{k}={format_value(v)}" for k, v in sorted(value.items()))
    if isinstance(value, list | tuple):
        return "\n".join(_item(item, short) for item in value)
    return short_id(value) if short else str(value)


@dataclass(frozen=True)
class Column:
    """A list column: the header, the attribute, and whether ids in it are shortened."""

    header: str
    key: str | Callable[[Mapping[str, Any]], object]
    short: bool = False

    def cell(self, row: Mapping[str, Any]) -> Text:
        value = self.key(row) if callable(self.key) else row.get(self.key)
        return Text("" if value is None else format_value(value, short=self.short))


def print_json(data: object) -> None:
    """Only the document on stdout, so `| jq` and json.loads work."""
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def print_resource(resource: Mapping[str, Any], *, as_json: bool) -> None:
    """A Field/Value table of every attribute (or the raw object)."""
    if as_json:
        print_json(resource)
        return
    table = Table("Field")
    table.add_column("Value", overflow="fold")
    for key in sorted(resource):
        table.add_row(Text(key), Text(format_value(resource[key])))
    console().print(table)


def print_list(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], *, as_json: bool
) -> None:
    """A table of the chosen columns (or the raw objects as one JSON array)."""
    if as_json:
        print_json(list(rows))
        return
    table = Table()
    for column in columns:
        if column.key == "id":  # whole, on one line: it is what people copy
            table.add_column(column.header, no_wrap=True, min_width=FULL_ID)
        else:
            table.add_column(column.header, overflow="fold")
    for row in rows:
        table.add_row(*(column.cell(row) for column in columns))
    console().print(table)


def print_error(message: str) -> None:
    """Red, on stderr, without markup interpretation (messages contain [::1] and the like)."""
    console(stderr=True).print(Text(f"Error: {message}", style="red"))
