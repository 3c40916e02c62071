"""What starts a workflow, as the editor shows it: ``GET /api/v1/workflows/{id}/triggers``
lists the trigger nodes of its current definition (a webhook's URL, a schedule's next ticks),
and ``GET /api/v1/schedules/preview`` says when a cron expression would fire."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, ValidationError

from flowforge.api._auth import CallerDep, guard, workflow_for
from flowforge.api._deps import ServerDep
from flowforge.api._errors import ApiError
from flowforge.api._schemas import _Out
from flowforge.connectors.triggers import (
    ErrorParams,
    ScheduleParams,
    WebhookParams,
    cron_problem,
    zone_problem,
)
from flowforge.model import Node
from flowforge.triggers import next_tick

__all__ = [
    "ErrorTrigger",
    "SchedulePreview",
    "ScheduleTrigger",
    "TriggerOut",
    "WebhookTrigger",
    "next_times",
    "router",
]

router = APIRouter()

NEXT_TIMES = 5  # ticks a schedule trigger shows


class _Trigger(_Out):
    node_id: str
    kind: str  # each kind narrows it, in this place of the JSON
    active: bool = Field(description="Whether the workflow is active, so that this trigger fires")
    error: str | None = Field(
        None, description="Why the node's parameters are not valid; its other fields are null"
    )


class WebhookTrigger(_Trigger):
    kind: Literal["webhook"] = "webhook"
    path: str | None = None
    url: str | None = Field(None, description="Where it is answered: the server's URL + /hooks/")
    methods: list[str] | None = None
    respond: Literal["immediately", "when_finished"] | None = None
    signed: bool | None = Field(None, description="Requests must carry a webhook signature")


class ScheduleTrigger(_Trigger):
    kind: Literal["schedule"] = "schedule"
    cron: str | None = None
    timezone: str | None = None
    missed: Literal["skip", "run_once", "run_all"] | None = None
    next_times: list[datetime] | None = Field(None, description=f"The next {NEXT_TIMES} ticks")


class ErrorTrigger(_Trigger):
    kind: Literal["error"] = "error"
    workflows: list[str] | None = Field(
        None, description="Workflows it watches (names or ids); empty: every other one"
    )


TriggerOut = Annotated[WebhookTrigger | ScheduleTrigger | ErrorTrigger, Field(discriminator="kind")]


class SchedulePreview(_Out):
    cron: str
    timezone: str
    next_times: list[datetime] = Field(description="In UTC, soonest first")


@router.get(
    "/api/v1/workflows/{workflow_id}/triggers",
    summary="List a workflow's triggers",
    tags=["workflows"],
    **guard("workflows:read", resource=True),
)
async def list_triggers(server: ServerDep, caller: CallerDep, workflow_id: str) -> list[TriggerOut]:
    """The webhook, schedule and error trigger nodes of the current definition, in its order:
    a webhook's URL, a schedule's next ticks. A node whose parameters are not valid has
    ``error`` saying why."""
    entry = await workflow_for(server, caller, workflow_id, "workflows:read")
    workflow = await asyncio.to_thread(server.definition, entry.version_id)
    base = server.settings.base_url()
    now = datetime.now(UTC)
    found: list[TriggerOut] = []
    for node in workflow.nodes:
        trigger = _trigger(node, entry.active, base, now)
        if trigger is not None:
            found.append(trigger)
    return found


_KINDS: dict[
    str,
    tuple[type[WebhookTrigger] | type[ScheduleTrigger] | type[ErrorTrigger], type[BaseModel]],
] = {
    "trigger.webhook": (WebhookTrigger, WebhookParams),
    "trigger.schedule": (ScheduleTrigger, ScheduleParams),
    "trigger.error": (ErrorTrigger, ErrorParams),
}


def _trigger(node: Node, active: bool, base_url: str, now: datetime) -> TriggerOut | None:
    """What the editor shows of a trigger node; None for a node of another type."""
    if node.type not in _KINDS:
        return None
    out, model = _KINDS[node.type]
    try:
        params = model.model_validate(node.params)
    except ValidationError as exc:
        return out(node_id=node.id, active=active, error=_reason(exc))
    if isinstance(params, WebhookParams):
        return WebhookTrigger(
            node_id=node.id,
            active=active,
            path=params.path,
            url=f"{base_url}/hooks/{params.path}",
            methods=list(params.methods),
            respond=params.respond,
            signed=params.secret_env is not None,
        )
    if isinstance(params, ScheduleParams):
        try:
            ticks = next_times(params.model_dump(), NEXT_TIMES, now)
        except ValueError as exc:
            return ScheduleTrigger(node_id=node.id, active=active, error=f"cron: {exc}")
        return ScheduleTrigger(
            node_id=node.id,
            active=active,
            cron=params.cron,
            timezone=params.timezone,
            missed=params.missed,
            next_times=ticks,
        )
    assert isinstance(params, ErrorParams)
    return ErrorTrigger(node_id=node.id, active=active, workflows=list(params.workflows))


def _reason(exc: ValidationError) -> str:
    """A validation error in one line: ``field: reason; ...``."""
    reasons = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        reasons.append(f"{where}: {message}" if where else message)
    return "; ".join(reasons)


def next_times(config: Mapping[str, Any], count: int, after: datetime) -> list[datetime]:
    """The first ``count`` ticks of a schedule (``cron``, ``timezone``) after ``after``, in
    UTC: the scheduler's own ``next_tick``, so the preview is what will fire."""
    times: list[datetime] = []
    for _ in range(count):
        after = next_tick(config, after)
        times.append(after)
    return times


@router.get(
    "/api/v1/schedules/preview",
    summary="When a cron expression fires",
    tags=["workflows"],
    **guard("workflows:read"),
)
async def preview_schedule(
    cron: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            description="Five fields (minute hour day month weekday), or six with seconds first",
            examples=["30 7 * * MON-FRI"],
        ),
    ],
    timezone: Annotated[
        str, Query(max_length=64, description="IANA time zone the expression is read in")
    ] = "UTC",
    count: Annotated[int, Query(ge=1, le=20, description="How many ticks")] = 5,
) -> SchedulePreview:
    """The next ``count`` ticks after now, as a schedule trigger with these parameters would
    fire them (across daylight saving changes too); 422 naming ``cron`` or ``timezone`` if
    either is not valid."""
    problems = {"cron": cron_problem(cron), "timezone": zone_problem(timezone)}
    ticks: list[datetime] = []
    if not any(problems.values()):
        try:
            ticks = next_times({"cron": cron, "timezone": timezone}, count, datetime.now(UTC))
        except (ValueError, OverflowError) as exc:  # not expected once the checks passed
            problems["cron"] = f"{cron!r}: {exc or type(exc).__name__}"
    details = [
        {"field": f"query.{name}", "message": problem}
        for name, problem in problems.items()
        if problem is not None
    ]
    if details:
        first = details[0]
        raise ApiError(
            422, f"invalid request: {first['field']}: {first['message']}", details=details
        )
    return SchedulePreview(cron=cron, timezone=timezone, next_times=ticks)
