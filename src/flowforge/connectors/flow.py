"""The core nodes: start, set, if, switch, merge, wait, noop, fail and subworkflow."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flowforge.connectors.sdk import ActionError, Connector, Context, Emit, NoParams, Park

__all__ = ["connector"]

connector = Connector(
    "flow",
    name="Flow",
    description="Control the path of a run: branch, merge, wait, fail, call other workflows.",
    category="Core",
    icon="git-branch",
    service=False,  # they steer a run: nothing to call on their own
)

MAX_WAIT_S = 366 * 86_400


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


@connector.action("start", input=NoParams, trigger=True, inline=True, for_each=False)
def start(params: NoParams, ctx: Context) -> Any:
    """Start a run by hand or from the API; the output is the run's input."""
    return ctx.trigger


class SetParams(_Params):
    values: dict[str, Any] = Field(default_factory=dict, description="Fields to output")
    keep_input: bool = Field(False, description="Merge the values over the node's input")


@connector.action("set", input=SetParams, inline=True)
def set_(params: SetParams, ctx: Context) -> Any:
    """Output a set of values, optionally merged over the input."""
    if params.keep_input:
        if not isinstance(ctx.input, Mapping):
            raise ActionError("keep_input needs an input that is an object", retryable=False)
        return {**ctx.input, **params.values}
    return dict(params.values)


class IfParams(_Params):
    condition: Any = Field(description="Truthy sends the input out of 'true', else out of 'false'")


@connector.action("if", input=IfParams, ports=("true", "false"), inline=True)
def if_(params: IfParams, ctx: Context) -> Emit:
    """Send the input out of port 'true' or 'false'."""
    return Emit(ctx.input, "true" if params.condition else "false")


class SwitchCase(_Params):
    equals: Any
    port: str = Field(min_length=1, max_length=100)


class SwitchParams(_Params):
    value: Any = Field(description="The value compared with each case")
    cases: list[SwitchCase] = Field(default_factory=list, max_length=1000)
    default_port: str = Field("default", min_length=1, max_length=100)


def _switch_ports(params: Mapping[str, Any]) -> Iterable[str]:
    cases = params.get("cases", [])
    ports = [case["port"] for case in cases]
    ports.append(params.get("default_port", "default"))
    if not all(isinstance(port, str) for port in ports):
        raise TypeError("ports are not all known before the run")
    return ports


@connector.action("switch", input=SwitchParams, ports=(), ports_for=_switch_ports, inline=True)
def switch(params: SwitchParams, ctx: Context) -> Emit:
    """Send the input out of the port of the first case whose value equals ``value``."""
    for case in params.cases:
        if case.equals == params.value:
            return Emit(ctx.input, case.port)
    return Emit(ctx.input, params.default_port)


class MergeParams(_Params):
    mode: Literal["all", "first"] = Field(
        "all", description="all: source id to output; first: the first delivered input"
    )


@connector.action("merge", input=MergeParams, inline=True, for_each=False)
def merge(params: MergeParams, ctx: Context) -> Any:
    """Join branches: every delivered input by source id, or the first in edge order."""
    if params.mode == "first":
        return next(iter(ctx.inputs.values()), None)
    return dict(ctx.inputs)


class WaitParams(_Params):
    seconds: float | None = Field(None, ge=0, le=MAX_WAIT_S, description="How long to wait")
    until: datetime | None = Field(None, description="ISO 8601 time to wait for (UTC if naive)")

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.seconds is None) == (self.until is None):
            raise ValueError("give exactly one of 'seconds' and 'until'")
        return self


@connector.action("wait", input=WaitParams, inline=True, for_each=False)
def wait(params: WaitParams, ctx: Context) -> Park:
    """Park the run for a time or until a moment; the output is the input."""
    if params.until is not None:
        until = params.until if params.until.tzinfo else params.until.replace(tzinfo=UTC)
    else:
        until = ctx.started_at + timedelta(seconds=params.seconds or 0.0)
    return Park(until=until, output=ctx.input)


@connector.action("noop", inline=True)
def noop(params: NoParams, ctx: Context) -> Any:
    """Pass the input on unchanged."""
    return ctx.input


class FailParams(_Params):
    message: str = Field(min_length=1, max_length=10_000)
    retryable: bool = Field(False, description="Let the node's retry policy try again")


@connector.action("fail", input=FailParams, inline=True)
def fail(params: FailParams, ctx: Context) -> Any:
    """Fail with a message."""
    raise ActionError(params.message, retryable=params.retryable, type="WorkflowFailed")


class SubworkflowParams(_Params):
    workflow: str = Field(
        min_length=1, max_length=4096, description="Stored workflow id, or a file path"
    )
    input: Any = Field(None, description="The sub-run's input; the node's input when absent")


@connector.action("subworkflow", input=SubworkflowParams)
async def subworkflow(params: SubworkflowParams, ctx: Context) -> Any:
    """Run another workflow and output its result."""
    child_input = params.input if "input" in params.model_fields_set else ctx.input
    return await ctx.run_workflow(params.workflow, child_input)
