"""Calling a connector's actions directly in its tests, as the engine would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from flowforge.connectors import ActionError, Connector, Context

Call = Callable[[str, dict[str, Any], Context], dict[str, Any]]
Refused = Callable[[str, dict[str, Any], Context, str], str]


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
