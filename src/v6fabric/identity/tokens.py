"""Tokens: issue (Keystone v3 ``POST /auth/tokens``), validate, show, revoke.

Only the sha256 of a token is stored, so a copy of the database holds no usable token.
``validate_token`` runs on every API request, so what it finds is cached in memory for
``settings.token_cache_seconds`` (never past the token's expiry): a user or project disabled or a
role removed takes effect within that time (at once when done through this process, which clears
the cache); a revocation through this process takes effect at once, on other servers within the
cache time.

Roles imply others as in Keystone's defaults (admin > member > reader): a token for an admin
lists all three, and so does its ``RequestContext``.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from v6fabric.domain.constants import DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME
from v6fabric.domain.errors import NotAuthenticated, NotFound, PolicyNotAuthorized
from v6fabric.identity.context import RequestContext
from v6fabric.identity.passwords import hash_password, needs_rehash, verify_password
from v6fabric.identity.principals import (
    expecting,
    is_default_domain,
    member,
    roles_of,
    scoped_project,
)
from v6fabric.settings import Settings
from v6fabric.store.db import Database, WriteTxn
from v6fabric.store.tables import projects, tokens, users

DOMAIN = {"id": DEFAULT_DOMAIN_ID, "name": DEFAULT_DOMAIN_NAME}
PURGE_INTERVAL_SECONDS = 60.0
CACHE_MAX_ENTRIES = 10_000
_ID_NAMESPACE = uuid.UUID("6f3c1a52-7f0e-4d0b-9a57-2b1f6a0c9e11")


def _stable_id(*parts: str) -> str:
    """Ids for things we do not store (roles, services, endpoints): the same on every server."""
    return uuid.uuid5(_ID_NAMESPACE, "/".join(parts)).hex


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _iso(moment: datetime) -> str:
    """Keystone's timestamp form: UTC with microseconds and a trailing Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class _Token:
    """A valid token as read from the store."""

    user_id: str
    user_name: str
    project_id: str | None
    project_name: str | None
    roles: tuple[str, ...]
    methods: tuple[str, ...]
    audit_id: str
    issued_at: datetime  # naive UTC, as stored
    expires_at: datetime


