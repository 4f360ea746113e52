"""Identity: projects, users and role assignments, the token operations, the first admin.

Names and ids are interchangeable wherever a project or user is referred to, as in the openstack
CLI. Only the default domain exists. Token work lives in ``tokens.py``; this class is the one
object the API, the CLI and the start-up code hold.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row, Table, delete, func, insert, select, update

from v6fabric.domain.constants import DEFAULT_DOMAIN_ID, ROLES
from v6fabric.domain.errors import BadRequest, Conflict, NotFound
from v6fabric.identity.context import RequestContext
from v6fabric.identity.credentials import (
    CLOUDS_NAME,
    OPENRC_NAME,
    clouds_text,
    openrc_text,
    write_private_temp,
)
from v6fabric.identity.passwords import hash_password
from v6fabric.identity.principals import find_row, require_row
from v6fabric.identity.tokens import TokenService
from v6fabric.settings import Settings
from v6fabric.store.db import Database, WriteTxn
from v6fabric.store.tables import projects, role_assignments, users

ADMIN_NAME = "admin"  # the bootstrap project and user


def _check_name(name: str, kind: str) -> str:
    name = name.strip()
    if not name or len(name) > 255:
        raise BadRequest(f"Invalid {kind} name {name!r}: 1 to 255 characters are required.")
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise BadRequest(f"Unknown role {role!r}; expected one of {', '.join(ROLES)}.")
    return role


def _project_dict(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "domain_id": row.domain_id,
        "description": row.description,
        "enabled": bool(row.enabled),
    }


class IdentityService:
    """Identity over one database; one instance per process, shared by threads."""

    def __init__(
        self, db: Database, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._settings = settings
        self.tokens = TokenService(db, settings, clock)

    # --- projects, users, roles -----------------------------------------------------------

    def create_project(self, name: str, description: str = "") -> dict[str, Any]:
        name = _check_name(name, "project")
        if len(description) > 255:
            raise BadRequest("A project description may have at most 255 characters.")

        def op(txn: WriteTxn) -> dict[str, Any]:
            if find_row(txn.conn, projects, name) is not None:
                raise Conflict(f"Project {name!r} already exists in domain {DEFAULT_DOMAIN_ID}.")
            values = {"id": uuid.uuid4().hex, "name": name, "domain_id": DEFAULT_DOMAIN_ID}
            values.update(description=description, enabled=True)
            txn.conn.execute(insert(projects).values(**values))
            return values

        return self._db.write(op)

    def get_project(self, ref: str) -> dict[str, Any]:
        """A project by id or name."""
        with self._db.read() as conn:
            return _project_dict(require_row(conn, projects, ref, "project"))

    def list_projects(self) -> list[dict[str, Any]]:
        with self._db.read() as conn:
            rows = conn.execute(select(projects).order_by(projects.c.name)).all()
        return [_project_dict(row) for row in rows]

    def set_project_enabled(self, project: str, enabled: bool) -> None:
        self._set_enabled(projects, project, "project", enabled)

    def create_user(
        self, name: str, password: str, project: str | None = None, role: str | None = None
    ) -> dict[str, Any]:
        """A user, optionally with ``role`` (default member) on ``project``, its default."""
        name = _check_name(name, "user")
        if role is not None:
            _check_role(role)
            if project is None:
                raise BadRequest("A role needs a project to be granted on.")
        if not password:
            raise BadRequest("The password must not be empty.")
        password_hash = hash_password(password)  # slow on purpose: outside the transaction

        def op(txn: WriteTxn) -> None:
            conn = txn.conn
            if find_row(conn, users, name) is not None:
                raise Conflict(f"User {name!r} already exists in domain {DEFAULT_DOMAIN_ID}.")
            project_id = require_row(conn, projects, project, "project").id if project else None
            user_id = uuid.uuid4().hex
            conn.execute(
                insert(users).values(
                    id=user_id,
                    name=name,
                    domain_id=DEFAULT_DOMAIN_ID,
                    password_hash=password_hash,
                    default_project_id=project_id,
                    enabled=True,
                )
            )
            if project_id is not None:
                conn.execute(
                    insert(role_assignments).values(
                        user_id=user_id, project_id=project_id, role=role or "member"
                    )
                )

        self._db.write(op)
        return self.get_user(name)

    def get_user(self, ref: str) -> dict[str, Any]:
        """A user by id or name, with its role assignments."""
        with self._db.read() as conn:
            return self._user_dicts(conn, [require_row(conn, users, ref, "user")])[0]

    def list_users(self) -> list[dict[str, Any]]:
        with self._db.read() as conn:
            return self._user_dicts(conn, conn.execute(select(users).order_by(users.c.name)).all())

    @staticmethod
    def _user_dicts(conn: Connection, rows: list[Row[Any]]) -> list[dict[str, Any]]:
        query = (
            select(
                role_assignments.c.user_id, projects.c.id, projects.c.name, role_assignments.c.role
            )
            .join(projects, projects.c.id == role_assignments.c.project_id)
            .order_by(projects.c.name, role_assignments.c.role)
        )
        grants: dict[str, list[dict[str, str]]] = {}
        for user_id, project_id, project_name, role in conn.execute(query):
            grants.setdefault(user_id, []).append(
                {"project_id": project_id, "project_name": project_name, "role": role}
            )
        return [
            {
                "id": row.id,
                "name": row.name,
                "domain_id": row.domain_id,
                "default_project_id": row.default_project_id,
                "enabled": bool(row.enabled),
                "roles": grants.get(row.id, []),
            }
            for row in rows
        ]

    def set_user_enabled(self, user: str, enabled: bool) -> None:
        self._set_enabled(users, user, "user", enabled)

    def _set_enabled(self, table: Table, ref: str, kind: str, enabled: bool) -> None:
        def op(txn: WriteTxn) -> None:
            row = require_row(txn.conn, table, ref, kind)
            txn.conn.execute(update(table).where(table.c.id == row.id).values(enabled=enabled))

        self._db.write(op)
        self.clear_cache()

    def assign_role(self, user: str, project: str, role: str) -> None:
        """Grant ``role``; granting a role already held is not an error (as Keystone's PUT)."""
        _check_role(role)

        def op(txn: WriteTxn) -> None:
            user_id = require_row(txn.conn, users, user, "user").id
            project_id = require_row(txn.conn, projects, project, "project").id
            grant = {"user_id": user_id, "project_id": project_id, "role": role}
            held = select(role_assignments).filter_by(**grant)
            if txn.conn.execute(held).first() is None:
                txn.conn.execute(insert(role_assignments).values(**grant))

        self._db.write(op)

    def remove_role(self, user: str, project: str, role: str) -> None:
        def op(txn: WriteTxn) -> int:
            user_id = require_row(txn.conn, users, user, "user").id
            project_id = require_row(txn.conn, projects, project, "project").id
            grant = {"user_id": user_id, "project_id": project_id, "role": role}
            return txn.conn.execute(delete(role_assignments).filter_by(**grant)).rowcount

        if not self._db.write(op):
            raise NotFound(f"User {user} has no role {role} on project {project}.")
        self.clear_cache()

    # --- tokens (see tokens.py) -----------------------------------------------------------

    def authenticate(
        self, auth_body: Mapping[str, Any], *, catalog: bool = True
    ) -> tuple[str, dict[str, Any]]:
        """Issue a token for a Keystone v3 ``POST /auth/tokens`` body: (token, response body)."""
        return self.tokens.authenticate(auth_body, catalog=catalog)

    def validate_token(self, token: str) -> RequestContext:
        """The caller behind a project-scoped token (cached); NotAuthenticated otherwise."""
        return self.tokens.validate_token(token)

    def token_body(self, token: str, *, catalog: bool = True) -> dict[str, Any]:
        """The body of ``GET /auth/tokens``; NotFound unless the token is valid."""
        return self.tokens.token_body(token, catalog=catalog)

    def check_token_access(self, caller_token: str, subject_token: str) -> None:
        """Admins may inspect or revoke any token, others only their own."""
        self.tokens.check_token_access(caller_token, subject_token)

    def revoke(self, token: str) -> None:
        self.tokens.revoke(token)

    def clear_cache(self) -> None:
        self.tokens.clear_cache()

    def catalog(self) -> list[dict[str, Any]]:
        return self.tokens.catalog()

    # --- first start ----------------------------------------------------------------------

    def ensure_admin(self, credentials_dir: Path) -> Path | None:
        """Create project and user "admin" if there are no users at all, and their credentials.

        The random password exists only in the two files written here (mode 0600, written once
        at creation and never rewritten). Returns the openrc path when the admin was created
        now, else the existing openrc path if the file is there, else None.
        """
        openrc, clouds = credentials_dir / OPENRC_NAME, credentials_dir / CLOUDS_NAME
        with self._db.read() as conn:
            if conn.execute(select(func.count()).select_from(users)).scalar_one():
                return openrc if openrc.exists() else None
        password = secrets.token_urlsafe(24)
        password_hash = hash_password(password)
        credentials_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Files first, so a failure cannot leave an admin whose password nobody knows; they are
        # moved into place only if this process, not a concurrent one, created the admin.
        args = (self._settings, ADMIN_NAME, password, ADMIN_NAME)
        temps = [
            (write_private_temp(openrc, openrc_text(*args)), openrc),
            (write_private_temp(clouds, clouds_text(*args)), clouds),
        ]
        created = False
        try:
            created = self._db.write(lambda txn: _create_admin(txn, password_hash))
        finally:
            for temp, final in temps:
                if created:
                    os.replace(temp, final)
                else:
                    temp.unlink(missing_ok=True)
        return openrc if created or openrc.exists() else None


def _create_admin(txn: WriteTxn, password_hash: str) -> bool:
    """Project and user admin with the admin role, unless any user exists (checked again here
    because another server may have bootstrapped since our first look)."""
    conn = txn.conn
    if conn.execute(select(func.count()).select_from(users)).scalar_one():
        return False
    project = find_row(conn, projects, ADMIN_NAME)
    project_id = project.id if project is not None else uuid.uuid4().hex
    if project is None:
        conn.execute(
            insert(projects).values(
                id=project_id,
                name=ADMIN_NAME,
                domain_id=DEFAULT_DOMAIN_ID,
                description="Bootstrap project for the cloud administrator",
                enabled=True,
            )
        )
    user_id = uuid.uuid4().hex
    conn.execute(
        insert(users).values(
            id=user_id,
            name=ADMIN_NAME,
            domain_id=DEFAULT_DOMAIN_ID,
            password_hash=password_hash,
            default_project_id=project_id,
            enabled=True,
        )
    )
    grant = {"user_id": user_id, "project_id": project_id, "role": "admin"}
    conn.execute(insert(role_assignments).values(**grant))
    return True
