"""Writes the part of the server's OpenAPI document the editor uses (the core API, without the
connector services) to ui/src/api/openapi.json, from which `npm run api-types` makes the types."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

CORE_TAGS = {
    "workflows",
    "executions",
    "auth",
    "api keys",
    "organisations",
    "credentials",
    "shares",
    "connectors",
    "audit",
    "system",
    "expressions",
    "schedules",
}


def _refs(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for item in value.values():
            _refs(item, found)
    elif isinstance(value, list):
        for item in value:
            _refs(item, found)


def main() -> None:
    os.environ.setdefault("FLOWFORGE_HOME", tempfile.mkdtemp())
    from flowforge.api import create_app

    spec = create_app().openapi()
    paths = {
        path: ops
        for path, ops in spec["paths"].items()
        if path.startswith("/api/v1/")
        and any(set(op.get("tags", ())) & CORE_TAGS for op in ops.values())
    }
    schemas = spec["components"]["schemas"]
    keep: set[str] = set()
    _refs(paths, keep)
    pending = list(keep)
    while pending:
        found: set[str] = set()
        _refs(schemas[pending.pop()], found)
        pending.extend(found - keep)
        keep |= found
    spec["paths"] = paths
    spec["components"]["schemas"] = {k: schemas[k] for k in sorted(keep)}
    out = Path(__file__).resolve().parents[1] / "src" / "api" / "openapi.json"
    out.write_text(json.dumps(spec, indent=1) + "\n")
    print(f"wrote {out} ({len(paths)} paths, {len(keep)} schemas)", file=sys.stderr)


if __name__ == "__main__":
    main()
