"""Running one attempt of a step, the same for every driver: render and check the parameters,
open the credential just in time, call the handler within its time limit (blocking handlers in
threads) and turn every failure into a ``StepFailure``.

The local driver calls it on its event loop; the Temporal driver calls it inside an activity.
What happens around an attempt (frames, retries, waits, sub-workflows) is the driver's.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from flowforge.connectors.sdk import (
    Action,
    ActionError,
    BlobStore,
    Context,
    CredentialSource,
    Emit,
    Park,
    Registry,
    _current,
)
from flowforge.engine import expr
from flowforge.engine.frames import DEFAULT_ORG
from flowforge.model import Node, format_location
from flowforge.security.redaction import Redactor, collect_secrets, redacting

__all__ = ["Secrets", "StepFailure", "Steps", "jsonable"]

log = logging.getLogger("flowforge.engine")


class StepFailure(Exception):
    """One attempt of a step failed: the message, the error type and whether a retry may help."""

    def __init__(
        self, message: str, type: str, retryable: bool, *, unexpected: bool = False
    ) -> None:
        super().__init__(message)
        self.message, self.type, self.retryable = message, type, retryable
        self.unexpected = unexpected  # the handler raised something other than ActionError


def jsonable(value: Any) -> Any:
    """A step's output as JSON data; StepFailure (not retryable) when it is not."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    try:
        return to_jsonable_python(value)
    except (PydanticSerializationError, ValueError, TypeError) as exc:
        raise StepFailure(
            f"the output is not JSON data: {exc}", "OutputError", retryable=False
        ) from None


@dataclass(frozen=True, slots=True)
class Secrets:
    """The credential values a run's steps were given, and the redactor that hides them."""

    values: frozenset[str] = frozenset()
    redactor: Redactor = field(default_factory=lambda: Redactor(()))

    def adding(self, found: Iterable[str]) -> Secrets:
        """These secrets and ``found``; the same object when nothing is new (building a
        redactor costs a millisecond per ten secrets)."""
        found = frozenset(found)
        if found <= self.values:
            return self
        values = self.values | found
        return Secrets(values, Redactor(values))


