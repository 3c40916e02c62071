"""Shares: one workflow made visible to a user, or to a whole organisation, outside its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from flowforge.store._sql import SqlStore
from flowforge.store._tables import shares

__all__ = ["Share", "ShareStore", "granted_to"]


def granted_to(user_id: str | None, org_id: str) -> ColumnElement[bool]:
    """The shares granted to a user (None: a service key, which is nobody) or to their
    organisation."""
    return or_(
        and_(shares.c.grantee_kind == "user", shares.c.grantee_id == (user_id or "")),
        and_(shares.c.grantee_kind == "org", shares.c.grantee_id == org_id),
    )


@dataclass(frozen=True, slots=True)
class Share:
    workflow_id: str
    grantee_kind: str  # user | org
    grantee_id: str
    access: str  # view | run | edit
    granted_by: str
    created_at: datetime


class ShareStore:
    """The shares of the catalogue's workflows; they go with their workflow."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def grant(
        self, workflow_id: str, grantee_kind: str, grantee_id: str, access: str, granted_by: str
    ) -> tuple[Share, str | None]:
        """Grant (or change) a share; give it and the access it replaced, if any."""
        where = and_(
            shares.c.workflow_id == workflow_id,
            shares.c.grantee_kind == grantee_kind,
            shares.c.grantee_id == grantee_id,
        )
        share = Share(workflow_id, grantee_kind, grantee_id, access, granted_by, datetime.now(UTC))
        for attempt in (1, 2):
            try:
                with self.store._write() as conn:
                    before = conn.execute(select(shares.c.access).where(where)).scalar()
                    if before is None:
                        conn.execute(
                            shares.insert(),
                            {name: getattr(share, name) for name in Share.__slots__},
                        )
                    else:
                        conn.execute(
                            update(shares).where(where).values(access=access, granted_by=granted_by)
                        )
                return share, None if before is None else str(before)
            except IntegrityError:  # PostgreSQL: a concurrent grant inserted it first
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def revoke(self, workflow_id: str, grantee_kind: str, grantee_id: str) -> bool:
        """Remove a share; whether there was one."""
        with self.store._write() as conn:
            return bool(
                conn.execute(
                    delete(shares).where(
                        shares.c.workflow_id == workflow_id,
                        shares.c.grantee_kind == grantee_kind,
                        shares.c.grantee_id == grantee_id,
                    )
                ).rowcount
            )

    def of_workflow(self, workflow_id: str) -> list[Share]:
        """Every share of a workflow, oldest first."""
        query = (
            select(shares)
            .where(shares.c.workflow_id == workflow_id)
            .order_by(shares.c.created_at, shares.c.grantee_kind, shares.c.grantee_id)
        )
        with self.store._read() as conn:
            return [Share(**row._asdict()) for row in conn.execute(query)]

    def granted(
        self, workflow_ids: list[str], user_id: str | None, org_id: str
    ) -> dict[str, list[tuple[str, str]]]:
        """For each of these workflows shared with the user or their organisation, the
        (grantee kind, access) pairs granted: ``("user", "edit")``, ``("org", "view")``."""
        if not workflow_ids:
            return {}
        query = select(shares.c.workflow_id, shares.c.grantee_kind, shares.c.access).where(
            shares.c.workflow_id.in_(workflow_ids), granted_to(user_id, org_id)
        )
        found: dict[str, list[tuple[str, str]]] = {}
        with self.store._read() as conn:
            for row in conn.execute(query):
                found.setdefault(row.workflow_id, []).append((row.grantee_kind, row.access))
        return found
