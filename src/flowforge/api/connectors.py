"""The connectors' faces on the API: ``GET /api/v1/node-types`` (the editor builds its palette
and forms from it), ``POST /api/v1/{connector}/{action}`` for every action other tools call as
a service, and ``GET /api/v1/blobs/{id}`` to fetch the binary data actions give by reference."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from flowforge.api._auth import CallerDep, guard
from flowforge.api._deps import ServerDep
from flowforge.api._errors import ApiError
from flowforge.api._schemas import ErrorEnvelope, NodeType
from flowforge.connectors.sdk import Action, Blob, Connector, Registry, RegistryError
from flowforge.engine.steps import StepFailure
from flowforge.logs import request_id
from flowforge.server import Server

__all__ = ["RESERVED_IDS", "router", "service_router", "service_schemas"]

log = logging.getLogger("flowforge.api")

router = APIRouter(tags=["connectors"])

# First path segments the API uses itself: no connector may take one.
RESERVED_IDS = frozenset(
    {
        "workflows",
        "executions",
        "node-types",
        "node_types",
        "blobs",
        "health",
        "docs",
        "auth",
        "api-keys",
        "orgs",
        "audit",
        "credentials",
        "schedules",
        "expressions",
    }
)

_FORM_PARAMS = "params"  # the multipart field holding the non-file parameters as JSON


@router.get("/api/v1/node-types", response_model=list[NodeType], **guard("workflows:read"))
async def node_types(server: ServerDep) -> list[NodeType]:
    """Every node type with its metadata and the JSON Schemas of its parameters, output and
    credential: the editor's palette and forms are built from this."""
    registry = server.registry
    return [
        NodeType.of(registry.connector_of(action.type), action)
        for action in sorted(registry.actions.values(), key=lambda a: a.type)
    ]


@router.get(
    "/api/v1/blobs/{blob_id}",
    response_class=Response,
    **guard(
        "executions:read",
        responses={200: {"content": {"application/octet-stream": {}}, "description": "The bytes"}},
    ),
)
async def get_blob(
    blob_id: str,
    server: ServerDep,
    media_type: str = Query(
        "application/octet-stream",
        alias="mediaType",
        max_length=200,
        pattern=r"^[\w.+-]+/[\w.+-]+$",
        description="Content-Type to answer with (the reference's mediaType)",
    ),
) -> Response:
    """The bytes a blob reference (``{"blob": "<sha256>", ...}``) stands for."""
    if len(blob_id) != 64 or any(c not in "0123456789abcdef" for c in blob_id):
        raise ApiError(404, f"no blob {blob_id!r}")
    data = await server.blob(blob_id)
    return Response(data, media_type=media_type)


def service_router(registry: Registry) -> APIRouter:
    """One documented ``POST /api/v1/{connector}/{action}`` per action of every connector that
    offers its actions as services."""
    services = APIRouter()
    for connector in registry.connectors.values():
        if not connector.service:
            continue
        if connector.id in RESERVED_IDS:
            raise RegistryError(f"connector id {connector.id!r} is a path the API uses itself")
        for action in connector.actions.values():
            services.add_api_route(
                f"/api/v1/{connector.id}/{action.name}",
                _endpoint(connector, action),
                methods=["POST"],
                name=action.type,
                summary=action.description or action.type,
                description=_description(connector, action),
                tags=[connector.name],
                response_model=action.output_model,
                **guard(
                    f"services:{connector.id}:{action.name}",
                    group="services",
                    openapi_extra=_request_body(connector, action),
                    responses={
                        200: {"content": {"application/octet-stream": {}}},
                        502: {"model": ErrorEnvelope, "description": "It failed; a retry may work"},
                        504: {"model": ErrorEnvelope, "description": "It ran out of time"},
                    },
                ),
            )
    return services


def _endpoint(connector: Connector, action: Action) -> Any:
    async def call(request: Request, caller: CallerDep) -> Any:
        server: Server = request.app.state.server
        params = await _params(request, server, action)
        key = request.headers.get("idempotency-key") or request_id.get() or action.type
        credential = request.headers.get("x-flowforge-credential") or None
        if credential is not None:
            caller.require("credentials:use")
        try:
            output = await server.engine.steps.call_action(
                action,
                params,
                key=key[:200],
                credential_id=credential,
                org_id=caller.org_id,
                timeout_s=server.settings.service_timeout_s,
            )
        except StepFailure as exc:
            raise _failure(exc) from None
        blob = _single_blob(output)
        if blob is not None and _wants_file(request, blob):
            data = await server.blob(blob.blob)
            disposition = f'attachment; filename="{_safe_name(blob.name)}"' if blob.name else None
            headers = {"Content-Disposition": disposition} if disposition else None
            return Response(data, media_type=blob.media_type, headers=headers)
        return JSONResponse(output)

    call.__name__ = f"{connector.id}_{action.name}"
    call.__doc__ = action.description
    return call


