"""What the API accepts and answers (camelCase JSON), and the cursors of its lists."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from flowforge.api._errors import ApiError
from flowforge.connectors.sdk import Action, Connector
from flowforge.engine.frames import ExecutionFrame, ExecutionRecord, ExecutionStatus
from flowforge.model import Workflow
from flowforge.security.apikeys import ApiKey, validate_scope
from flowforge.security.rbac import Access, Role
from flowforge.security.tokens import TokenPair
from flowforge.store import (
    AuditEntry,
    CredentialEntry,
    LastRun,
    Member,
    Organisation,
    Revision,
    Share,
    User,
    WorkflowEntry,
)

__all__ = [
    "AcceptInvite",
    "AccountIn",
    "AccountOut",
    "ApiKeyCreate",
    "ApiKeyIssued",
    "ApiKeyOut",
    "AuditOut",
    "ChallengeOut",
    "ChallengeRequest",
    "CredentialIn",
    "CredentialOut",
    "Diff",
    "ErrorEnvelope",
    "ExecutionOut",
    "FrameOut",
    "Health",
    "LastRunOut",
    "LoginRequest",
    "MeOut",
    "MemberAdd",
    "MemberAdded",
    "MemberOut",
    "NodeType",
    "OrgCreate",
    "OrgOut",
    "OrgUpdate",
    "Page",
    "PasswordChange",
    "RefreshRequest",
    "RerunRequest",
    "RevisionDetail",
    "RevisionOut",
    "RoleChange",
    "RotateKey",
    "ShareIn",
    "ShareOut",
    "SignatureLogin",
    "StartExecution",
    "TokenOut",
    "UserOut",
    "WorkflowDetail",
    "WorkflowOut",
    "decode_cursor",
    "encode_cursor",
    "number_cursor",
    "require_zone",
]

T = TypeVar("T")


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class _In(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    code: str = Field(examples=["VALIDATION_ERROR"])
    message: str = Field(examples=["invalid workflow: 1 problem(s)"])
    details: list[ErrorDetail] = Field(
        examples=[[{"field": "nodes[1].type", "message": "unknown node type 'flow.sett'"}]]
    )
    requestId: str | None = Field(examples=["4bf92f3577b34da6a3ce929d0e0e4736"])


class ErrorEnvelope(BaseModel):
    """Every error answer."""

    error: ErrorBody


class Page(_Out, Generic[T]):
    """One page of a list; pass ``nextCursor`` as ``cursor`` for the next (null at the end)."""

    items: list[T]
    next_cursor: str | None = None


class LastRunOut(_Out):
    """A workflow's newest run."""

    id: str
    status: ExecutionStatus
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, run: LastRun) -> LastRunOut:
        return cls(
            id=run.id, status=run.status, created_at=run.created_at, finished_at=run.finished_at
        )


class WorkflowOut(_Out):
    id: str
    org_id: str = Field(description="The organisation it belongs to (another one's if shared)")
    name: str
    description: str | None
    tags: list[str]
    active: bool
    version: int = Field(description="Current version number; send it as If-Match to update")
    version_id: str = Field(description="SHA-256 of the version's canonical JSON")
    created_at: datetime
    updated_at: datetime
    last_run: LastRunOut | None = Field(
        None,
        description="Its newest run, if it has one (null also for a key whose scopes do not "
        "cover executions:read)",
    )

    @classmethod
    def of(cls, entry: WorkflowEntry, last_run: LastRun | None = None) -> WorkflowOut:
        return cls(
            id=entry.id,
            org_id=entry.org_id,
            name=entry.name,
            description=entry.description,
            tags=entry.tags,
            active=entry.active,
            version=entry.version,
            version_id=entry.version_id,
            created_at=entry.created_at,
            updated_at=entry.updated_at,
            last_run=LastRunOut.of(last_run) if last_run is not None else None,
        )


class WorkflowDetail(WorkflowOut):
    definition: Workflow

    @classmethod
    def with_definition(
        cls, entry: WorkflowEntry, workflow: Workflow, last_run: LastRun | None = None
    ) -> WorkflowDetail:
        return cls(**WorkflowOut.of(entry, last_run).model_dump(), definition=workflow)


class RevisionOut(_Out):
    number: int
    version_id: str
    created_at: datetime

    @classmethod
    def of(cls, revision: Revision) -> RevisionOut:
        return cls(
            number=revision.number,
            version_id=revision.version_id,
            created_at=revision.created_at,
        )


class RevisionDetail(RevisionOut):
    definition: Workflow


