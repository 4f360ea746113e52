"""Fixtures of the store tests: an empty database (SQLite, and PostgreSQL where available)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from v6fabric.store.db import Database


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        database.dispose()
