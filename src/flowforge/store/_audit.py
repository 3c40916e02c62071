"""The audit log: an append-only record of who did what to which resource, and when.

Nothing in FlowForge updates or deletes a row; entries are read newest first, a page at a time,
filtered by action, actor, target and time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select

from flowforge.store._sql import SqlStore
from flowforge.store._tables import audit_log

__all__ = ["AuditEntry", "AuditLog"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One thing that happened. ``actor`` is a user id or an API key id (``actor_kind`` says
    which), None for the system itself or a caller not signed in; ``details`` never holds a
    secret."""

    action: str
    org_id: str | None
    actor: str | None
    actor_kind: str  # user | key | system | anonymous
    target_kind: str | None = None
    target_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    ip: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    id: int | None = None  # given by the log


class AuditLog:
    """Appends entries and reads them back."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def append(self, entry: AuditEntry) -> None:
        row = {name: getattr(entry, name) for name in AuditEntry.__slots__ if name != "id"}
        with self.store._write() as conn:
            conn.execute(insert(audit_log), row)

    def entries(
        self,
        org_id: str,
        *,
        action: str | None = None,
        actor: str | None = None,
        target_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[AuditEntry]:
        """An organisation's entries, newest first; ``action`` matches a whole action or, ending
        in ``.``, every action that starts with it (``workflow.``); ``before_id`` is the id of
        the last entry seen."""
        query = select(audit_log).where(audit_log.c.org_id == org_id)
        if action is not None:
            if action.endswith("."):
                query = query.where(audit_log.c.action.startswith(action, autoescape=True))
            else:
                query = query.where(audit_log.c.action == action)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        if target_id is not None:
            query = query.where(audit_log.c.target_id == target_id)
        if since is not None:
            query = query.where(audit_log.c.at >= since)
        if until is not None:
            query = query.where(audit_log.c.at < until)
        if before_id is not None:
            query = query.where(audit_log.c.id < before_id)
        query = query.order_by(audit_log.c.id.desc()).limit(limit)
        with self.store._read() as conn:
            return [AuditEntry(**row._asdict()) for row in conn.execute(query)]
