"""Query-string handling of Neutron list requests: filters, fields, sorting, pagination links."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from v6fabric.domain.errors import HTTPBadRequest
from v6fabric.services.query import ListQuery, parse_bool

RESERVED = {"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse"}


def parse_list_query(request: Request) -> tuple[ListQuery, list[str]]:
    """The list query and the requested ``fields`` (empty: all)."""
    filters: dict[str, list[str]] = defaultdict(list)
    fields: list[str] = []
    sort_keys: list[str] = []
    sort_dirs: list[str] = []
    limit: int | None = None
    marker: str | None = None
    page_reverse = False
    for key, value in request.query_params.multi_items():
        if key == "fields":
            fields.extend(v for v in value.split(",") if v)
        elif key == "sort_key":
            sort_keys.append(value)
        elif key == "sort_dir":
            sort_dirs.append(value)
        elif key == "limit":
            try:
                limit = int(value)
            except ValueError:
                raise HTTPBadRequest(msg=f"'{value}' is not an integer") from None
            if limit < 0:
                raise HTTPBadRequest(msg=f"Limit must be an integer 0 or greater and not '{value}'")
        elif key == "marker":
            marker = value
        elif key == "page_reverse":
            page_reverse = parse_bool(value)
        else:
            filters[key].append(value)
    if sort_dirs and len(sort_dirs) != len(sort_keys):
        raise HTTPBadRequest(msg="The number of sort_keys and sort_dirs must be same")
    sorts = list(zip(sort_keys, sort_dirs or ["asc"] * len(sort_keys), strict=True))
    query = ListQuery(
        filters=dict(filters),
        sorts=sorts,
        limit=limit or None,
        marker=marker,
        page_reverse=page_reverse,
    )
    return query, fields


def select_fields(item: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    if not fields:
        return item
    return {k: item[k] for k in fields if k in item}


def page_links(request: Request, query: ListQuery, items: list[dict[str, Any]]) -> list[dict]:
    """Neutron's ``<plural>_links``: next when the page is full, previous after a marker."""
    if not query.limit or not items:
        return []
    base = [
        (k, v) for k, v in request.query_params.multi_items() if k not in ("marker", "page_reverse")
    ]
    url = str(request.url.replace(query=None))
    links = []
    if len(items) >= query.limit:
        last = items[0] if query.page_reverse else items[-1]
        links.append({"rel": "next", "href": f"{url}?{urlencode([*base, ('marker', last['id'])])}"})
    if query.marker:
        first = items[-1] if query.page_reverse else items[0]
        pairs = [*base, ("marker", first["id"]), ("page_reverse", "True")]
        links.append({"rel": "previous", "href": f"{url}?{urlencode(pairs)}"})
    return links
