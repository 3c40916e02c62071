"""Calling a connector's actions directly in its tests, as the engine would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from api_support import workflow
from pydantic import BaseModel, ValidationError

from flowforge.connectors import ActionError, Connector, Context
from flowforge.model import Workflow
from flowforge.store import MemoryStore

Call = Callable[[str, dict[str, Any], Context], dict[str, Any]]
Refused = Callable[[str, dict[str, Any], Context, str], str]
Run = Callable[..., Any]
RefusedRun = Callable[..., ActionError]
Invalid = Callable[..., str]


def action_callers(connector: Connector) -> tuple[Call, Refused]:
    """``call(action, params, ctx)``: validate the parameters as the engine does, run the
    handler, give its output model as JSON; and ``refused(action, params, ctx, error_type)``:
    run an action that must fail with a non-retryable ActionError of that type, give its
    message."""

    def call(action: str, params: dict[str, Any], ctx: Context) -> dict[str, Any]:
        spec = connector.actions[action]
        result = spec.handler(spec.input_model.model_validate(params), ctx)
        assert isinstance(result, BaseModel)
        assert spec.output_model is None or isinstance(result, spec.output_model)
        dumped: dict[str, Any] = result.model_dump(mode="json")
        return dumped

    def refused(action: str, params: dict[str, Any], ctx: Context, error_type: str) -> str:
        with pytest.raises(ActionError) as info:
            call(action, params, ctx)
        assert info.value.type == error_type, str(info.value)
        assert info.value.retryable is False
        return str(info.value)

    return call, refused


def keyword_callers(connector: Connector) -> tuple[Run, RefusedRun, Invalid]:
    """The keyword form: ``run(action, *, input=None, store=None, **params)`` validates the
    parameters, calls the handler with a standalone context (its input and blob store as
    given) and gives the output as JSON; ``refused`` gives the non-retryable ActionError it
    must raise; ``invalid`` gives the validation errors as ``loc: message`` lines."""

    def run(
        action_name: str, *, input: Any = None, store: MemoryStore | None = None, **params: Any
    ) -> Any:
        action = connector.actions[action_name]
        model = action.input_model.model_validate(params)
        blobs = store if store is not None else MemoryStore()
        out = action.handler(model, Context.standalone(action.type, input=input, blobs=blobs))
        return out.model_dump(mode="json") if isinstance(out, BaseModel) else out

    def refused(action_name: str, **params: Any) -> ActionError:
        with pytest.raises(ActionError) as info:
            run(action_name, **params)
        assert info.value.retryable is False
        return info.value

    def invalid(action_name: str, **params: Any) -> str:
        with pytest.raises(ValidationError) as info:
            run(action_name, **params)
        return "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in info.value.errors(include_url=False)
        )

    return run, refused, invalid


def chain(name: str, nodes: list[dict[str, Any]], output: Any = None) -> Workflow:
    """A workflow of ``nodes`` one after another, with ``output`` as its result if given."""
    spec = workflow(name, *nodes)
    if output is not None:
        spec["output"] = output
    return Workflow.model_validate(spec)