class NodeChanges(_Out):
    added: list[str]
    removed: list[str]
    changed: list[str]


class EdgeChanges(_Out):
    added: list[str]
    removed: list[str]


class Diff(_Out):
    """What changed between two versions: node ids, edges (``a:port -> b``), and a unified
    diff of the YAML."""

    from_version: int
    to_version: int
    nodes: NodeChanges
    edges: EdgeChanges
    unified: str


class FrameOut(_Out):
    seq: int
    node_id: str
    status: str
    attempt: int
    item: int | None
    port: str | None
    input: Any
    output: Any
    error: dict[str, Any] | None
    started_at: datetime
    ended_at: datetime | None
    duration_ms: float | None
    wake_at: datetime | None

    @classmethod
    def of(cls, frame: ExecutionFrame) -> FrameOut:
        return cls(
            seq=frame.seq,
            node_id=frame.node_id,
            status=frame.status.value,
            attempt=frame.attempt,
            item=frame.item,
            port=frame.port,
            input=frame.input,
            output=frame.output,
            error=frame.error,
            started_at=frame.started_at,
            ended_at=frame.ended_at,
            duration_ms=frame.duration_ms,
            wake_at=frame.wake_at,
        )


class ExecutionOut(_Out):
    id: str
    workflow_id: str | None
    workflow_name: str
    version_id: str
    status: ExecutionStatus
    input: Any
    result: Any
    error: dict[str, Any] | None
    trigger_node: str | None
    retry_of: str | None
    parent_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    wake_at: datetime | None
    frames: list[FrameOut] | None = None

    @classmethod
    def of(
        cls, record: ExecutionRecord, frames: list[ExecutionFrame] | None = None
    ) -> ExecutionOut:
        return cls(
            id=record.id,
            workflow_id=record.workflow_id,
            workflow_name=record.workflow_name,
            version_id=record.workflow_version_id,
            status=record.status,
            input=record.input,
            result=record.result,
            error=record.error,
            trigger_node=record.trigger_node,
            retry_of=record.retry_of,
            parent_id=record.parent_id,
            created_at=record.created_at,
            started_at=record.started_at,
            finished_at=record.finished_at,
            wake_at=record.wake_at,
            frames=None if frames is None else [FrameOut.of(f) for f in frames],
        )


class StartExecution(_In):
    """Start a stored workflow (``workflowId``: id or name) or a definition sent inline."""

    workflow_id: str | None = Field(None, max_length=200, examples=["order-alert"])
    workflow: Workflow | None = Field(None, description="A definition to run without storing")
    input: Any = Field(None, examples=[{"order": {"id": 7, "total": 120}}])


class RerunRequest(_In):
    """Run again from ``node``: steps it does not lead to keep their recorded outputs."""

    node: str = Field(min_length=1, max_length=128, examples=["notify"])
    input: Any = Field(
        None, description="Replaces the input the node receives; omit to keep the recorded one"
    )


class NodeType(_Out):
    """A node type: the palette entry, the form (JSON Schema of its parameters) and the ports."""

    type: str = Field(description="`connector.action`, as a node's `type`")
    connector: str
    action: str
    name: str = Field(description="The connector's display name")
    description: str
    category: str
    icon: str | None
    version: str
    docs_url: str | None
    ports: list[str] = Field(description="Output ports (parameters may add more, as switch's)")
    trigger: bool = Field(description="Starts a run; its output is the run's input")
    for_each: bool
    service: str | None = Field(description="The endpoint that runs it alone, if any")
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    credential_schema: dict[str, Any] | None

    @classmethod
    def of(cls, connector: Connector, action: Action) -> NodeType:
        output = action.output_model
        return cls(
            type=action.type,
            connector=connector.id,
            action=action.name,
            name=connector.name,
            description=action.description,
            category=connector.category,
            icon=connector.icon,
            version=connector.version,
            docs_url=connector.docs_url,
            ports=list(action.ports),
            trigger=action.trigger,
            for_each=action.for_each,
            service=f"/api/v1/{connector.id}/{action.name}" if connector.service else None,
            input_schema=action.input_model.model_json_schema(),
            output_schema=output.model_json_schema() if output is not None else None,
            credential_schema=(
                connector.credential.model_json_schema() if connector.credential else None
            ),
        )


class Check(_Out):
    status: str
    latency_ms: float | None = None
    detail: str | None = None


class Health(_Out):
    status: str = Field(examples=["ok"])
    version: str
    uptime_s: float
    checks: dict[str, Check]


# -- identity and access


