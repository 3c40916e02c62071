"""Webhooks: what an HTTP request gives a run, and the Standard Webhooks signature check."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from flowforge.errors import FlowForgeError

__all__ = ["BodyError", "SignatureError", "request_input", "verify_signature"]


class SignatureError(FlowForgeError):
    """The request's webhook signature is missing, malformed, stale or wrong."""


class BodyError(FlowForgeError):
    """The request body does not parse as its content type says."""


def verify_signature(secret: str, body: bytes, headers: Mapping[str, str]) -> str:
    """Check a Standard Webhooks signature (HMAC-SHA256 over ``id.timestamp.body``, timestamp
    within 5 minutes); give the ``webhook-id`` for de-duplication."""
    try:
        Webhook(secret).verify(body, dict(headers), json_parse=False)
    except WebhookVerificationError as exc:
        raise SignatureError(f"webhook signature: {exc}") from None
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise SignatureError("webhook signature: malformed signature headers or body") from None
    return headers["webhook-id"]


def request_input(
    method: str,
    path: str,
    headers: Mapping[str, str],
    query: str,
    body: bytes,
) -> dict[str, Any]:
    """The run's input for a request: method, path, headers, query and the body parsed by its
    content type (JSON, form, text; anything else as base64)."""
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    parsed: Any
    encoding = None
    if not body:
        parsed = None
    elif content_type == "application/json" or content_type.endswith("+json"):
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BodyError(f"body: not valid JSON: {exc}") from None
    elif content_type == "application/x-www-form-urlencoded":
        try:
            parsed = _multi(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError:
            raise BodyError("body: form data is not UTF-8") from None
    else:
        try:
            parsed = body.decode()
        except UnicodeDecodeError:
            parsed, encoding = base64.b64encode(body).decode(), "base64"
    data: dict[str, Any] = {
        "method": method,
        "path": path,
        "headers": dict(headers),
        "query": _multi(parse_qsl(query, keep_blank_values=True)),
        "body": parsed,
    }
    if encoding:
        data["body_encoding"] = encoding
    return data


def _multi(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Pairs as a mapping; a repeated key gives a list of its values."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    return out