async def _params(request: Request, server: Server, action: Action) -> BaseModel:
    """The action's input from a JSON body, or from a multipart form whose file fields are
    stored as blobs and passed by reference."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        raw = await _form_params(request, server)
    elif content_type in ("application/json", "") or content_type.endswith("+json"):
        body = await request.body()
        try:
            raw = json.loads(body) if body.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(
                422,
                f"the body is not valid JSON: {exc}",
                details=[{"field": "body", "message": f"malformed JSON: {exc}"}],
            ) from None
    else:
        raise ApiError(
            415,
            f"send application/json or multipart/form-data, not {content_type}",
            details=[{"field": "Content-Type", "message": "unsupported media type"}],
        )
    try:
        return action.input_model.model_validate(raw)
    except ValidationError as exc:
        errors = [
            {**e, "loc": ("body", *e["loc"])}
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise RequestValidationError(errors) from None


async def _form_params(request: Request, server: Server) -> dict[str, Any]:
    form = await request.form()
    try:
        text = form.get(_FORM_PARAMS)
        raw: Any = json.loads(text) if isinstance(text, str) and text.strip() else {}
        if not isinstance(raw, dict):
            raise ApiError(
                422,
                f"the {_FORM_PARAMS!r} field must hold a JSON object",
                details=[{"field": _FORM_PARAMS, "message": "not a JSON object"}],
            )
        for field in {k for k in form if k != _FORM_PARAMS}:
            values = form.getlist(field)
            refs: list[Any] = []
            for value in values:
                if isinstance(value, UploadFile):
                    data = await value.read()
                    blob = await server.put_blob(
                        data, value.content_type or "application/octet-stream", value.filename
                    )
                    refs.append(blob.model_dump(mode="json"))
                else:
                    refs.append(value)
            raw[field] = refs[0] if len(refs) == 1 else refs
        return raw
    except json.JSONDecodeError as exc:
        raise ApiError(
            422,
            f"the {_FORM_PARAMS!r} field is not valid JSON: {exc}",
            details=[{"field": _FORM_PARAMS, "message": f"malformed JSON: {exc}"}],
        ) from None
    finally:
        await form.close()


def _failure(exc: StepFailure) -> ApiError:
    """A failed action: 504 if it ran out of time, 422 if the input cannot work, 502 if it
    may work later (an upstream service failed), 500 if the handler itself broke."""
    details = [{"field": "", "message": exc.message, "type": exc.type}]
    if exc.unexpected:
        return ApiError(500, f"the action broke: {exc.type}: {exc.message}", details=details)
    if exc.type == "TimeoutError":
        return ApiError(504, exc.message, code="ACTION_TIMED_OUT", details=details)
    if not exc.retryable:
        return ApiError(422, exc.message, code="ACTION_FAILED", details=details)
    return ApiError(502, exc.message, code="ACTION_FAILED", details=details)


def _single_blob(output: Any) -> Blob | None:
    """The one blob reference an output holds at its top level, if exactly one."""
    if not isinstance(output, dict):
        return None
    found = [v for v in output.values() if isinstance(v, dict) and set(v) >= {"blob", "size"}]
    if len(found) != 1:
        return None
    try:
        return Blob.model_validate(found[0])
    except ValidationError:
        return None


def _wants_file(request: Request, blob: Blob) -> bool:
    """Whether the caller asked for the file itself rather than the JSON answer."""
    accept = request.headers.get("accept", "")
    if not accept or "application/json" in accept or "*/*" in accept:
        return False
    return "application/octet-stream" in accept or blob.media_type in accept


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._- " else "_" for c in name)[:200]


def _description(connector: Connector, action: Action) -> str:
    parts = [action.description or action.type, f"Node type `{action.type}`."]
    if connector.credential is not None:
        parts.append("Name the credential to use in the `X-FlowForge-Credential` header.")
    if _takes_blobs(action.input_model):
        parts.append(
            "Files can be uploaded as multipart/form-data: each file in the field of its "
            f"parameter, the other parameters as JSON in the `{_FORM_PARAMS}` field."
        )
    parts.append(
        "Ask for `Accept: application/octet-stream` to receive a single file output itself."
    )
    return "\n\n".join(parts)


def _takes_blobs(model: type[BaseModel]) -> bool:
    """Whether any parameter (at any depth) is a Blob, so that uploads make sense."""
    return Blob.__name__ in model.model_json_schema().get("$defs", {})


def _request_body(connector: Connector, action: Action) -> dict[str, Any]:
    """The request body in the OpenAPI document: the action's input model as JSON. Its nested
    models go to the components under the connector's id (see ``service_schemas``)."""
    schema = _input_schema(connector, action)
    schema.pop("$defs", None)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _input_schema(connector: Connector, action: Action) -> dict[str, Any]:
    return action.input_model.model_json_schema(
        ref_template=f"#/components/schemas/{connector.id}.{{model}}"
    )


def service_schemas(registry: Registry) -> dict[str, Any]:
    """The nested models of every service's input, for the OpenAPI components."""
    schemas: dict[str, Any] = {}
    for connector in registry.connectors.values():
        if connector.service:
            for action in connector.actions.values():
                for name, schema in _input_schema(connector, action).get("$defs", {}).items():
                    schemas[f"{connector.id}.{name}"] = schema
    return schemas
