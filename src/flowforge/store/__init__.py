"""Durable state: workflow versions, executions and their journal of frames."""

from __future__ import annotations

from pathlib import Path

from flowforge.store._catalog import Conflict, Revision, TriggerSpec, WorkflowCatalog, WorkflowEntry
from flowforge.store._credentials import CredentialEntry, CredentialStore
from flowforge.store._interface import Duplicate, ExecutionStore, LeaseLost, NotFound, StoreError
from flowforge.store._memory import MemoryStore
from flowforge.store._sql import SqlStore, normalize_url

__all__ = [
    "Conflict",
    "CredentialEntry",
    "CredentialStore",
    "Duplicate",
    "ExecutionStore",
    "LeaseLost",
    "MemoryStore",
    "NotFound",
    "Revision",
    "SqlStore",
    "StoreError",
    "TriggerSpec",
    "WorkflowCatalog",
    "WorkflowEntry",
    "normalize_url",
    "open_store",
]


def open_store(url: str | None, home: Path) -> ExecutionStore:
    """The store for a URL: ``memory://``, any SQLAlchemy URL, or SQLite in ``home`` if None."""
    if url == "memory://":
        return MemoryStore()
    return SqlStore(url or f"sqlite:///{home / 'flowforge.db'}")