class UserOut(_Out):
    id: str
    email: str
    name: str

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(id=user.id, email=user.email, name=user.name)


class TokenOut(_Out):
    """A session: send ``accessToken`` as ``Authorization: Bearer``; exchange ``refreshToken``
    at ``/api/v1/auth/refresh`` before the access token expires (each works once)."""

    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int = Field(description="Seconds until the access token expires")
    access_expires_at: datetime
    refresh_expires_at: datetime
    org_id: str | None

    @classmethod
    def of(cls, pair: TokenPair, org_id: str | None, now: datetime) -> TokenOut:
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=max(0, int((pair.access_expires_at - now).total_seconds())),
            access_expires_at=pair.access_expires_at,
            refresh_expires_at=pair.refresh_expires_at,
            org_id=org_id,
        )


_Email = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
_Password = Field(min_length=1, max_length=1024)
_OrgId = Field(None, min_length=1, max_length=64, description="The organisation to sign in to")


class LoginRequest(_In):
    email: str = _Email
    password: str = _Password
    org: str | None = _OrgId


class ChallengeRequest(_In):
    account: str = Field(
        min_length=1,
        max_length=4096,
        description="An Ethereum address, or a P-256 / secp256k1 public key (hex or PEM)",
    )


class ChallengeOut(_Out):
    kind: str = Field(description="`siwe` (sign with personal_sign) or `ecdsa` (SHA-256)")
    account: str
    message: str = Field(description="The exact text to sign")
    nonce: str
    expires_at: datetime


class SignatureLogin(_In):
    account: str = Field(min_length=1, max_length=4096)
    message: str = Field(min_length=1, max_length=8192)
    signature: str = Field(min_length=1, max_length=200, description="Hex, 0x optional")
    org: str | None = _OrgId


class RefreshRequest(_In):
    refresh_token: str = Field(min_length=1, max_length=200)


class AcceptInvite(_In):
    """Use an invite or the setup token: choose a password (and an address and a name)."""

    token: str = Field(min_length=1, max_length=200)
    password: str = _Password
    email: str | None = Field(None, min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str | None = Field(None, max_length=200)


class PasswordChange(_In):
    current_password: str = _Password
    new_password: str = _Password


class OrgOut(_Out):
    id: str
    name: str
    plan: str
    role: Role | None = Field(None, description="The caller's role in it")
    created_at: datetime

    @classmethod
    def of(cls, org: Organisation, role: str | None = None) -> OrgOut:
        return cls(
            id=org.id,
            name=org.name,
            plan=org.plan,
            role=Role(role) if role else None,
            created_at=org.created_at,
        )


class MeOut(_Out):
    user: UserOut | None = Field(description="None for a service API key")
    org_id: str
    role: Role
    role_permissions: list[str] = Field(
        description="What the role grants ('*': everything); an API key's scopes narrow it"
    )
    key_id: str | None
    scopes: list[str]
    orgs: list[OrgOut]


class AccountIn(_In):
    """A key to sign in with, and the proof that you hold it: a challenge for it
    (``/api/v1/auth/challenge``) and your signature of that challenge."""

    account: str = Field(min_length=1, max_length=4096)
    message: str = Field(min_length=1, max_length=8192)
    signature: str = Field(min_length=1, max_length=200)
    label: str = Field("", max_length=100)


class AccountOut(_Out):
    account: str
    label: str
    created_at: datetime


class ApiKeyCreate(_In):
    name: str = Field(min_length=1, max_length=200)
    role: Role | None = Field(None, description="At most your own; yours if omitted")
    scopes: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="e.g. workflows:read, executions:write, services:*; all if empty",
    )
    expires_in_days: int | None = Field(None, ge=1, le=3650)

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        return [validate_scope(scope) for scope in value]


class ApiKeyOut(_Out):
    id: str
    prefix: str = Field(description="The key's public beginning, as shown in lists")
    name: str
    org_id: str | None
    user_id: str | None = Field(description="Whose key it is; None for a service key")
    role: Role | None
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    rotated_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey, service_subject: str) -> ApiKeyOut:
        return cls(
            id=key.key_id,
            prefix=key.prefix,
            name=key.name,
            org_id=key.org,
            user_id=None if key.subject == service_subject else key.subject,
            role=Role(key.role) if key.role else None,
            scopes=sorted(key.scopes),
            created_at=key.created_at,
            expires_at=key.expires_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
            rotated_at=key.rotated_at,
        )


class ApiKeyIssued(ApiKeyOut):
    key: str = Field(description="The key itself: shown this once, stored only as a hash")


