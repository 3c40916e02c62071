"""Large values travel through Temporal by reference.

Temporal caps one payload at 2 MB and a history at 50 MB, and keeps every activity's input and
result in the history. A value larger than ``temporal_inline_bytes`` as JSON is stored once in
the FlowForge store (content-addressed, so storing it twice costs nothing) and replaced by a
small reference; the activity that needs the value reads it back.

References can end up inside other values (a for_each node's output is the list of its items'
outputs, each packed on its own), so unpacking looks at every level. A user's data that happens
to look like a reference is wrapped when packed, at whatever level, and never misread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flowforge.store import ExecutionStore

__all__ = [
    "INLINE_MAX",
    "MEDIA_TYPE",
    "TooLarge",
    "contains_packed",
    "is_packed",
    "pack",
    "unpack",
    "unpack_scope",
]

MEDIA_TYPE = "application/vnd.flowforge.value+json"
_REF = "$flowforge.ref"
_LITERAL = "$flowforge.literal"
_MARK = '"$flowforge.'
INLINE_MAX = 1536 * 1024
"""The largest value that travels inline because the workflow code reads it (a for_each list,
what the run's output expression reads): under Temporal's 2 MB payload limit, with room for
the rest of the payload."""


class TooLarge(ValueError):
    """A value that must travel inline is over Temporal's payload limit."""


def is_packed(value: Any) -> bool:
    """A reference, or a value that looked like one and travels wrapped."""
    return isinstance(value, dict) and len(value) == 1 and (_REF in value or _LITERAL in value)


def pack(store: ExecutionStore, value: Any, limit: int, *, inline_max: int | None = None) -> Any:
    """``value`` as it travels: a reference when its JSON is larger than ``limit`` bytes, else
    itself with look-alikes wrapped. With ``inline_max`` it always travels inline (the workflow
    code reads it) and may be at most that large (TooLarge)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str) and len(value) * 4 < min(limit, inline_max or limit):
        return value  # UTF-8 is at most 4 bytes a character: small, and nothing to wrap
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    size = len(text.encode())
    if inline_max is not None:
        if size > inline_max:
            raise TooLarge(f"{size} bytes")
    elif size > limit:
        return {_REF: store.put_blob(text.encode(), MEDIA_TYPE).blob}
    return _wrap(value) if _MARK in text else value


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        if is_packed(value):
            return {_LITERAL: value}
        return {k: _wrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def contains_packed(value: Any) -> bool:
    """Whether unpacking would change anything (and may read the store)."""
    if isinstance(value, dict):
        return is_packed(value) or any(contains_packed(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_packed(v) for v in value)
    return False


def unpack(store: ExecutionStore, value: Any) -> Any:
    """The value ``pack`` was given, with every reference inside it read back."""
    if isinstance(value, dict):
        if is_packed(value):
            if _LITERAL in value:
                return value[_LITERAL]
            return json.loads(store.get_blob(value[_REF]))
        if not value:
            return value
        return {k: unpack(store, v) for k, v in value.items()}
    if isinstance(value, list):
        return [unpack(store, v) for v in value]
    return value


def unpack_scope(store: ExecutionStore, scope: Mapping[str, Any]) -> dict[str, Any]:
    """A step's expression scope with its values unpacked."""
    out = dict(scope)
    for name in ("trigger", "item"):
        if name in out:
            out[name] = unpack(store, out[name])
    nodes = out.get("nodes")
    if isinstance(nodes, Mapping):
        out["nodes"] = {k: {"output": unpack(store, v["output"])} for k, v in nodes.items()}
    return out
