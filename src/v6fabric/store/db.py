"""Engine, transactions and the global revision.

Every write runs in one transaction that first bumps the global revision. On PostgreSQL that row
update also serialises writers (its row lock is held until commit); on SQLite a process-wide lock
plus ``BEGIN IMMEDIATE`` does the same without SQLite's sleeping busy handler. Serialised writers
make IPAM decisions race-free; the ``ip_allocations`` primary key stays as the last guard.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import QueuePool

from v6fabric.store.journal import WriteJournal
from v6fabric.store.tables import fabric_revision

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


@dataclass
class WriteTxn:
    """A write transaction: the connection and the global revision it produced."""

    conn: Connection
    revision: int | None  # None for writes that are not network state (tokens)


class RetryableConflict(Exception):
    """Raised inside a write when a concurrent writer won a race; the operation is redone."""


class Database:
    """One database: an engine plus the write discipline every service uses."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock = threading.Lock()
        self._listeners: list[Callable[[int], None]] = []
        self.journal = WriteJournal()
        if self.is_sqlite:
            self.engine: Engine = create_engine(
                url,
                poolclass=QueuePool,
                pool_size=20,
                max_overflow=20,
                connect_args={"check_same_thread": False, "timeout": 30},
                json_serializer=_json_dumps,
                json_deserializer=orjson.loads,
            )
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            self.engine = create_engine(
                url,
                pool_size=20,
                max_overflow=20,
                pool_pre_ping=True,
                json_serializer=_json_dumps,
                json_deserializer=orjson.loads,
            )
        self.journal.attach(self.engine)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only snapshot (one transaction)."""
        with self.engine.connect() as conn:
            yield conn
            conn.rollback()

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read transaction in which every statement sees the same committed state.

        SQLite's WAL read transaction already is one; PostgreSQL needs REPEATABLE READ (its
        default READ COMMITTED lets each statement see later commits).
        """
        with self.engine.connect() as conn:
            if not self.is_sqlite:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            yield conn
            conn.rollback()

    @contextmanager
    def _write_once(self, bump: bool) -> Iterator[WriteTxn]:
        if self.is_sqlite:
            with self._write_lock, self.engine.connect() as conn:
                conn.info["immediate"] = True
                with conn.begin():
                    yield from self._recorded(conn, bump)
        else:
            with self.engine.begin() as conn:
                yield from self._recorded(conn, bump)

    def _recorded(self, conn: Connection, bump: bool) -> Iterator[WriteTxn]:
        """The transaction's body; a revision-bumping write is journaled (``store.journal``)."""
        if not bump:
            yield WriteTxn(conn, None)
            return
        try:
            self.journal.begin(conn)
            txn = WriteTxn(conn, _bump_revision(conn))
            yield txn
            self.journal.commit(conn, txn.revision)  # type: ignore[arg-type]
        finally:
            self.journal.end(conn)

    def write(
        self, operation: Callable[[WriteTxn], T], attempts: int = 5, bump_revision: bool = True
    ) -> T:
        """Run ``operation`` in one write transaction, redoing it if a race was lost.

        ``bump_revision=False`` is for bookkeeping that no agent must react to (tokens).
        """
        for attempt in range(attempts):
            try:
                with self._write_once(bump_revision) as txn:
                    result = operation(txn)
                if txn.revision is not None:
                    for listener in self._listeners:
                        listener(txn.revision)
                return result
            except (RetryableConflict, IntegrityError, OperationalError) as exc:
                if attempt == attempts - 1 or not _is_retryable(exc):
                    raise
        raise AssertionError("unreachable")

    def on_commit(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(revision)`` after each committed write that bumped the revision
        (in the writing thread): how this process's long-polls wake at once."""
        self._listeners.append(listener)

    def revision(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(fabric_revision.c.value)).scalar_one())

    def dispose(self) -> None:
        self.engine.dispose()


def _json_dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def _is_retryable(exc: Exception) -> bool:
    if isinstance(exc, RetryableConflict):
        return True
    message = str(exc).lower()
    return any(
        word in message
        for word in (
            "ip_allocations",  # an address another writer took first
            "database is locked",
            "deadlock",
            "could not serialize",
        )
    )


_BUMP = (
    update(fabric_revision)
    .values(value=fabric_revision.c.value + 1)
    .returning(fabric_revision.c.value)
)


def _bump_revision(conn: Connection) -> int:
    return int(conn.execute(_BUMP).scalar_one())


def _sqlite_on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    if conn.info.pop("immediate", False):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def sqlite_url(state_dir: Path) -> str:
    return f"sqlite:///{state_dir / 'v6fabric.db'}"


def migrate(db: Database) -> None:
    """Bring the schema to the newest Alembic revision and make sure the revision row exists."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with db.engine.begin() as conn:
        if conn.execute(text("SELECT count(*) FROM fabric_revision")).scalar_one() == 0:
            conn.execute(fabric_revision.insert().values(id=1, value=0))
