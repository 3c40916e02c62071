"""The database schema (SQLAlchemy Core). Changes go through Alembic revisions."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect

from flowforge.model import Workflow

__all__ = [
    "UtcDateTime",
    "blobs",
    "canonical",
    "credentials",
    "execution_frames",
    "executions",
    "meta",
    "metadata",
    "triggers",
    "version_id",
    "workflow_revisions",
    "workflow_versions",
    "workflows",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes in and out, on SQLite (which keeps no zone) as elsewhere."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# Payloads (input, output, result) keep None as the JSON text ``null``: a node that output None
# produced a value, which SQL NULL ("nothing recorded") would not say. Errors are an object or
# nothing, so None is SQL NULL there and ``error IS NULL`` finds the runs without one.
_Json = JSON(none_as_null=False)
_Error = JSON(none_as_null=True)

workflow_versions = Table(
    "workflow_versions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("definition", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

executions = Table(
    "executions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workflow_version_id", String(64), ForeignKey("workflow_versions.id"), nullable=False),
    Column("workflow_name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("input", _Json),
    Column("result", _Json),
    Column("error", _Error),
    Column("source_path", Text),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("started_at", UtcDateTime()),
    Column("finished_at", UtcDateTime()),
    Column("wake_at", UtcDateTime()),
    Column("parent_id", String(36)),
    Column("parent_node_id", String(160)),
    Column("depth", Integer, nullable=False, default=0),
    Column("lease_owner", String(200)),
    Column("lease_expires_at", UtcDateTime()),
    Column("lease_token", Integer, nullable=False, default=0),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("workflow_id", String(36)),  # the catalogue entry it ran for, if any
    Column("trigger_node", String(128)),  # the trigger that fired; other triggers are skipped
    Column("dedupe_key", String(200), unique=True),  # one run per webhook delivery or cron tick
    Column("retry_of", String(36)),  # the run this one retries or re-runs
    Column("pinned", _Json),  # node id -> the input a re-run gives that node
    Index(None, "status", "created_at"),
    Index(None, "workflow_id", "created_at", "id"),
    Index(None, "workflow_name", "created_at"),
    Index(None, "created_at", "id"),
    Index(None, "parent_id", "parent_node_id"),
)

execution_frames = Table(
    "execution_frames",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "execution_id",
        String(36),
        ForeignKey("executions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("seq", Integer, nullable=False),
    Column("node_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("item", Integer),
    Column("port", String(100)),
    Column("input", _Json),
    Column("output", _Json),
    Column("error", _Error),
    Column("wake_at", UtcDateTime()),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime()),
    Column("duration_ms", Float),
    UniqueConstraint("execution_id", "seq"),
)


# The catalogue: named workflows whose every save is an immutable, numbered revision.
workflows = Table(
    "workflows",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("description", Text),
    Column("tags", _Json, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("version", Integer, nullable=False),  # the current revision number
    Column("version_id", String(64), ForeignKey("workflow_versions.id"), nullable=False),
    Column("source_path", Text),  # the file it was imported from: relative sub-workflow paths
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index(None, "updated_at", "id"),
)

workflow_revisions = Table(
    "workflow_revisions",
    metadata,
    Column(
        "workflow_id",
        String(36),
        ForeignKey("workflows.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("number", Integer, primary_key=True),
    Column("version_id", String(64), ForeignKey("workflow_versions.id"), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# The triggers of active workflows; a row exists only while its workflow is active.
triggers = Table(
    "triggers",
    metadata,
    Column(
        "workflow_id",
        String(36),
        ForeignKey("workflows.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("node_id", String(128), primary_key=True),
    Column("kind", String(16), nullable=False),  # webhook | schedule | error
    Column("path", String(400), unique=True),  # webhooks: unique among active workflows
    Column("config", _Json, nullable=False),
    Column("next_at", UtcDateTime()),  # schedules: the next tick to fire
    Index(None, "kind", "next_at"),
)

blobs = Table(
    "blobs",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 of the content
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

credentials = Table(
    "credentials",
    metadata,
    Column("org_id", String(64), primary_key=True),
    Column("id", String(200), primary_key=True),
    Column("connector", String(64), nullable=False),
    Column("key_id", String(64), nullable=False, index=True),  # rotation finds rows by it
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("nonce", LargeBinary, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", _Json),
)


def version_id(workflow: Workflow) -> str:
    """The id of a workflow version: the SHA-256 (hex) of its canonical JSON."""
    return canonical(workflow)[0]


def canonical(workflow: Workflow) -> tuple[str, str]:
    """The version id and the canonical JSON of a definition: compact, keys sorted, defaults
    left out, so that equal definitions get one id however they were written."""
    data = workflow.model_dump(mode="json", exclude_defaults=True)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest(), text
