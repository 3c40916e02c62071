"""The store on SQLAlchemy Core: SQLite (WAL) by default, PostgreSQL through psycopg 3."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    make_url,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import update as sql_update  # ``update`` is a parameter name below
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.pool import StaticPool

from flowforge.connectors.sdk import Blob
from flowforge.engine.frames import (
    TERMINAL_EXECUTION_STATUSES,
    ExecutionFrame,
    ExecutionRecord,
    ExecutionStatus,
    ExecutionUpdate,
    FrameStatus,
)
from flowforge.model import Workflow, parse_workflow
from flowforge.store._interface import (
    Append,
    Create,
    Duplicate,
    LastRun,
    LeaseLost,
    NotFound,
    StoreError,
    frame_key,
    write_each,
)
from flowforge.store._tables import (
    blobs,
    canonical,
    execution_frames,
    executions,
    workflow_versions,
    workflows,
)

__all__ = ["HEAD_REVISION", "MIGRATIONS", "SqlStore", "normalize_url"]

# The newest Alembic revision. Knowing it without loading the scripts lets a store open a
# migrated database in a millisecond or two; a test keeps it equal to the scripts' head.
HEAD_REVISION = "0006"
MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK_KEY = 0x466C6F77  # any constant: PostgreSQL advisory locks are keyed by number
_UNFINISHED = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.WAITING)


def normalize_url(url: str) -> str:
    """PostgreSQL URLs use psycopg 3 whatever driver they name (or none)."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def older_than(
    at_column: ColumnElement[datetime], id_column: ColumnElement[str], cursor: tuple[datetime, str]
) -> tuple[ColumnElement[bool], ...]:
    """The rows after a (time, id) cursor in newest-first order. The plain ``<=`` bound is
    redundant but lets the database seek its (time, id) index to the cursor instead of
    scanning every newer row to reach it."""
    at, last_id = cursor
    return (
        at_column <= at,
        or_(at_column < at, and_(at_column == at, id_column < last_id)),
    )


