"""The connector interface: connectors, their typed actions, the step context and the registry.

This is the minimal core that the engine needs; the connector SDK grows around it (credentials,
HTTP endpoints, progress) without changing the shape a handler is written against.
"""

from __future__ import annotations

import builtins
import difflib
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from flowforge.errors import FlowForgeError
from flowforge.model import MAIN_PORT

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
    "current_context",
]

ENTRY_POINT_GROUP = "flowforge.connectors"
_CONNECTOR_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ACTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class RegistryError(FlowForgeError):
    """A connector or action that cannot be registered (bad or duplicate name)."""


class ActionError(FlowForgeError):
    """A failure a handler reports on purpose. ``retryable=False`` skips the retry policy."""

    def __init__(self, message: str, *, retryable: bool = True, type: str | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.type = type or "ActionError"


class NoParams(BaseModel):
    """The input model of an action that takes no parameters."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True, slots=True)
class Emit:
    """A handler result that sends ``output`` out of a named port (the others are dead)."""

    output: Any
    port: str = MAIN_PORT


@dataclass(frozen=True, slots=True)
class Park:
    """A handler result that parks the node until ``until``; then it completes with ``output``."""

    until: datetime
    output: Any


class Runtime(Protocol):
    """What a driver offers handlers beyond their parameters."""

    async def run_workflow(self, ctx: Context, ref: str, input: Any) -> Any:
        """Run another workflow as a child of this step and give its result."""
        ...


@dataclass(slots=True)
class Context:
    """Everything a handler may know about the step it runs in. Set by the driver only."""

    execution_id: str
    workflow_name: str
    node_id: str
    node_type: str
    attempt: int
    started_at: datetime
    input: Any
    inputs: Mapping[str, Any]  # delivered upstream outputs by source node id, in edge order
    trigger: Any
    item: Any = None
    index: int | None = None
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = field(
        default_factory=lambda: logging.getLogger("flowforge.node")
    )
    runtime: Runtime | None = None

    @property
    def idempotency_key(self) -> str:
        """Stable across attempts and resumes: ``execution_id:node_id`` (``:index`` per item)."""
        key = f"{self.execution_id}:{self.node_id}"
        return key if self.index is None else f"{key}:{self.index}"

    async def run_workflow(self, ref: str, input: Any) -> Any:
        """Run the workflow ``ref`` (a file path or stored id) as a child and give its result."""
        if self.runtime is None:
            raise ActionError("this step cannot run sub-workflows here", retryable=False)
        return await self.runtime.run_workflow(self, ref, input)


_current: ContextVar[Context] = ContextVar("flowforge_step_context")


def current_context() -> Context:
    """The context of the step running in this task or thread; LookupError outside a step."""
    return _current.get()


Handler = Callable[[Any, Context], Any | Awaitable[Any]]
PortsFor = Callable[[Mapping[str, Any]], Iterable[str]]


@dataclass(frozen=True, slots=True)
class Action:
    """One typed operation of a connector; its node type is ``connector.action``."""

    type: str
    name: str
    description: str
    input_model: builtins.type[BaseModel]
    output_model: builtins.type[BaseModel] | None
    handler: Handler
    ports: tuple[str, ...] = (MAIN_PORT,)
    ports_for: PortsFor | None = None  # output ports that depend on the parameters
    trigger: bool = False  # starts a run; its output is the run's input
    inline: bool = False  # cheap and non-blocking: run on the event loop, not in a thread
    for_each: bool = True  # may be used with for_each
    is_async: bool = False

    def output_ports(self, params: Mapping[str, Any]) -> frozenset[str] | None:
        """The ports this node can emit on, given its (unrendered) parameters; None when they
        depend on expressions and so are known only at run time."""
        if self.ports_for is None:
            return frozenset(self.ports)
        try:
            return frozenset(self.ports) | frozenset(self.ports_for(params))
        except (TypeError, ValueError, AttributeError, KeyError):
            return None


class Connector:
    """A named group of actions with their metadata, defined once."""

    def __init__(
        self,
        id: str,
        *,
        name: str,
        description: str = "",
        version: str = "1.0.0",
        category: str = "Other",
        icon: str | None = None,
        docs_url: str | None = None,
    ) -> None:
        if not _CONNECTOR_ID.match(id):
            raise RegistryError(f"connector id {id!r}: use lower-case letters, digits and _")
        self.id = id
        self.name = name
        self.description = description
        self.version = version
        self.category = category
        self.icon = icon
        self.docs_url = docs_url
        self.actions: dict[str, Action] = {}

    def action(
        self,
        name: str | None = None,
        *,
        input: type[BaseModel] = NoParams,
        output: type[BaseModel] | None = None,
        description: str | None = None,
        ports: tuple[str, ...] = (MAIN_PORT,),
        ports_for: PortsFor | None = None,
        trigger: bool = False,
        inline: bool = False,
        for_each: bool = True,
    ) -> Callable[[Handler], Handler]:
        """Register the decorated ``handler(params, ctx)`` as an action of this connector."""

        def register(handler: Handler) -> Handler:
            action_name = name or handler.__name__.strip("_")
            if not _ACTION_NAME.match(action_name):
                raise RegistryError(
                    f"action name {action_name!r}: use lower-case letters, digits and _"
                )
            if action_name in self.actions:
                raise RegistryError(f"{self.id}.{action_name} is defined twice")
            doc = description if description is not None else inspect.getdoc(handler) or ""
            self.actions[action_name] = Action(
                type=f"{self.id}.{action_name}",
                name=action_name,
                description=doc.split("\n\n")[0],
                input_model=input,
                output_model=output,
                handler=handler,
                ports=ports,
                ports_for=ports_for,
                trigger=trigger,
                inline=inline,
                for_each=for_each,
                is_async=inspect.iscoroutinefunction(handler),
            )
            return handler

        return register


class Registry:
    """Node types by name. Kept apart from any runtime; duplicates are refused."""

    def __init__(self, connectors: Iterable[Connector] = ()) -> None:
        self._connectors: dict[str, Connector] = {}
        self._actions: dict[str, Action] = {}
        for connector in connectors:
            self.register(connector)

    def register(self, connector: Connector) -> None:
        """Add a connector; RegistryError when its id is taken."""
        if connector.id in self._connectors:
            raise RegistryError(f"connector id {connector.id!r} is registered twice")
        self._connectors[connector.id] = connector
        for action in connector.actions.values():
            self._actions[action.type] = action

    def load_entry_points(self) -> list[str]:
        """Register the connectors installed under the ``flowforge.connectors`` entry points."""
        loaded = []
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            obj = ep.load()
            connector = obj() if callable(obj) and not isinstance(obj, Connector) else obj
            if not isinstance(connector, Connector):
                raise RegistryError(f"entry point {ep.name!r} does not give a Connector")
            self.register(connector)
            loaded.append(connector.id)
        return loaded

    def get(self, node_type: str) -> Action | None:
        """The action for a node type, or None."""
        return self._actions.get(node_type)

    def suggest(self, node_type: str) -> str | None:
        """The registered node type closest to a misspelt one."""
        close = difflib.get_close_matches(node_type, list(self._actions), n=1, cutoff=0.6)
        return close[0] if close else None

    @property
    def connectors(self) -> Mapping[str, Connector]:
        return dict(self._connectors)

    @property
    def actions(self) -> Mapping[str, Action]:
        return dict(self._actions)
