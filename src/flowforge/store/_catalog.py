"""The catalogue: named workflows, their numbered revisions and the triggers of active ones.

Every save stores the definition as an immutable, content-addressed version and adds a revision
(number and version id) to the workflow; the workflow row points at its current revision and
carries the number, which optimistic locking compares. A workflow's triggers have rows only
while it is active, so "which workflow answers this webhook" and "which schedules are due" are
single indexed reads that every server process sharing the database agrees on.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, String, and_, cast, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from flowforge.engine.frames import DEFAULT_ORG, ExecutionRecord, ExecutionStatus
from flowforge.model import Workflow, parse_workflow
from flowforge.store._interface import Conflict, NotFound
from flowforge.store._shares import granted_to
from flowforge.store._sql import SqlStore, older_than
from flowforge.store._tables import (
    canonical,
    executions,
    meta,
    shares,
    triggers,
    workflow_revisions,
    workflow_versions,
    workflows,
)

__all__ = ["Revision", "TriggerSpec", "WorkflowCatalog", "WorkflowEntry"]


@dataclass(frozen=True, slots=True)
class WorkflowEntry:
    """A workflow in the catalogue, at its current revision."""

    id: str
    org_id: str
    name: str
    description: str | None
    tags: list[str]
    active: bool
    version: int
    version_id: str
    source_path: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Revision:
    """One save of a workflow."""

    workflow_id: str
    number: int
    version_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """What an active workflow listens to: a webhook path, a schedule or other runs' failures."""

    node_id: str
    kind: str  # webhook | schedule | error
    path: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    next_at: datetime | None = None


