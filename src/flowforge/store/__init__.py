"""Durable state: workflow versions, executions and their journal of frames; the catalogue,
credentials, the directory of organisations and users, shares and the audit log.

The SQL stores of the security package (API keys, sessions, challenges, password failures) live
in ``_auth`` and are imported by ``flowforge.security.auth`` alone: they bring eth-account,
which commands that never authenticate anybody need not load."""

from __future__ import annotations

from pathlib import Path

from flowforge.store._audit import AuditEntry, AuditLog
from flowforge.store._catalog import Revision, TriggerSpec, WorkflowCatalog, WorkflowEntry
from flowforge.store._credentials import CredentialEntry, CredentialStore
from flowforge.store._directory import Directory, Member, Organisation, User
from flowforge.store._interface import (
    Conflict,
    Duplicate,
    ExecutionStore,
    LastRun,
    LeaseLost,
    NotFound,
    StoreError,
)
from flowforge.store._memory import MemoryStore
from flowforge.store._shares import Share, ShareStore
from flowforge.store._sql import SqlStore, normalize_url

__all__ = [
    "AuditEntry",
    "AuditLog",
    "Conflict",
    "CredentialEntry",
    "CredentialStore",
    "Directory",
    "Duplicate",
    "ExecutionStore",
    "LastRun",
    "LeaseLost",
    "Member",
    "MemoryStore",
    "NotFound",
    "Organisation",
    "Revision",
    "Share",
    "ShareStore",
    "SqlStore",
    "StoreError",
    "TriggerSpec",
    "User",
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
