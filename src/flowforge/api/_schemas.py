"""What the API accepts and answers (camelCase JSON), and the cursors of its lists."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from flowforge.api._errors import ApiError
from flowforge.connectors.sdk import Action, Connector
from flowforge.engine.frames import ExecutionFrame, ExecutionRecord, ExecutionStatus
from flowforge.model import Workflow
from flowforge.store import Revision, WorkflowEntry

__all__ = [
    "Diff",
    "ErrorEnvelope",
    "ExecutionOut",
    "FrameOut",
    "Health",
    "NodeType",
    "Page",
    "RerunRequest",
    "RevisionDetail",
    "RevisionOut",
    "StartExecution",
    "WorkflowDetail",
    "WorkflowOut",
    "decode_cursor",
    "encode_cursor",
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


class WorkflowOut(_Out):
    id: str
    name: str
    description: str | None
    tags: list[str]
    active: bool
    version: int = Field(description="Current version number; send it as If-Match to update")
    version_id: str = Field(description="SHA-256 of the version's canonical JSON")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, entry: WorkflowEntry) -> WorkflowOut:
        return cls(
            id=entry.id,
            name=entry.name,
            description=entry.description,
            tags=entry.tags,
            active=entry.active,
            version=entry.version,
            version_id=entry.version_id,
            created_at=entry.created_at,
            updated_at=entry.updated_at,
        )


class WorkflowDetail(WorkflowOut):
    definition: Workflow

    @classmethod
    def with_definition(cls, entry: WorkflowEntry, workflow: Workflow) -> WorkflowDetail:
        return cls(**WorkflowOut.of(entry).model_dump(), definition=workflow)


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
        raise ApiError(
            400,
            "cursor: not a cursor this server gave out",
            code="INVALID_CURSOR",
            details=[{"field": "cursor", "message": "not a cursor this server gave out"}],
        ) from None


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
        raise ApiError(
            400,
            "cursor: not a cursor this server gave out",
            code="INVALID_CURSOR",
            details=[{"field": "cursor", "message": "not a cursor this server gave out"}],
        ) from None
    return moment, last_id