class TokenService:
    """Token operations over one database; one instance per process, shared by threads."""

    def __init__(
        self, db: Database, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock  # wall clock (epoch seconds) for expiry; injectable for tests
        # sha256 of token -> (context, expiry as epoch seconds, monotonic time it was cached)
        self._cache: dict[str, tuple[RequestContext, float, float]] = {}
        self._cache_lock = threading.Lock()
        self._generation = 0  # bumped by revoke/clear_cache, so a racing read is not cached
        self._last_purge = float("-inf")

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC).replace(tzinfo=None)

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()
            self._generation += 1

    def authenticate(
        self, auth_body: Mapping[str, Any], *, catalog: bool = True
    ) -> tuple[str, dict[str, Any]]:
        """Issue a token for a Keystone v3 ``POST /auth/tokens`` body: (token, response body)."""
        auth = member(auth_body, "auth", "request body")
        identity = member(auth, "identity", "auth")
        methods = member(identity, "methods", "identity")
        if not isinstance(methods, list) or len(methods) != 1:
            raise NotAuthenticated()
        scope = auth.get("scope")
        if methods[0] == "password":
            user, new_hash = self._check_password(member(identity, "password", "identity"))
            token_methods: tuple[str, ...] = ("password",)
            expires_at = self._now() + timedelta(seconds=self._settings.token_ttl_seconds)
        elif methods[0] == "token":
            subject = member(member(identity, "token", "identity"), "id", "token")
            with self._db.read() as conn:
                original = self._load(conn, token_hash(str(subject)))
                user = conn.execute(select(users).where(users.c.id == original.user_id)).one()
            new_hash = None
            token_methods = ("token", *(m for m in original.methods if m != "token"))
            expires_at = original.expires_at  # rescoping never extends a token's life
        else:
            raise NotAuthenticated()
        with self._db.read() as conn:
            project = scoped_project(conn, user, scope)
            roles = roles_of(conn, user.id, project.id) if project is not None else ()
        token, now = secrets.token_urlsafe(32), self._now()
        record = _Token(
            user.id,
            user.name,
            project.id if project is not None else None,
            project.name if project is not None else None,
            roles,
            token_methods,
            secrets.token_urlsafe(16),
            now,
            expires_at,
        )
        self._db.write(
            lambda txn: self._store_token(txn, token_hash(token), record, new_hash),
            bump_revision=False,
        )
        return token, self._body(record, catalog)

    def _check_password(self, password_auth: Any) -> tuple[Row[Any], str | None]:
        """The user named in a password method, and a new hash if its stored one is outdated."""
        user = member(password_auth, "user", "password")
        password = member(user, "password", "user")
        with self._db.read() as conn:
            if user.get("id") is not None:
                row = conn.execute(select(users).where(users.c.id == str(user["id"]))).first()
            elif user.get("name") is not None:
                default = is_default_domain(user.get("domain"), "user")
                by_name = (users.c.domain_id == DEFAULT_DOMAIN_ID) & (
                    users.c.name == str(user["name"])
                )
                row = conn.execute(select(users).where(by_name)).first() if default else None
            else:
                raise expecting("id or name", "user")
        valid = verify_password(str(password), row.password_hash if row is not None else None)
        if row is None or not valid or not row.enabled:
            raise NotAuthenticated()
        return row, hash_password(str(password)) if needs_rehash(row.password_hash) else None

    def _store_token(
        self, txn: WriteTxn, id_hash: str, record: _Token, new_hash: str | None
    ) -> None:
        conn = txn.conn
        conn.execute(
            insert(tokens).values(
                id_hash=id_hash,
                user_id=record.user_id,
                project_id=record.project_id,
                methods=list(record.methods),
                audit_id=record.audit_id,
                issued_at=record.issued_at,
                expires_at=record.expires_at,
                revoked=False,
            )
        )
        if new_hash is not None:
            conn.execute(
                update(users).where(users.c.id == record.user_id).values(password_hash=new_hash)
            )
        if self._clock() - self._last_purge >= PURGE_INTERVAL_SECONDS:
            self._last_purge = self._clock()
            conn.execute(delete(tokens).where(tokens.c.expires_at <= record.issued_at))

    def _load(self, conn: Connection, id_hash: str) -> _Token:
        """The token with this hash if it is still good, else NotAuthenticated."""
        query = (
            select(
                tokens,
                users.c.name.label("user_name"),
                users.c.enabled.label("user_enabled"),
                projects.c.name.label("project_name"),
                projects.c.enabled.label("project_enabled"),
            )
            .join(users, users.c.id == tokens.c.user_id)
            .outerjoin(projects, projects.c.id == tokens.c.project_id)
            .where(tokens.c.id_hash == id_hash)
        )
        row = conn.execute(query).first()
        if row is None or row.revoked or row.expires_at <= self._now() or not row.user_enabled:
            raise NotAuthenticated()
        roles: tuple[str, ...] = ()
        if row.project_id is not None:
            roles = roles_of(conn, row.user_id, row.project_id) if row.project_enabled else ()
            if not roles:
                raise NotAuthenticated()
        return _Token(
            row.user_id,
            row.user_name,
            row.project_id,
            row.project_name,
            roles,
            tuple(row.methods),
            row.audit_id,
            row.issued_at,
            row.expires_at,
        )

    def validate_token(self, token: str) -> RequestContext:
        """The caller behind a project-scoped token; NotAuthenticated for anything else."""
        key, now = token_hash(token), time.monotonic()
        cache_seconds = self._settings.token_cache_seconds
        with self._cache_lock:
            hit = self._cache.get(key)
            generation = self._generation
        if hit is not None and now - hit[2] < cache_seconds and self._clock() < hit[1]:
            return hit[0]
        try:
            with self._db.read() as conn:
                record = self._load(conn, key)
            if record.project_id is None or record.project_name is None:
                raise NotAuthenticated()
        except NotAuthenticated:
            with self._cache_lock:
                self._cache.pop(key, None)
            raise
        context = RequestContext(
            record.user_id,
            record.user_name,
            record.project_id,
            record.project_name,
            frozenset(record.roles),
        )
        if cache_seconds > 0:
            expires = record.expires_at.replace(tzinfo=UTC).timestamp()
            with self._cache_lock:
                if generation != self._generation:
                    return context  # revoked or changed while we read: do not cache old news
                if len(self._cache) >= CACHE_MAX_ENTRIES:
                    self._cache = {
                        k: v for k, v in self._cache.items() if now - v[2] < cache_seconds
                    }
                self._cache[key] = (context, expires, now)
        return context

    def token_body(self, token: str, *, catalog: bool = True) -> dict[str, Any]:
        """The body of ``GET /auth/tokens``; NotFound if the token is not valid (any scope)."""
        try:
            with self._db.read() as conn:
                return self._body(self._load(conn, token_hash(token)), catalog)
        except NotAuthenticated:
            raise NotFound("Could not find token.") from None

    def check_token_access(self, caller_token: str, subject_token: str) -> None:
        """Keystone's rule for inspecting or revoking a token: an admin, or the token's owner."""
        with self._db.read() as conn:
            caller = self._load(conn, token_hash(caller_token))
            try:
                subject = self._load(conn, token_hash(subject_token))
            except NotAuthenticated:
                raise NotFound("Could not find token.") from None
        if "admin" not in caller.roles and caller.user_id != subject.user_id:
            raise PolicyNotAuthorized(action="identity:validate_token")

    def revoke(self, token: str) -> None:
        """Revoke a token; this process stops honouring it at once, others within cache time."""
        key, now = token_hash(token), self._now()

        def op(txn: WriteTxn) -> int:
            good = (tokens.c.id_hash == key) & ~tokens.c.revoked & (tokens.c.expires_at > now)
            return txn.conn.execute(update(tokens).where(good).values(revoked=True)).rowcount

        revoked = self._db.write(op, bump_revision=False)
        with self._cache_lock:  # after the commit, so no reader can cache the token again
            self._cache.pop(key, None)
            self._generation += 1
        if not revoked:
            raise NotFound("Could not find token.")

    def _body(self, record: _Token, catalog: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "methods": list(record.methods),
            "user": {
                "id": record.user_id,
                "name": record.user_name,
                "domain": dict(DOMAIN),
                "password_expires_at": None,
            },
            "audit_ids": [record.audit_id],
            "issued_at": _iso(record.issued_at),
            "expires_at": _iso(record.expires_at),
        }
        if record.project_id is not None:
            body["project"] = {"id": record.project_id, "name": record.project_name}
            body["project"]["domain"] = dict(DOMAIN)
            body["is_domain"] = False
            body["roles"] = [{"id": _stable_id("role", r), "name": r} for r in record.roles]
            if catalog:
                body["catalog"] = self.catalog()
        return {"token": body}

    def catalog(self) -> list[dict[str, Any]]:
        """The service catalog: Neutron at base_url, this identity API at identity_url."""
        region = self._settings.region
        entries = [
            ("network", "neutron", self._settings.base_url),
            ("identity", "keystone", self._settings.identity_url),
        ]
        return [
            {
                "type": kind,
                "name": name,
                "id": _stable_id("service", kind),
                "endpoints": [
                    {
                        "id": _stable_id("endpoint", kind, interface, region),
                        "interface": interface,
                        "region": region,
                        "region_id": region,
                        "url": url,
                    }
                    for interface in ("public", "internal", "admin")
                ],
            }
            for kind, name, url in entries
        ]
