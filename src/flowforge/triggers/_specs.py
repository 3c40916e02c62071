"""The trigger rows an active workflow registers, read from its trigger nodes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ValidationError

from flowforge.connectors.triggers import ErrorParams, ScheduleParams, WebhookParams
from flowforge.errors import DefinitionError, Problem
from flowforge.model import Workflow
from flowforge.store import TriggerSpec
from flowforge.triggers.schedules import next_tick

__all__ = ["trigger_specs"]

_KINDS: dict[str, tuple[str, type[BaseModel]]] = {
    "trigger.webhook": ("webhook", WebhookParams),
    "trigger.schedule": ("schedule", ScheduleParams),
    "trigger.error": ("error", ErrorParams),
}


def trigger_specs(workflow: Workflow, now: datetime) -> list[TriggerSpec]:
    """The webhooks, schedules and error triggers of a (checked) workflow; DefinitionError
    listing every trigger whose parameters are not plain valid values (expressions are not
    allowed: the server reads them when the workflow is activated)."""
    specs: list[TriggerSpec] = []
    problems: list[Problem] = []
    paths: dict[str, str] = {}
    for i, node in enumerate(workflow.nodes):
        kind_model = _KINDS.get(node.type)
        if kind_model is None:
            continue
        kind, model = kind_model
        try:
            params = model.model_validate(node.params)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(part) for part in err["loc"])
                path = f"nodes[{i}].params" + (f".{where}" if where else "")
                problems.append(
                    Problem(
                        path,
                        f"{err['msg']} (trigger parameters are read on "
                        "activation and cannot hold expressions)",
                        node.id,
                    )
                )
            continue
        if isinstance(params, WebhookParams):
            if params.path in paths:
                problems.append(
                    Problem(
                        f"nodes[{i}].params.path",
                        f"webhook path {params.path!r} is used by node {paths[params.path]!r} too",
                        node.id,
                    )
                )
                continue
            paths[params.path] = node.id
            specs.append(TriggerSpec(node.id, kind, params.path, params.model_dump(mode="json")))
        elif isinstance(params, ScheduleParams):
            config = params.model_dump(mode="json")
            specs.append(TriggerSpec(node.id, kind, None, config, next_tick(config, now)))
        else:
            specs.append(TriggerSpec(node.id, kind, None, params.model_dump(mode="json")))
    if problems:
        raise DefinitionError(problems)
    return specs
