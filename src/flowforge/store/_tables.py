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

from flowforge.engine.frames import DEFAULT_ORG
from flowforge.model import Workflow

__all__ = [
    "UtcDateTime",
    "api_keys",
    "audit_log",
    "auth_sessions",
    "blobs",
    "canonical",
    "credentials",
    "execution_frames",
    "executions",
    "invites",
    "login_failures",
    "memberships",
    "meta",
    "metadata",
    "organisations",
    "refresh_tokens",
    "shares",
    "signin_accounts",
    "signin_challenges",
    "triggers",
    "users",
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
    Column("org_id", String(64), nullable=False, server_default=DEFAULT_ORG),
    # set when a Temporal workflow drives the run (its id): no lease, no local takeover
    Column("temporal_workflow_id", String(200)),
    Index(None, "status", "created_at"),
    Index(None, "org_id", "created_at", "id"),
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
    Column("org_id", String(64), nullable=False, server_default=DEFAULT_ORG),
    Column("name", String(200), nullable=False),  # unique within the organisation
    Column("description", Text),
    Column("tags", _Json, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("version", Integer, nullable=False),  # the current revision number
    Column("version_id", String(64), ForeignKey("workflow_versions.id"), nullable=False),
    Column("source_path", Text),  # the file it was imported from: relative sub-workflow paths
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("org_id", "name"),
    Index(None, "org_id", "updated_at", "id"),
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

# -- identity and access

organisations = Table(
    "organisations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("plan", String(16), nullable=False),  # sets the rate limits of its members
    Column("created_at", UtcDateTime(), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),  # normalised: lower case
    Column("name", String(200), nullable=False),
    Column("password_hash", Text),  # argon2id; None: no password (keys or signatures only)
    Column("created_at", UtcDateTime(), nullable=False),
    Column("disabled_at", UtcDateTime()),
)

memberships = Table(
    "memberships",
    metadata,
    Column(
        "org_id", String(64), ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index(None, "user_id"),
)

# The public keys (Ethereum addresses, P-256 and secp256k1 keys) users sign in with.
signin_accounts = Table(
    "signin_accounts",
    metadata,
    Column("account", String(200), primary_key=True),  # security.signatures.account_id form
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(100), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index(None, "user_id"),
)

# One-time tokens that let a new user (the first owner included) choose a password.
invites = Table(
    "invites",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Index(None, "user_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("secret_hash", String(64), nullable=False),
    Column("subject", String(64), nullable=False),  # a user id, or "service"
    Column("org", String(64)),
    Column("scopes", _Json, nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(16)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime()),
    Column("last_used_at", UtcDateTime()),
    Column("revoked_at", UtcDateTime()),
    Column("rotated_at", UtcDateTime()),
    Column("previous_hash", String(64)),
    Column("previous_valid_until", UtcDateTime()),
    Index(None, "org", "created_at"),
    Index(None, "subject"),
)

auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("sub", String(64), nullable=False),
    Column("org", String(64)),
    Column("role", String(16)),
    Column("scopes", _Json, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime()),
    Index(None, "sub"),
    Index(None, "expires_at"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "session_id",
        String(64),
        ForeignKey("auth_sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime()),
    Index(None, "session_id"),
)

signin_challenges = Table(
    "signin_challenges",
    metadata,
    Column("nonce", String(128), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("account", String(200), nullable=False),
    Column("message", Text, nullable=False),
    Column("domain", String(300), nullable=False),
    Column("chain_id", String(20)),  # up to 20 digits: more than a BIGINT holds
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Index(None, "expires_at"),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("account", String(320), primary_key=True),
    Column("failures", _Json, nullable=False),  # ISO times of the recent failures
    Column("locks", Integer, nullable=False),
    Column("locked_until", UtcDateTime()),
    Column("last_failure", UtcDateTime()),
)

# A workflow shared with a user or a whole organisation outside its own.
shares = Table(
    "shares",
    metadata,
    Column(
        "workflow_id",
        String(36),
        ForeignKey("workflows.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("grantee_kind", String(8), primary_key=True),  # user | org
    Column("grantee_id", String(64), primary_key=True),
    Column("access", String(8), nullable=False),  # view | run | edit
    Column("granted_by", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index(None, "grantee_kind", "grantee_id"),
)

# Append-only: nothing updates or deletes a row.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("org_id", String(64)),
    Column("actor", String(64)),  # a user id, an API key id, or None for the system
    Column("actor_kind", String(16), nullable=False),  # user | key | system | anonymous
    Column("action", String(64), nullable=False),
    Column("target_kind", String(32)),
    Column("target_id", String(200)),
    Column("details", _Json, nullable=False),
    Column("request_id", String(128)),
    Column("ip", String(64)),
    Index(None, "org_id", "id"),
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
    """The version id and the JSON to store of a definition. The id hashes the canonical form
    (compact, keys sorted, defaults left out), so that equal definitions get one id however
    they were written; the stored JSON keeps the keys in the order they were written, which
    is the order a node's parameters and outputs show them in."""
    data = workflow.model_dump(mode="json", exclude_defaults=True)
    key = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(key.encode()).hexdigest(), json.dumps(data, separators=(",", ":"))
