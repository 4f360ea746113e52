"""Users and projects as Keystone names them (by id, or by name in a domain), a user's roles on
a project, and the project a new token is scoped to.

Their own module because both the tokens (``identity.tokens``: whom a token is for, with which
roles) and the identity admin API (``identity.service``) find them this way, with Keystone's 400
for a request that names one badly. Roles imply others as in Keystone's defaults
(admin > member > reader).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Row, Table, select

from v6fabric.domain.constants import DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME, ROLES
from v6fabric.domain.errors import BadRequest, NotAuthenticated, NotFound
from v6fabric.store.tables import projects, role_assignments

IMPLIED_ROLES: dict[str, tuple[str, ...]] = {
    "admin": ("admin", "member", "reader"),
    "member": ("member", "reader"),
    "reader": ("reader",),
}


def find_row(conn: Connection, table: Table, ref: str) -> Row[Any] | None:
    """A project or user by id, else by name in the default domain."""
    row = conn.execute(select(table).where(table.c.id == ref)).first()
    if row is None:
        by_name = (table.c.domain_id == DEFAULT_DOMAIN_ID) & (table.c.name == ref)
        row = conn.execute(select(table).where(by_name)).first()
    return row


def require_row(conn: Connection, table: Table, ref: str, kind: str) -> Row[Any]:
    row = find_row(conn, table, ref)
    if row is None:
        raise NotFound(f"Could not find {kind}: {ref}.")
    return row


def roles_of(conn: Connection, user_id: str, project_id: str) -> tuple[str, ...]:
    """The user's roles on the project, implied ones included, in ROLES order."""
    query = select(role_assignments.c.role).where(
        (role_assignments.c.user_id == user_id) & (role_assignments.c.project_id == project_id)
    )
    held = {implied for role in conn.scalars(query) for implied in IMPLIED_ROLES.get(role, ())}
    return tuple(role for role in ROLES if role in held)


def expecting(attribute: str, target: str) -> BadRequest:
    return BadRequest(
        f"Expecting to find {attribute} in {target}. The server could not comply with the "
        "request since it is either malformed or otherwise incorrect. The client is assumed to "
        "be in error."
    )


def member(container: Any, key: str, target: str) -> Any:
    """``container[key]`` of a JSON object, or Keystone's 400 if it is missing."""
    if not isinstance(container, Mapping) or container.get(key) is None:
        raise expecting(key, target)
    return container[key]


def is_default_domain(domain: Any, target: str) -> bool:
    if not isinstance(domain, Mapping) or not ({"id", "name"} & domain.keys()):
        raise expecting("domain", target)
    if "id" in domain:
        return domain["id"] == DEFAULT_DOMAIN_ID
    return str(domain["name"]).lower() == DEFAULT_DOMAIN_NAME.lower()


def scoped_project(conn: Connection, user: Row[Any], scope: Any) -> Row[Any] | None:
    """The project a new token is scoped to; None for an unscoped token."""
    if scope is None:  # Keystone: the default project if usable, else unscoped
        if user.default_project_id is None:
            return None
        row = conn.execute(select(projects).where(projects.c.id == user.default_project_id))
        project = row.first()
        usable = project is not None and project.enabled and roles_of(conn, user.id, project.id)
        return project if usable else None
    if scope == "unscoped":
        return None
    if not isinstance(scope, Mapping):
        raise expecting("project", "scope")
    if "project" not in scope:
        raise NotAuthenticated()  # domain and system scopes are not offered
    wanted = member(scope, "project", "scope")
    if wanted.get("id") is not None:
        project = conn.execute(select(projects).where(projects.c.id == str(wanted["id"]))).first()
    elif wanted.get("name") is not None:
        default = is_default_domain(wanted.get("domain"), "project")
        by_name = (projects.c.domain_id == DEFAULT_DOMAIN_ID) & (
            projects.c.name == str(wanted["name"])
        )
        project = conn.execute(select(projects).where(by_name)).first() if default else None
    else:
        raise expecting("id or name", "project")
    if project is None or not project.enabled or not roles_of(conn, user.id, project.id):
        raise NotAuthenticated()
    return project
