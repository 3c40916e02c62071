"""Connectors: the node types a workflow is built from."""

from flowforge.connectors.sdk import (
    ENTRY_POINT_GROUP,
    Action,
    ActionError,
    Connector,
    Context,
    Emit,
    NoParams,
    Park,
    Registry,
    RegistryError,
    Runtime,
    current_context,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Action",
    "ActionError",
    "Connector",
    "Context",
    "Emit",
    "NoParams",
    "Park",
    "Registry",
    "RegistryError",
    "Runtime",
    "builtin_registry",
    "current_context",
]


def builtin_registry(*, entry_points: bool = True) -> Registry:
    """A registry with the built-in connectors and, unless told not to, the installed ones."""
    from flowforge.connectors import code, crypto, data, flow, http, image, math, ocr, pdf, triggers

    registry = Registry(
        [
            flow.connector,
            triggers.connector,
            http.connector,
            code.connector,
            data.connector,
            crypto.connector,
            math.connector,
            pdf.connector,
            image.connector,
            ocr.connector,
        ]
    )
    if entry_points:
        registry.load_entry_points()
    return registry