class SqlStore:
    """ExecutionStore on a SQL database; migrates the schema when opened.

    ``sqlite://`` (in memory) shares one connection between threads: it is for tests that use
    one thread at a time.
    """

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self._idle = threading.Condition()
        self._busy = 0
        self._closed = False
        self.engine = _create_engine(self.url)
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        # One statement, so that two processes storing the same new version both succeed.
        self._insert_version = dialect.insert(workflow_versions).on_conflict_do_nothing(
            index_elements=[workflow_versions.c.id]
        )
        self._insert_blob = dialect.insert(blobs).on_conflict_do_nothing(
            index_elements=[blobs.c.id]
        )
        try:
            self._migrate()
        except BaseException:
            self.engine.dispose()
            raise

    # -- connections and migrations

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        """A transaction that will write: on SQLite it takes the write lock at BEGIN, so that a
        read followed by a write cannot fail half-way because another process wrote between."""
        with self._in_use(), self.engine.connect() as conn:
            conn.execution_options(flowforge_write=True)
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._in_use(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def _in_use(self) -> Iterator[None]:
        """Counts the connections out, so that close() can wait for a call still running in a
        thread (one its caller stopped awaiting) instead of leaving its connection open."""
        with self._idle:
            if self._closed:
                raise RuntimeError("the store is closed")
            self._busy += 1
        try:
            yield
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def _migrate(self) -> None:
        # Opening a migrated database is the common case: one read, no lock, no Alembic.
        with self._read() as conn:
            if _revision(conn) == HEAD_REVISION:
                return
        # Processes that open a new database at once migrate it one after another (SQLite:
        # BEGIN IMMEDIATE; PostgreSQL: a lock held until commit); the later ones then find
        # the head revision already there. DDL is transactional on both, so a failed
        # migration leaves nothing behind.
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            current = _revision(conn)
            if current == HEAD_REVISION:
                return
            # Imported only here: opening a migrated database never pays for loading Alembic.
            from alembic import command
            from alembic.config import Config
            from alembic.util import CommandError

            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            try:
                command.upgrade(config, "head")
            except CommandError as exc:
                where = make_url(self.url).render_as_string(hide_password=True)
                raise StoreError(
                    f"cannot migrate the database {where} from revision {current!r} "
                    f"to {HEAD_REVISION!r} (was it created by a newer FlowForge?): {exc}"
                ) from exc

    # -- workflow versions

    def put_workflow_version(self, workflow: Workflow) -> str:
        vid, definition = canonical(workflow)
        row = {"id": vid, "name": workflow.name, "definition": definition, "created_at": _now()}
        with self._write() as conn:
            conn.execute(self._insert_version, row)
        return vid

    def get_workflow_version(self, version_id: str) -> Workflow:
        with self._read() as conn:
            row = conn.execute(
                select(workflow_versions.c.definition).where(workflow_versions.c.id == version_id)
            ).first()
        if row is None:
            raise NotFound(f"no workflow version {version_id!r}")
        return parse_workflow(row.definition, "json", f"workflow version {version_id}")

    # -- blobs

    def put_blob(
        self, data: bytes, media_type: str = "application/octet-stream", name: str | None = None
    ) -> Blob:
        digest = hashlib.sha256(data).hexdigest()
        row = {"id": digest, "size": len(data), "data": data, "created_at": _now()}
        with self._write() as conn:
            conn.execute(self._insert_blob, row)
        return Blob(blob=digest, media_type=media_type, size=len(data), name=name)

    def get_blob(self, blob_id: str) -> bytes:
        with self._read() as conn:
            data = conn.execute(select(blobs.c.data).where(blobs.c.id == blob_id)).scalar()
        if data is None:
            raise NotFound(f"no blob {blob_id!r}")
        return bytes(data)

    # -- executions

    def create_execution(
        self, record: ExecutionRecord, frames: Sequence[ExecutionFrame] = ()
    ) -> None:
        _check_frames(record.id, frames)
        values = _record_row(record)
        try:
            with self._write() as conn:
                conn.execute(insert(executions), values)
                if frames:
                    conn.execute(insert(execution_frames), [_frame_row(f) for f in frames])
        except IntegrityError as exc:
            if record.dedupe_key is not None:
                with self._read() as conn:
                    existing = conn.execute(
                        select(executions.c.id).where(executions.c.dedupe_key == record.dedupe_key)
                    ).scalar()
                if existing is not None:
                    raise Duplicate(
                        f"execution {existing} was started for {record.dedupe_key!r} already",
                        existing,
                    ) from None
            raise StoreError(f"execution {record.id}: cannot be created: {exc.orig}") from None

    def get_execution(self, execution_id: str) -> ExecutionRecord:
        with self._read() as conn:
            row = conn.execute(select(executions).where(executions.c.id == execution_id)).first()
        if row is None:
            raise NotFound(f"no execution {execution_id!r}")
        return _record(row)

    def list_executions(
        self,
        *,
        status: ExecutionStatus | None = None,
        workflow_name: str | None = None,
        parent_id: str | None = None,
        workflow_id: str | None = None,
        org_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        before: tuple[datetime, str] | None = None,
    ) -> list[ExecutionRecord]:
        query = select(executions)
        if workflow_id is not None:
            query = query.where(executions.c.workflow_id == workflow_id)
        if org_id is not None:
            query = query.where(executions.c.org_id == org_id)
        if since is not None:
            query = query.where(executions.c.created_at >= since)
        if until is not None:
            query = query.where(executions.c.created_at < until)
        if status is not None:
            query = query.where(executions.c.status == ExecutionStatus(status).value)
        if workflow_name is not None:
            query = query.where(executions.c.workflow_name == workflow_name)
        if parent_id is not None:
            query = query.where(executions.c.parent_id == parent_id)
        if before is not None:
            query = query.where(*older_than(executions.c.created_at, executions.c.id, before))
        query = query.order_by(executions.c.created_at.desc(), executions.c.id.desc()).limit(limit)
        with self._read() as conn:
            return [_record(row) for row in conn.execute(query)]

    def last_runs(self, workflow_ids: Sequence[str]) -> dict[str, LastRun]:
        if not workflow_ids:
            return {}
        # Per workflow, a seek to the end of its (workflow_id, created_at, id) index: the cost
        # grows with the page, not with how many runs the workflows have had.
        newest = (
            select(executions.c.id)
            .where(executions.c.workflow_id == workflows.c.id)
            .order_by(executions.c.created_at.desc(), executions.c.id.desc())
            .limit(1)
            .correlate(workflows)
            .scalar_subquery()
        )
        picked = select(newest).where(workflows.c.id.in_(list(workflow_ids)))
        query = select(
            executions.c.workflow_id,
            executions.c.id,
            executions.c.status,
            executions.c.created_at,
            executions.c.finished_at,
        ).where(executions.c.id.in_(picked))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return {
            row.workflow_id: LastRun(
                row.workflow_id,
                row.id,
                ExecutionStatus(row.status),
                row.created_at,
                row.finished_at,
            )
            for row in rows
        }

    def count_executions(self) -> dict[ExecutionStatus, int]:
        query = select(executions.c.status, func.count()).group_by(executions.c.status)
        with self._read() as conn:
            counts = {ExecutionStatus(status): int(n) for status, n in conn.execute(query)}
        return {status: counts.get(status, 0) for status in ExecutionStatus}

    def delete_execution(self, execution_id: str) -> None:
        with self._write() as conn:
            if not self._delete_tree(conn, [execution_id]):
                raise NotFound(f"no execution {execution_id!r}")

    def prune_executions(self, finished_before: datetime, limit: int = 1000) -> int:
        finished = [s.value for s in TERMINAL_EXECUTION_STATUSES]
        with self._write() as conn:
            ids = list(
                conn.execute(
                    select(executions.c.id)
                    .where(
                        executions.c.parent_id.is_(None),
                        executions.c.status.in_(finished),
                        executions.c.finished_at < finished_before,
                    )
                    .limit(limit)
                ).scalars()
            )
            return self._delete_tree(conn, ids)

    @staticmethod
    def _delete_tree(conn: Connection, roots: list[str]) -> int:
        """Delete executions, their frames and their sub-workflow runs; give how many roots."""
        level, deleted = roots, 0
        while level:
            children = list(
                conn.execute(
                    select(executions.c.id).where(executions.c.parent_id.in_(level))
                ).scalars()
            )
            # Frames go by the cascade on PostgreSQL and SQLite (foreign_keys=ON) alike, but an
            # explicit delete keeps it true for a database opened without the pragma.
            conn.execute(delete(execution_frames).where(execution_frames.c.execution_id.in_(level)))
            count = conn.execute(delete(executions).where(executions.c.id.in_(level))).rowcount
            if level is roots:
                deleted = count
            level = children
        return deleted

    def find_child(self, parent_id: str, parent_node_id: str) -> ExecutionRecord | None:
        query = (
            select(executions)
            .where(
                executions.c.parent_id == parent_id, executions.c.parent_node_id == parent_node_id
            )
            .order_by(executions.c.created_at.desc(), executions.c.id.desc())
            .limit(1)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _record(row)

    def unfinished(self, limit: int = 1000) -> list[ExecutionRecord]:
        query = (
            select(executions)
            .where(
                executions.c.status.in_([s.value for s in _UNFINISHED]),
                executions.c.temporal_workflow_id.is_(None),
            )
            .order_by(executions.c.created_at, executions.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [_record(row) for row in conn.execute(query)]

    # -- the journal

    def get_frames(self, execution_id: str, after_seq: int = 0) -> list[ExecutionFrame]:
        query = (
            select(execution_frames)
            .where(
                execution_frames.c.execution_id == execution_id, execution_frames.c.seq > after_seq
            )
            .order_by(execution_frames.c.seq)
        )
        with self._read() as conn:
            return [_frame(row) for row in conn.execute(query)]

    def append_frames(
        self,
        execution_id: str,
        lease_token: int,
        frames: Sequence[ExecutionFrame],
        update: ExecutionUpdate | None = None,
    ) -> None:
        _check_frames(execution_id, frames)
        try:
            with self._write() as conn:
                self._fence(conn, execution_id, lease_token, _update_values(update))
                if frames:
                    conn.execute(insert(execution_frames), [_frame_row(f) for f in frames])
        except IntegrityError as exc:
            seqs = ", ".join(str(f.seq) for f in frames)
            raise StoreError(
                f"execution {execution_id}: frames {seqs} cannot be written: {exc.orig}"
            ) from None

    def update_execution(
        self, execution_id: str, lease_token: int, update: ExecutionUpdate
    ) -> None:
        self.append_frames(execution_id, lease_token, (), update)

    def journal_frames(
        self,
        execution_id: str,
        frames: Sequence[ExecutionFrame],
        update: ExecutionUpdate | None = None,
    ) -> list[ExecutionFrame]:
        _check_frames(execution_id, frames)
        with self._write() as conn:
            # The row lock (PostgreSQL; SQLite's write lock is taken at BEGIN) makes writers of
            # one execution take their turn, so that seq numbers never collide.
            last_seq = (
                select(func.max(execution_frames.c.seq))
                .where(execution_frames.c.execution_id == execution_id)
                .scalar_subquery()
            )
            if conn.dialect.name == "postgresql":
                # lock first, then read: a statement that waited for the lock would otherwise
                # read the frames as they were before the writer it waited for
                locked = select(executions.c.id).where(executions.c.id == execution_id)
                if conn.execute(locked.with_for_update()).first() is None:
                    raise NotFound(f"no execution {execution_id!r}")
                row = conn.execute(
                    select(executions.c.id, last_seq).where(executions.c.id == execution_id)
                ).first()
            else:  # SQLite's write lock is taken at BEGIN: one statement reads both
                row = conn.execute(
                    select(executions.c.id, last_seq).where(executions.c.id == execution_id)
                ).first()
            if row is None:
                raise NotFound(f"no execution {execution_id!r}")
            added: list[ExecutionFrame] = []
            if frames:
                nodes = {f.node_id for f in frames}
                existing = conn.execute(
                    select(
                        execution_frames.c.node_id,
                        execution_frames.c.item,
                        execution_frames.c.attempt,
                        execution_frames.c.status,
                    ).where(
                        execution_frames.c.execution_id == execution_id,
                        execution_frames.c.node_id.in_(nodes),
                    )
                )
                seen = {(r.node_id, r.item, r.attempt, r.status) for r in existing}
                seq = int(row[1] or 0)
                for frame in frames:
                    key = frame_key(frame)
                    if key in seen:
                        continue
                    seen.add(key)
                    seq += 1
                    added.append(dataclasses.replace(frame, seq=seq))
                if added:
                    conn.execute(insert(execution_frames), [_frame_row(f) for f in added])
            values = _update_values(update)
            if values:
                conn.execute(
                    sql_update(executions).where(executions.c.id == execution_id).values(**values)
                )
        return added

    def write_batch(
        self, creates: Sequence[Create], appends: Sequence[Append]
    ) -> list[Exception | None]:
        # One transaction and one multi-row insert of frames for the whole batch; if anything
        # in it fails (rare: a lost lease, a duplicate key), nothing of it is kept and each
        # item is written on its own so that the failure stays with its item.
        if len(creates) + len(appends) > 1:
            try:
                for record, frames in creates:
                    _check_frames(record.id, frames)
                for execution_id, _, frames, _ in appends:
                    _check_frames(execution_id, frames)
                rows = [_frame_row(f) for _, frames in creates for f in frames]
                rows += [_frame_row(f) for _, _, frames, _ in appends for f in frames]
                with self._write() as conn:
                    if creates:
                        conn.execute(insert(executions), [_record_row(r) for r, _ in creates])
                    self._fence_many(conn, appends)
                    if rows:
                        conn.execute(insert(execution_frames), rows)
                return [None] * (len(creates) + len(appends))
            except Exception:
                pass
        return write_each(self, creates, appends)

    @staticmethod
    def _fence_many(conn: Connection, appends: Sequence[Append]) -> None:
        """``_fence`` for many executions, one statement per set of changed columns; raises
        LeaseLost if any token is stale (the caller then writes the items one by one)."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for execution_id, token, _, changes in appends:
            values = _update_values(changes)
            params = {f"v_{k}": v for k, v in values.items()}
            params.update(fence_id=execution_id, fence_token=token)
            groups.setdefault(tuple(sorted(values)), []).append(params)
        for columns, rows in groups.items():
            statement = (
                update(executions)
                .where(
                    executions.c.id == bindparam("fence_id"),
                    executions.c.lease_token == bindparam("fence_token"),
                )
                .values(
                    lease_token=bindparam("fence_token"),
                    **{c: bindparam(f"v_{c}", type_=executions.c[c].type) for c in columns},
                )
            )
            if conn.execute(statement, rows).rowcount != len(rows):
                raise LeaseLost("a lease token in the batch is no longer current")

    @staticmethod
    def _fence(conn: Connection, execution_id: str, token: int, values: dict[str, Any]) -> None:
        # The token is set to itself because an UPDATE needs something to set when there is no
        # update; the row count then says whether the token is current. On PostgreSQL the
        # UPDATE also locks the row, so a concurrent acquire_lease waits for this commit.
        result = conn.execute(
            update(executions)
            .where(executions.c.id == execution_id, executions.c.lease_token == token)
            .values(lease_token=token, **values)
        )
        if result.rowcount == 1:
            return
        exists = conn.execute(select(executions.c.id).where(executions.c.id == execution_id))
        if exists.first() is None:
            raise NotFound(f"no execution {execution_id!r}")
        raise LeaseLost(f"execution {execution_id}: lease token {token} is no longer current")

    # -- leases

    def acquire_lease(
        self,
        execution_id: str,
        owner: str,
        expires_at: datetime,
        now: datetime,
        owner_gone: Callable[[str], bool] = lambda owner: False,
    ) -> int | None:
        # Compare and swap: decide on what was read (``owner_gone`` may be slow, so no lock is
        # held meanwhile), then write only if the token is still the one read and the reason
        # to take over still holds (the holder may have renewed in between).
        with self._read() as conn:
            row = conn.execute(
                select(
                    executions.c.lease_owner,
                    executions.c.lease_expires_at,
                    executions.c.lease_token,
                ).where(executions.c.id == execution_id)
            ).first()
        if row is None:
            raise NotFound(f"no execution {execution_id!r}")
        expired = (
            row.lease_owner is None or row.lease_expires_at is None or row.lease_expires_at <= now
        )
        gone = not expired and owner_gone(row.lease_owner)
        if not (expired or gone):
            return None
        token = int(row.lease_token) + 1
        still_free = or_(
            executions.c.lease_owner.is_(None),
            executions.c.lease_expires_at.is_(None),
            executions.c.lease_expires_at <= now,
            *([executions.c.lease_owner == row.lease_owner] if gone else []),
        )
        with self._write() as conn:
            result = conn.execute(
                update(executions)
                .where(
                    executions.c.id == execution_id,
                    executions.c.lease_token == row.lease_token,
                    still_free,
                )
                .values(lease_owner=owner, lease_expires_at=expires_at, lease_token=token)
            )
        return token if result.rowcount == 1 else None

    def renew_lease(self, execution_id: str, lease_token: int, expires_at: datetime) -> bool:
        with self._write() as conn:
            result = conn.execute(
                update(executions)
                .where(executions.c.id == execution_id, executions.c.lease_token == lease_token)
                .values(lease_expires_at=expires_at)
            )
            return result.rowcount == 1

    def release_lease(self, execution_id: str, lease_token: int) -> None:
        with self._write() as conn:
            conn.execute(
                update(executions)
                .where(executions.c.id == execution_id, executions.c.lease_token == lease_token)
                .values(lease_owner=None, lease_expires_at=None)
            )

    # -- cancellation

    def request_cancel(self, execution_id: str) -> ExecutionRecord:
        with self._write() as conn:
            conn.execute(
                update(executions)
                .where(executions.c.id == execution_id)
                .values(cancel_requested=True)
            )
            row = conn.execute(select(executions).where(executions.c.id == execution_id)).first()
        if row is None:
            raise NotFound(f"no execution {execution_id!r}")
        return _record(row)

    def cancel_requested(self, execution_ids: Sequence[str]) -> set[str]:
        if not execution_ids:
            return set()
        query = select(executions.c.id).where(
            executions.c.id.in_(list(execution_ids)), executions.c.cancel_requested.is_(True)
        )
        with self._read() as conn:
            return {row.id for row in conn.execute(query)}

    def close(self, wait_s: float = 30.0) -> None:
        """Refuse new calls, wait up to ``wait_s`` for the ones under way, close the pool."""
        with self._idle:
            self._closed = True
            self._idle.wait_for(lambda: self._busy == 0, wait_s)
        self.engine.dispose()


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, json_serializer=_dumps)
    path = parsed.database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, json_serializer=_dumps)
    else:  # each new connection to a memory database would be another, empty database
        engine = create_engine(
            "sqlite://",
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            json_serializer=_dumps,
        )
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


_SQLITE_BUSY_MS = 10_000


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling is off so that SQLAlchemy's "begin" event can issue
    # BEGIN or BEGIN IMMEDIATE itself (see SqlStore._write).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
    # Switching a new file to WAL needs an exclusive lock, and SQLite answers "locked" at once,
    # without its busy handler, while another process opening the file holds one: try again.
    deadline = time.monotonic() + _SQLITE_BUSY_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("flowforge_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _revision(conn: Connection) -> str | None:
    """The database's Alembic revision; None when it has none (a new database)."""
    try:
        with conn.begin_nested():  # PostgreSQL aborts the transaction on a missing table
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):
        return None


def _now() -> datetime:
    return datetime.now(UTC)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _check_frames(execution_id: str, frames: Sequence[ExecutionFrame]) -> None:
    """Frames of another execution would get past the fence of this one."""
    strays = {f.execution_id for f in frames} - {execution_id}
    if strays:
        raise StoreError(
            f"execution {execution_id}: cannot append frames of executions {sorted(strays)}"
        )


def _record(row: Row[Any]) -> ExecutionRecord:
    data = dict(row._mapping)
    data["status"] = ExecutionStatus(data["status"])
    data["cancel_requested"] = bool(data["cancel_requested"])
    return ExecutionRecord(**data)


def _record_row(record: ExecutionRecord) -> dict[str, Any]:
    values = {c.name: getattr(record, c.name) for c in executions.columns}
    values["status"] = ExecutionStatus(record.status).value
    return values


def _update_values(update: ExecutionUpdate | None) -> dict[str, Any]:
    values: dict[str, Any] = dict(update or {})
    if "status" in values:
        values["status"] = ExecutionStatus(values["status"]).value
    return values


def _frame_row(frame: ExecutionFrame) -> dict[str, Any]:
    return {
        "execution_id": frame.execution_id,
        "seq": frame.seq,
        "node_id": frame.node_id,
        "status": FrameStatus(frame.status).value,
        "attempt": frame.attempt,
        "item": frame.item,
        "port": frame.port,
        "input": frame.input,
        "output": frame.output,
        "error": frame.error,
        "wake_at": frame.wake_at,
        "started_at": frame.started_at,
        "ended_at": frame.ended_at,
        "duration_ms": frame.duration_ms,
    }


def _frame(row: Row[Any]) -> ExecutionFrame:
    return ExecutionFrame(
        execution_id=row.execution_id,
        seq=row.seq,
        node_id=row.node_id,
        status=FrameStatus(row.status),
        started_at=row.started_at,
        attempt=row.attempt,
        item=row.item,
        port=row.port,
        input=row.input,
        output=row.output,
        error=row.error,
        wake_at=row.wake_at,
        ended_at=row.ended_at,
        duration_ms=row.duration_ms,
    )
