"""Fixtures shared by every test package.

Databases:
- ``pg_url``: the PostgreSQL server for tests, from ``V6FABRIC_TEST_PG_URL`` (``./scripts/test.sh``
  starts a throwaway one and sets it). Unset: the test is skipped, or fails when ``CI`` is set.
- ``pg_database_url``: a new, empty PostgreSQL database for one test, dropped afterwards.
- ``sqlite_database_url``: a new SQLite file in the test's ``tmp_path``.
- ``database_url``: one of the two, parametrised, so a test written once runs on both backends.

Tests that use a PostgreSQL fixture are marked ``postgres`` automatically (``-m "not postgres"``
deselects them).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# Tests marked `uml` run inside one User-Mode-Linux guest (tests/uml_plugin.py).
pytest_plugins = ["tests.uml_plugin"]

PG_URL_ENV = "V6FABRIC_TEST_PG_URL"
# Every server the tests start (in process or as `v6fabric up`) checks, after each commit, that
# compiling hosts from its incrementally kept inputs equals compiling a full read of the store.
os.environ.setdefault("V6FABRIC_VERIFY_LIVE", "1")
_PG_FIXTURES = {"pg_url", "pg_database_url"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _PG_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_url() -> str:
    """SQLAlchemy URL of the test PostgreSQL server's base database."""
    url = os.environ.get(PG_URL_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_URL_ENV} is not set, and CI must run the PostgreSQL tests")
        pytest.skip(f"{PG_URL_ENV} is not set (./scripts/test.sh starts a PostgreSQL for tests)")
    return url


@contextmanager
def _fresh_pg_database(base_url: str) -> Iterator[str]:
    """Create an empty database beside ``base_url``'s, yield its URL, then drop it."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    base = make_url(base_url)
    admin_dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"v6f_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        # FORCE ends connections a test left open (an engine not disposed, a thread).
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def pg_database_url(pg_url: str) -> Iterator[str]:
    """SQLAlchemy URL of a new, empty PostgreSQL database, dropped after the test."""
    with _fresh_pg_database(pg_url) as url:
        yield url


@pytest.fixture
def sqlite_database_url(tmp_path: Path) -> str:
    """SQLAlchemy URL of a new SQLite file in the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'v6fabric.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """A new, empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_database_url")
    return request.getfixturevalue("pg_database_url")
