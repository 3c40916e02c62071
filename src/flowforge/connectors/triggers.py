"""Trigger nodes that the server listens for: webhooks, cron schedules and other runs' failures.

Their parameters are read when the workflow is activated, not at run time, so they must be
plain values; the node's output is what the trigger received (the run's input).
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime
from typing import Any, Literal, Self

from croniter import CroniterBadDateError, croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flowforge.connectors.sdk import Connector, Context

__all__ = [
    "ErrorParams",
    "ScheduleParams",
    "WebhookParams",
    "connector",
    "cron_problem",
    "zone_problem",
]

connector = Connector(
    "trigger",
    name="Triggers",
    description="Start runs from webhooks, schedules and the failures of other workflows.",
    category="Core",
    icon="zap",
    service=False,  # they steer a run: nothing to call on their own
)

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_PATH = re.compile(r"[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*")
# Any start will do: a date that a cron expression (which has no year) can match comes round
# again within a few years, well inside the 50 that croniter searches before it gives up.
_NEVER_FIRES_FROM = datetime(2000, 1, 1, tzinfo=UTC)


def zone_problem(zone: str) -> str | None:
    """Why ``zone`` is not an IANA time zone, or None if it is one."""
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a folder of the database such as "America", or a name the file system refuses
        return f"unknown time zone {zone!r}"
    return None


def cron_problem(cron: str) -> str | None:
    """Why ``cron`` is not a cron expression a schedule can use (five fields, or six with
    seconds first, that match some time), or None if it is one."""
    fields = cron.split()
    if len(fields) not in (5, 6) or not croniter.is_valid(
        cron, second_at_beginning=len(fields) == 6
    ):
        return f"{cron!r} is not a valid 5- or 6-field cron expression"
    try:
        croniter(cron, _NEVER_FIRES_FROM, second_at_beginning=len(fields) == 6).get_next(datetime)
    except CroniterBadDateError:
        return f"{cron!r} never fires: no date matches it"
    return None


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookParams(_Params):
    path: str = Field(
        min_length=1,
        max_length=200,
        description="Answered at /hooks/{path}: letters, digits, '.', '_', '~', '-' and '/'",
        examples=["orders/new"],
    )
    methods: list[Literal[HTTP_METHODS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(HTTP_METHODS),
        min_length=1,
        description="HTTP methods accepted (all by default)",
    )
    respond: Literal["immediately", "when_finished"] = Field(
        "immediately",
        description="Answer 202 with the execution id at once, or wait and answer with the "
        "run's result",
    )
    timeout_s: float = Field(
        30.0, gt=0, le=300, description="With when_finished: how long to wait for the result"
    )
    secret_env: str | None = Field(
        None,
        pattern=r"^[A-Z_][A-Z0-9_]{0,127}$",
        description="Environment variable holding a Standard Webhooks secret (whsec_...); "
        "when set, requests must carry a valid webhook-signature",
    )

    @field_validator("path", mode="before")
    @classmethod
    def _path(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip("/")
            if not _PATH.fullmatch(value):
                raise ValueError(
                    "a path is segments of letters, digits, '.', '_', '~' and '-' joined by '/'"
                )
        return value


class ScheduleParams(_Params):
    cron: str = Field(
        max_length=200,
        description="Five-field cron expression (minute hour day month weekday), or six with "
        "seconds first",
        examples=["*/5 * * * *", "0 9 * * MON-FRI"],
    )
    timezone: str = Field("UTC", max_length=64, description="IANA time zone of the expression")
    missed: Literal["skip", "run_once", "run_all"] = Field(
        "run_once",
        description="Ticks missed while no server ran: skip them, run once for all of them, "
        "or run each (at most 100)",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        problem = zone_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _cron(self) -> Self:
        problem = cron_problem(self.cron)
        if problem is not None:
            raise ValueError(f"cron: {problem}")
        return self


class ErrorParams(_Params):
    workflows: list[str] = Field(
        default_factory=list,
        description="Names or ids of the workflows to watch; empty watches every other workflow",
    )


@connector.action("webhook", input=WebhookParams, trigger=True, inline=True, for_each=False)
def webhook(params: WebhookParams, ctx: Context) -> Any:
    """Start a run from an HTTP request to /hooks/{path}; the output is the request."""
    return ctx.trigger


@connector.action("schedule", input=ScheduleParams, trigger=True, inline=True, for_each=False)
def schedule(params: ScheduleParams, ctx: Context) -> Any:
    """Start a run on a cron schedule; the output holds the scheduled time."""
    return ctx.trigger


@connector.action("error", input=ErrorParams, trigger=True, inline=True, for_each=False)
def error(params: ErrorParams, ctx: Context) -> Any:
    """Start a run when another workflow's run fails; the output describes the failure."""
    return ctx.trigger