class RotateKey(_In):
    grace_seconds: int = Field(
        0, ge=0, le=7 * 86_400, description="How long the old secret keeps working"
    )


class OrgCreate(_In):
    name: str = Field(min_length=1, max_length=200)


class OrgUpdate(_In):
    name: str = Field(min_length=1, max_length=200)


class MemberOut(_Out):
    user_id: str
    email: str
    name: str
    role: Role
    since: datetime

    @classmethod
    def of(cls, member: Member) -> MemberOut:
        return cls(
            user_id=member.user.id,
            email=member.user.email,
            name=member.user.name,
            role=Role(member.role),
            since=member.since,
        )


class MemberAdd(_In):
    email: str = _Email
    role: Role
    name: str = Field("", max_length=200)


class MemberAdded(MemberOut):
    invite_token: str | None = Field(
        description="For a new user: the one-time token with which they choose a password "
        "(POST /api/v1/auth/accept); shown this once"
    )
    invite_expires_at: datetime | None


class RoleChange(_In):
    role: Role


class ShareIn(_In):
    grantee_kind: Literal["user", "org"]
    grantee: str = Field(
        min_length=1, max_length=320, description="A user's id or address, or an org's id"
    )
    access: Access


class ShareOut(_Out):
    grantee_kind: str
    grantee_id: str
    access: Access
    granted_by: str
    created_at: datetime

    @classmethod
    def of(cls, share: Share) -> ShareOut:
        return cls(
            grantee_kind=share.grantee_kind,
            grantee_id=share.grantee_id,
            access=Access(share.access),
            granted_by=share.granted_by,
            created_at=share.created_at,
        )


class CredentialIn(_In):
    connector: str = Field(min_length=1, max_length=64, examples=["http"])
    data: dict[str, Any] = Field(
        description="The secret, as the connector's credential schema says; never shown back"
    )


class CredentialOut(_Out):
    id: str
    connector: str
    key_id: str = Field(description="The master key it is sealed under")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, entry: CredentialEntry) -> CredentialOut:
        return cls(
            id=entry.id,
            connector=entry.connector,
            key_id=entry.key_id,
            created_at=entry.created_at,
            updated_at=entry.updated_at,
        )


class AuditOut(_Out):
    id: int
    at: datetime
    org_id: str | None
    actor: str | None
    actor_kind: str
    action: str
    target_kind: str | None
    target_id: str | None
    details: dict[str, Any]
    request_id: str | None
    ip: str | None

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditOut:
        assert entry.id is not None
        return cls(
            id=entry.id,
            at=entry.at,
            org_id=entry.org_id,
            actor=entry.actor,
            actor_kind=entry.actor_kind,
            action=entry.action,
            target_kind=entry.target_kind,
            target_id=entry.target_id,
            details=entry.details,
            request_id=entry.request_id,
            ip=entry.ip,
        )


def require_zone(**moments: datetime | None) -> None:
    """422 naming the query parameter of a time given without a time zone."""
    for name, moment in moments.items():
        if moment is not None and moment.tzinfo is None:
            raise ApiError(
                422,
                f"{name}: give a time zone (e.g. 2026-01-01T00:00:00Z)",
                details=[{"field": f"query.{name}", "message": "a time zone is required"}],
            )


def _bad_cursor() -> ApiError:
    reason = "not a cursor this server gave out"
    return ApiError(
        400,
        f"cursor: {reason}",
        code="INVALID_CURSOR",
        details=[{"field": "cursor", "message": reason}],
    )


def encode_cursor(*parts: Any) -> str:
    """An opaque cursor for the last row of a page."""
    raw = json.dumps([p.isoformat() if isinstance(p, datetime) else p for p in parts])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """The parts of a cursor; 400 naming ``cursor`` when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
        if not isinstance(parts, list) or not parts:
            raise ValueError("not a list")
        return parts
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _bad_cursor() from None


def number_cursor(cursor: str | None) -> int | None:
    """A cursor of one number (a version, an audit entry id), or None for the first page."""
    if cursor is None:
        return None
    parts = decode_cursor(cursor)
    if len(parts) != 1 or not isinstance(parts[0], int) or isinstance(parts[0], bool):
        raise _bad_cursor()
    number: int = parts[0]
    return number


def time_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """A (time, id) cursor, or None for the first page."""
    if cursor is None:
        return None
    parts = decode_cursor(cursor)
    try:
        at, last_id = parts
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not isinstance(last_id, str):
            raise ValueError("bad parts")
    except (ValueError, TypeError):
        raise _bad_cursor() from None
    return moment, last_id
