"""The connector SDK: connectors, their typed actions, the step context and the registry.

A connector is defined once; the registry turns each action into a node type for the editor, a
step the engine runs and an endpoint ``POST /api/v1/{connector}/{action}`` (see ``docs/connectors.md``).
"""

from __future__ import annotations

import builtins
import difflib
import inspect
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import httpx

from flowforge.engine.frames import DEFAULT_ORG
from flowforge.errors import FlowForgeError
from flowforge.model import MAIN_PORT

__all__ = [
    "ENTRY_POINT_GROUP",
    "Action",
    "ActionError",
    "Blob",
    "BlobStore",
    "Cancelled",
    "Connector",
    "Context",
    "CredentialSource",
    "Emit",
    "EnvCredentials",
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


class Cancelled(ActionError):
    """Raised by ``ctx.raise_if_cancelled()`` once the run has been cancelled."""

    def __init__(self) -> None:
        super().__init__("the run was cancelled", retryable=False, type="Cancelled")


MAX_BLOB_BYTES = 512 * 1024 * 1024


class Blob(BaseModel):
    """Binary data kept in the store, by reference: frames and API answers carry this small
    object, never the bytes. ``ctx.put_blob`` makes one, ``ctx.read_blob`` reads it back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    blob: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the content")
    media_type: str = Field("application/octet-stream", max_length=200)
    size: int = Field(ge=0, description="Bytes")
    name: str | None = Field(None, max_length=500, description="A file name, if it had one")


class BlobStore(Protocol):
    """Where blobs live: content-addressed, so storing the same bytes twice keeps one copy."""

    def put_blob(
        self, data: bytes, media_type: str = "application/octet-stream", name: str | None = None
    ) -> Blob: ...

    def get_blob(self, blob_id: str) -> bytes:
        """The bytes of a stored blob; NotFound if absent."""
        ...


class CredentialSource(Protocol):
    """Where the engine finds a credential a node names by id, in the organisation of the run."""

    def credential(self, credential_id: str, org_id: str = DEFAULT_ORG) -> Mapping[str, Any]:
        """The credential's fields; KeyError if the organisation has no such credential,
        ValueError if it cannot be read."""
        ...


class EnvCredentials:
    """Credentials from the environment: ``FLOWFORGE_CREDENTIAL_<ID>`` holds the JSON object of
    credential ``<id>`` (upper case, other characters than letters and digits as ``_``). The
    environment is the server operator's, so only runs of the default organisation see it."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = environ if environ is not None else os.environ

    @staticmethod
    def variable(credential_id: str) -> str:
        return "FLOWFORGE_CREDENTIAL_" + re.sub(r"[^A-Z0-9]", "_", credential_id.upper())

    def credential(self, credential_id: str, org_id: str = DEFAULT_ORG) -> Mapping[str, Any]:
        """KeyError if the variable is unset (or the run is another organisation's),
        ValueError if it holds no JSON object."""
        variable = self.variable(credential_id)
        text = self.environ.get(variable) if org_id == DEFAULT_ORG else None
        if text is None:
            raise KeyError(credential_id)
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise ValueError(f"{variable} does not hold a JSON object")
        return value


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
    blobs: BlobStore | None = None
    credential: BaseModel | None = None  # decrypted just before the call, never journaled
    cancel_event: threading.Event = field(default_factory=threading.Event)
    on_progress: Callable[[float, float | None, str | None], None] | None = None
    http_allow: tuple[str, ...] = ()  # hosts trusted past the SSRF guard
    _tmp: Path | None = None

    @classmethod
    def standalone(
        cls,
        node_type: str,
        *,
        key: str = "standalone",
        input: Any = None,
        blobs: BlobStore | None = None,
        credential: BaseModel | None = None,
        http_allow: tuple[str, ...] = (),
    ) -> Context:
        """A context for calling a handler outside any run: a service call, or a connector's
        own tests. ``key`` is the idempotency key (the execution id's place)."""
        return cls(
            execution_id=key,
            workflow_name="",
            node_id=node_type.rpartition(".")[2],
            node_type=node_type,
            attempt=1,
            started_at=datetime.now(UTC),
            input=input,
            inputs={},
            trigger=None,
            blobs=blobs,
            credential=credential,
            http_allow=http_allow,
        )

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

    # -- binary data

    def put_blob(
        self, data: bytes, media_type: str = "application/octet-stream", name: str | None = None
    ) -> Blob:
        """Store ``data`` and give the reference to put in the output."""
        if len(data) > MAX_BLOB_BYTES:
            raise ActionError(
                f"the output is {len(data):,} bytes; the limit is {MAX_BLOB_BYTES:,}",
                retryable=False,
                type="TooLarge",
            )
        return self._blob_store().put_blob(data, media_type, name)

    def read_blob(self, blob: Blob) -> bytes:
        """The bytes a reference stands for."""
        try:
            return self._blob_store().get_blob(blob.blob)
        except FlowForgeError as exc:  # the store's NotFound
            raise ActionError(str(exc), retryable=False, type="BlobNotFound") from None

    def _blob_store(self) -> BlobStore:
        if self.blobs is None:
            raise ActionError("binary data cannot be stored here", retryable=False)
        return self.blobs

    # -- the step's surroundings

    @property
    def tmp_dir(self) -> Path:
        """A private folder for this attempt, made on first use and removed after it."""
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="flowforge-step-"))
        return self._tmp

    def cleanup(self) -> None:
        """Remove the temporary folder; the driver calls it when the attempt ends."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    @property
    def cancelled(self) -> bool:
        """Whether the run was cancelled or the attempt timed out: long loops should stop."""
        return self.cancel_event.is_set()

    def raise_if_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled()

    def progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Report how far the step has come (shown live in the editor and the CLI)."""
        if self.on_progress is not None:
            self.on_progress(done, total, message)

    def http(self, **options: Any) -> httpx.AsyncClient:
        """An HTTP client behind the SSRF guard (private, loopback, link-local and metadata
        addresses refused, every redirect hop re-checked); close it, or use ``async with``."""
        from flowforge.security.ssrf import async_client

        return async_client(allow=self.http_allow, **options)


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
        credential: type[BaseModel] | None = None,
        service: bool = True,
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
        self.credential = credential  # the schema of the secret its actions need, if any
        self.service = service  # its actions are also endpoints POST /api/v1/{id}/{action}
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
            source = f"entry point {ep.name!r}" + (f" of {ep.dist.name}" if ep.dist else "")
            if not isinstance(connector, Connector):
                raise RegistryError(f"{source} does not give a Connector")
            if connector.id in self._connectors:
                raise RegistryError(
                    f"{source}: connector id {connector.id!r} is taken by another connector"
                )
            self.register(connector)
            loaded.append(connector.id)
        return loaded

    def get(self, node_type: str) -> Action | None:
        """The action for a node type, or None."""
        return self._actions.get(node_type)

    def connector_of(self, node_type: str) -> Connector:
        """The connector a registered node type belongs to."""
        return self._connectors[node_type.split(".", 1)[0]]

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
