"""Shared fixtures. The suite runs on SQLite by default and on PostgreSQL when
FLOWFORGE_TEST_DATABASE_URL names one (each test then gets a schema of its own)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from flowforge.store import ExecutionStore, MemoryStore, SqlStore, normalize_url

POSTGRES_URL = os.environ.get("FLOWFORGE_TEST_DATABASE_URL")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's ~/.flowforge."""
    monkeypatch.setenv("FLOWFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FLOWFORGE_DATABASE_URL", raising=False)


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: SQLite in tmp_path, or a fresh PostgreSQL schema."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / 'flowforge.db'}"
        return
    base = normalize_url(POSTGRES_URL)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        joiner = "&" if "?" in base else "?"
        yield f"{base}{joiner}options=-csearch_path%3D{schema}"
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def make_store(database_url: str) -> Iterator[Callable[[], SqlStore]]:
    """Opens SqlStores on the test's database (several, as several processes would)."""
    opened: list[SqlStore] = []

    def make() -> SqlStore:
        store = SqlStore(database_url)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[[], SqlStore]) -> ExecutionStore:
    return make_store()


@pytest.fixture
def memory_store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[str]:
    """``host:port`` of a Temporal server (namespace ``default``) shared by the session: a dev
    server started on first use, or the one FLOWFORGE_TEST_TEMPORAL_ADDRESS names. Tests keep
    apart by task queue and workflow id."""
    # imported here: sessions without Temporal tests do not pay for importing temporalio
    from temporal_support import temporal_address

    with temporal_address() as address:
        yield address