class Steps:
    """Runs attempts of steps for one driver: its node types, credentials, blobs and threads."""

    def __init__(
        self,
        registry: Registry,
        credentials: CredentialSource,
        blobs: BlobStore | None,
        *,
        http_allow: Sequence[str] = (),
        max_threads: int | None = None,
    ) -> None:
        self.registry = registry
        self.credentials = credentials
        self.blobs = blobs
        self.http_allow = tuple(http_allow)
        self._threads = ThreadPoolExecutor(
            max_workers=max_threads, thread_name_prefix="flowforge-step"
        )

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def params(action: Action, node: Node, scope: Mapping[str, Any]) -> BaseModel:
        """The node's parameters rendered in ``scope`` and checked against the action's model."""
        try:
            rendered = expr.render(node.params, scope)
            return action.input_model.model_validate(rendered)
        except expr.ExpressionError as exc:
            raise StepFailure(str(exc), "ExpressionError", retryable=False) from None
        except ValidationError as exc:
            details = "; ".join(
                f"params.{format_location(tuple(e['loc']))}: {e['msg']}"
                if e["loc"]
                else f"params: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise StepFailure(details, "ValidationError", retryable=False) from None

    async def credential(
        self, action: Action, credential_id: str, org_id: str
    ) -> tuple[BaseModel, set[str]]:
        """The credential of ``org_id`` that a node names, checked against its connector's
        schema, just in time, with its secret values (to redact). Its values never reach an
        error message."""
        connector = self.registry.connector_of(action.type)
        if connector.credential is None:
            raise StepFailure(
                f"node type {action.type} takes no credential", "CredentialError", retryable=False
            )
        try:
            raw = await asyncio.to_thread(self.credentials.credential, credential_id, org_id)
        except KeyError:
            raise StepFailure(
                f"no credential {credential_id!r}", "CredentialError", retryable=False
            ) from None
        except ValueError as exc:
            raise StepFailure(
                f"credential {credential_id!r}: {exc}", "CredentialError", retryable=False
            ) from None
        try:
            model = connector.credential.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{format_location(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise StepFailure(
                f"credential {credential_id!r} does not fit {connector.id}: {problems}",
                "CredentialError",
                retryable=False,
            ) from None
        return model, collect_secrets(model)

    async def attempt(
        self, action: Action, params: BaseModel, ctx: Context, timeout_s: float | None
    ) -> Any:
        """Call a handler once within its time limit; every failure becomes a StepFailure
        (but cancellation), and the attempt's temporary folder is removed."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self.invoke(action, params, ctx)
        except TimeoutError:
            ctx.cancel_event.set()  # a handler still running in a thread can see it and stop
            raise StepFailure(
                f"timed out after {timeout_s} s", "TimeoutError", retryable=True
            ) from None
        except ActionError as exc:
            raise StepFailure(str(exc), exc.type, exc.retryable) from None
        except asyncio.CancelledError:
            ctx.cancel_event.set()
            raise
        except Exception as exc:
            log.warning("%s raised %s", action.type, type(exc).__name__, exc_info=True)
            raise StepFailure(
                str(exc) or type(exc).__name__, type(exc).__name__, retryable=True, unexpected=True
            ) from None
        finally:
            ctx.cleanup()

    async def prepare(
        self,
        action: Action,
        node: Node,
        ctx: Context,
        scope: Mapping[str, Any],
        org_id: str,
        secrets: Secrets,
    ) -> tuple[BaseModel, Secrets]:
        """A node's parameters, and its credential set on ``ctx``; gives the parameters and
        the secrets to redact from now on, the credential's values among them (the caller
        keeps them before anything can fail with a message that holds one)."""
        params = self.params(action, node, scope)
        if node.credential is not None:
            ctx.credential, found = await self.credential(action, node.credential, org_id)
            secrets = secrets.adding(found)
        return params, secrets

    async def execute(
        self, action: Action, node: Node, params: BaseModel, ctx: Context, secrets: Secrets
    ) -> Any:
        """One attempt of a prepared node: its result as JSON data, or the handler's Park or
        Emit."""
        with redacting(secrets.redactor):
            result = await self.attempt(action, params, ctx, node.timeout_s)
        if isinstance(result, Park | Emit) or action.inline:
            return result
        return jsonable(result)

    async def call_action(
        self,
        action: Action,
        params: BaseModel,
        *,
        key: str,
        credential_id: str | None = None,
        org_id: str = DEFAULT_ORG,
        timeout_s: float | None = None,
    ) -> Any:
        """Run one action outside any workflow, as the connector's REST face does: the same
        context, credential (of ``org_id``), threads, time limit and temporary folder as a
        step. ``key`` is the caller's idempotency key. Gives the output as JSON data; raises
        StepFailure."""
        ctx = Context.standalone(action.type, key=key, blobs=self.blobs, http_allow=self.http_allow)
        secrets = Redactor(())
        if credential_id is not None:
            ctx.credential, found = await self.credential(action, credential_id, org_id)
            secrets = Redactor(found)
        try:
            with redacting(secrets):
                result = await self.attempt(action, params, ctx, timeout_s)
        except StepFailure as failure:
            if secrets:
                failure.message = secrets.redact_text(failure.message)
            raise
        if isinstance(result, Park | Emit):
            raise StepFailure(
                f"{action.type} steers a workflow run and cannot be called alone",
                "NotAService",
                retryable=False,
            )
        return secrets.redact(jsonable(result)) if secrets else jsonable(result)

    async def invoke(self, action: Action, params: BaseModel, ctx: Context) -> Any:
        """Call a handler with its context set: async on the loop, sync in a thread unless inline."""
        token = _current.set(ctx)
        try:
            if action.is_async:
                return await action.handler(params, ctx)
            if action.inline:
                return action.handler(params, ctx)
            loop = asyncio.get_running_loop()
            call = contextvars.copy_context().run
            return await loop.run_in_executor(self._threads, call, action.handler, params, ctx)
        finally:
            _current.reset(token)