class WorkflowCatalog:
    """The catalogue on the same database (and connections) as a SqlStore."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.changes = 0
        """Counts the writes made through this object, so caches of what it read can tell
        when they are stale (``Server.webhook``)."""

    # -- workflows

    def create(
        self,
        workflow: Workflow,
        *,
        active: bool = False,
        trigger_specs: Sequence[TriggerSpec] = (),
        source_path: str | None = None,
        org_id: str = DEFAULT_ORG,
    ) -> WorkflowEntry:
        """Add a workflow of ``org_id`` at revision 1; Conflict if the organisation has a
        workflow of that name or, when it starts active, one of its webhook paths is taken
        (webhook paths are one namespace for the whole server: /hooks/{path})."""
        vid, definition = canonical(workflow)
        now = _now()
        entry = WorkflowEntry(
            id=str(uuid.uuid4()),
            org_id=org_id,
            name=workflow.name,
            description=workflow.description,
            tags=list(workflow.tags),
            active=active,
            version=1,
            version_id=vid,
            source_path=source_path,
            created_at=now,
            updated_at=now,
        )
        try:
            with self._write() as conn:
                self._check_name(conn, org_id, workflow.name, None)
                self._put_version(conn, vid, workflow.name, definition, now)
                conn.execute(insert(workflows), _entry_row(entry))
                conn.execute(
                    insert(workflow_revisions),
                    {"workflow_id": entry.id, "number": 1, "version_id": vid, "created_at": now},
                )
                if active:
                    self._set_triggers(conn, entry.id, trigger_specs)
        except IntegrityError:  # PostgreSQL: a concurrent create took the name after the check
            raise Conflict("name", f"a workflow named {workflow.name!r} exists already") from None
        return entry

    def update(
        self,
        workflow_id: str,
        workflow: Workflow,
        *,
        expected_version: int | None = None,
        trigger_specs: Sequence[TriggerSpec] = (),
    ) -> WorkflowEntry:
        """Save a new revision; Conflict when ``expected_version`` is not the current one (an
        edit based on an older revision), or the name or a webhook path is taken. Saving the
        current definition again changes nothing."""
        vid, definition = canonical(workflow)
        now = _now()
        with self._write() as conn:
            current = self._get(conn, workflow_id, lock=True)
            if expected_version is not None and expected_version != current.version:
                raise Conflict(
                    "version",
                    f"workflow {workflow_id} is at version {current.version}, not "
                    f"{expected_version}: reload it and apply the change again",
                )
            if vid == current.version_id:
                return current
            self._check_name(conn, current.org_id, workflow.name, workflow_id)
            self._put_version(conn, vid, workflow.name, definition, now)
            changes = {
                "name": workflow.name,
                "description": workflow.description,
                "tags": list(workflow.tags),
                "version": current.version + 1,
                "version_id": vid,
                "updated_at": now,
            }
            done = conn.execute(
                update(workflows)
                .where(workflows.c.id == workflow_id, workflows.c.version == current.version)
                .values(**changes)
            )
            if done.rowcount != 1:  # another process saved in between (PostgreSQL)
                raise Conflict("version", f"workflow {workflow_id} changed while saving")
            conn.execute(
                insert(workflow_revisions),
                {
                    "workflow_id": workflow_id,
                    "number": current.version + 1,
                    "version_id": vid,
                    "created_at": now,
                },
            )
            if current.active:
                self._set_triggers(conn, workflow_id, trigger_specs)
            return self._get(conn, workflow_id)

    def set_active(
        self, workflow_id: str, active: bool, trigger_specs: Sequence[TriggerSpec] = ()
    ) -> WorkflowEntry:
        """Activate (register the triggers) or deactivate (remove them) a workflow."""
        with self._write() as conn:
            self._get(conn, workflow_id, lock=True)
            conn.execute(
                update(workflows)
                .where(workflows.c.id == workflow_id)
                .values(active=active, updated_at=_now())
            )
            self._set_triggers(conn, workflow_id, trigger_specs if active else ())
            return self._get(conn, workflow_id)

    def delete(self, workflow_id: str) -> None:
        """Remove a workflow, its revisions and triggers; its runs and versions stay."""
        with self._write() as conn:
            self._get(conn, workflow_id)
            conn.execute(delete(triggers).where(triggers.c.workflow_id == workflow_id))
            conn.execute(
                delete(workflow_revisions).where(workflow_revisions.c.workflow_id == workflow_id)
            )
            conn.execute(delete(workflows).where(workflows.c.id == workflow_id))

    def get(self, workflow_id: str) -> WorkflowEntry:
        """The workflow; NotFound if there is none."""
        with self.store._read() as conn:
            return self._get(conn, workflow_id)

    def find(self, id_or_name: str, org_id: str = DEFAULT_ORG) -> WorkflowEntry:
        """The workflow with this id (of any organisation: the caller decides who may see
        it), or else the one of ``org_id`` with this name; NotFound if neither."""
        is_id = workflows.c.id == id_or_name
        query = (
            select(workflows)
            .where(or_(is_id, and_(workflows.c.org_id == org_id, workflows.c.name == id_or_name)))
            .order_by(is_id.desc())
            .limit(1)
        )
        with self.store._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no workflow {id_or_name!r}")
        return _entry(row)

    def definition(self, entry: WorkflowEntry) -> Workflow:
        """The definition of the workflow's current revision."""
        return self.store.get_workflow_version(entry.version_id)

    def list_workflows(
        self,
        *,
        limit: int = 50,
        before: tuple[datetime, str] | None = None,
        active: bool | None = None,
        tag: str | None = None,
        search: str | None = None,
        org_id: str | None = None,
        shared_with: tuple[str | None, str] | None = None,
    ) -> list[WorkflowEntry]:
        """Most recently updated first; ``before`` is the (updated_at, id) of the last seen.
        With ``org_id``, the workflows of that organisation and, with ``shared_with`` (a user
        id and their organisation's id), those shared with that user or organisation too."""
        query = select(workflows)
        if org_id is not None:
            mine = workflows.c.org_id == org_id
            if shared_with is not None:
                shared = select(shares.c.workflow_id).where(granted_to(*shared_with))
                mine = or_(mine, workflows.c.id.in_(shared))
            query = query.where(mine)
        if active is not None:
            query = query.where(workflows.c.active == active)
        if tag is not None:
            query = query.where(
                cast(workflows.c.tags, String).like(f'%"{_escape_like(tag)}"%', escape="\\")
            )
        if search:
            query = query.where(workflows.c.name.ilike(f"%{_escape_like(search)}%", escape="\\"))
        if before is not None:
            query = query.where(*older_than(workflows.c.updated_at, workflows.c.id, before))
        query = query.order_by(workflows.c.updated_at.desc(), workflows.c.id.desc()).limit(limit)
        with self.store._read() as conn:
            return [_entry(row) for row in conn.execute(query)]

    # -- revisions

    def revisions(
        self, workflow_id: str, *, limit: int = 50, before: int | None = None
    ) -> list[Revision]:
        """Newest first; ``before`` is the number of the last revision seen."""
        query = select(workflow_revisions).where(workflow_revisions.c.workflow_id == workflow_id)
        if before is not None:
            query = query.where(workflow_revisions.c.number < before)
        query = query.order_by(workflow_revisions.c.number.desc()).limit(limit)
        with self.store._read() as conn:
            self._get(conn, workflow_id)
            return [_revision(row) for row in conn.execute(query)]

    def revision(self, workflow_id: str, number: int) -> tuple[Revision, Workflow]:
        """One revision and its definition; NotFound if the workflow or revision is missing."""
        query = (
            select(workflow_revisions, workflow_versions.c.definition)
            .join(workflow_versions, workflow_versions.c.id == workflow_revisions.c.version_id)
            .where(
                workflow_revisions.c.workflow_id == workflow_id,
                workflow_revisions.c.number == number,
            )
        )
        with self.store._read() as conn:
            self._get(conn, workflow_id)
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"workflow {workflow_id} has no version {number}")
        where = f"workflow {workflow_id} version {number}"
        return _revision(row), parse_workflow(row.definition, "json", where)

    # -- triggers

    def webhook(self, path: str) -> tuple[WorkflowEntry, TriggerSpec] | None:
        """The active workflow and webhook trigger that answer a path, if any."""
        return next(
            iter(self._triggers(triggers.c.kind == "webhook", triggers.c.path == path)), None
        )

    def error_triggers(self, org_id: str) -> list[tuple[WorkflowEntry, TriggerSpec]]:
        """The error triggers of the organisation's active workflows: one organisation's
        failures never start another's workflows."""
        return self._triggers(triggers.c.kind == "error", workflows.c.org_id == org_id)

    def schedules(self) -> list[tuple[WorkflowEntry, TriggerSpec]]:
        """Every schedule of the active workflows."""
        return self._triggers(triggers.c.kind == "schedule")

    def due_schedules(self, now: datetime) -> list[tuple[WorkflowEntry, TriggerSpec]]:
        """Schedules whose next tick is at or before ``now``."""
        return self._triggers(triggers.c.kind == "schedule", triggers.c.next_at <= now)

    def next_schedule_at(self) -> datetime | None:
        """The earliest tick of any active schedule."""
        query = select(triggers.c.next_at).where(triggers.c.kind == "schedule")
        with self.store._read() as conn:
            return conn.execute(query.order_by(triggers.c.next_at).limit(1)).scalar()

    def fire_schedule(
        self,
        workflow_id: str,
        node_id: str,
        due: datetime,
        next_at: datetime | None,
        runs: Sequence[ExecutionRecord],
    ) -> bool:
        """Move a schedule from tick ``due`` to ``next_at`` and create its runs, in one
        transaction, if the schedule is still at ``due``: of several processes that saw the
        same tick, exactly one gets True and creates the runs."""
        with self._write() as conn:
            moved = conn.execute(
                update(triggers)
                .where(
                    triggers.c.workflow_id == workflow_id,
                    triggers.c.node_id == node_id,
                    triggers.c.next_at == due,
                )
                .values(next_at=next_at)
            )
            if moved.rowcount != 1:
                return False
            for record in runs:
                values = {c.name: getattr(record, c.name) for c in executions.columns}
                values["status"] = ExecutionStatus(record.status).value
                conn.execute(insert(executions), values)
        return True

    # -- settings kept in the database

    def get_meta(self, key: str) -> Any:
        with self.store._read() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: Any) -> None:
        for attempt in (1, 2):
            try:
                with self._write() as conn:
                    conn.execute(delete(meta).where(meta.c.key == key))
                    conn.execute(insert(meta), {"key": key, "value": value})
                return
            except IntegrityError:  # PostgreSQL: another process inserted it meanwhile
                if attempt == 2:
                    raise

    # -- internals

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self.store._write() as conn:
                yield conn
        finally:
            self.changes += 1

    def _get(self, conn: Connection, workflow_id: str, *, lock: bool = False) -> WorkflowEntry:
        query = select(workflows).where(workflows.c.id == workflow_id)
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no workflow {workflow_id!r}")
        return _entry(row)

    @staticmethod
    def _check_name(conn: Connection, org_id: str, name: str, workflow_id: str | None) -> None:
        owner = conn.execute(
            select(workflows.c.id).where(workflows.c.org_id == org_id, workflows.c.name == name)
        ).scalar()
        if owner is not None and owner != workflow_id:
            raise Conflict("name", f"a workflow named {name!r} exists already ({owner})")

    def _put_version(
        self, conn: Connection, vid: str, name: str, definition: str, now: datetime
    ) -> None:
        conn.execute(
            self.store._insert_version,
            {"id": vid, "name": name, "definition": definition, "created_at": now},
        )

    @staticmethod
    def _set_triggers(conn: Connection, workflow_id: str, specs: Sequence[TriggerSpec]) -> None:
        conn.execute(delete(triggers).where(triggers.c.workflow_id == workflow_id))
        for spec in specs:
            if spec.path is not None:
                owner = conn.execute(
                    select(triggers.c.workflow_id).where(triggers.c.path == spec.path)
                ).scalar()
                if owner is not None:
                    raise Conflict(
                        f"nodes.{spec.node_id}.params.path",
                        f"the webhook path {spec.path!r} is used by active workflow {owner}",
                    )
        if not specs:
            return
        try:
            conn.execute(
                insert(triggers),
                [
                    {
                        "workflow_id": workflow_id,
                        "node_id": spec.node_id,
                        "kind": spec.kind,
                        "path": spec.path,
                        "config": spec.config,
                        "next_at": spec.next_at,
                    }
                    for spec in specs
                ],
            )
        except IntegrityError:  # a concurrent activation took the path first
            raise Conflict("path", "a webhook path of this workflow was taken meanwhile") from None

    def _triggers(self, *where: Any) -> list[tuple[WorkflowEntry, TriggerSpec]]:
        query = (
            select(workflows, triggers.c.node_id, triggers.c.kind, triggers.c.path)
            .add_columns(triggers.c.config, triggers.c.next_at)
            .join(triggers, triggers.c.workflow_id == workflows.c.id)
            .where(*where)
            .order_by(triggers.c.next_at, workflows.c.id, triggers.c.node_id)
        )
        with self.store._read() as conn:
            rows = list(conn.execute(query))
        out: list[tuple[WorkflowEntry, TriggerSpec]] = []
        for row in rows:
            spec = TriggerSpec(row.node_id, row.kind, row.path, row.config, row.next_at)
            out.append((_entry(row), spec))
        return out


def _now() -> datetime:
    return datetime.now(UTC)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _entry_row(entry: WorkflowEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in WorkflowEntry.__slots__}


def _entry(row: Row[Any]) -> WorkflowEntry:
    data = row._mapping
    return WorkflowEntry(**{name: data[workflows.c[name]] for name in WorkflowEntry.__slots__})


def _revision(row: Row[Any]) -> Revision:
    return Revision(row.workflow_id, row.number, row.version_id, row.created_at)
