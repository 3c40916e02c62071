"""The workflow model: definitions, policies, and their YAML and JSON forms."""

from flowforge.model._io import (
    MAX_DEFINITION_BYTES,
    Format,
    dump_workflow,
    format_location,
    load_workflow,
    parse_workflow,
    problems_from_validation_error,
)
from flowforge.model._workflow import (
    ERROR_PORT,
    ID_PATTERN,
    MAIN_PORT,
    Edge,
    Node,
    OnError,
    RetryPolicy,
    TriggerRule,
    Workflow,
)

__all__ = [
    "ERROR_PORT",
    "ID_PATTERN",
    "MAIN_PORT",
    "MAX_DEFINITION_BYTES",
    "Edge",
    "Format",
    "Node",
    "OnError",
    "RetryPolicy",
    "TriggerRule",
    "Workflow",
    "dump_workflow",
    "format_location",
    "load_workflow",
    "parse_workflow",
    "problems_from_validation_error",
]
