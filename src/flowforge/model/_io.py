"""Load and dump workflow definitions as YAML or JSON, losslessly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from flowforge.errors import DefinitionError, Problem
from flowforge.model._workflow import Workflow

__all__ = [
    "MAX_DEFINITION_BYTES",
    "Format",
    "dump_workflow",
    "format_location",
    "load_workflow",
    "parse_workflow",
    "problems_from_validation_error",
]

MAX_DEFINITION_BYTES = 8 * 1024 * 1024
Format = Literal["yaml", "json"]


class _Loader(yaml.SafeLoader):
    """Safe YAML without aliases (no 'billion laughs') and with timestamps kept as text."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.MarkedYAMLError(
                None, None, "aliases (*name) are not allowed in workflow files", event.start_mark
            )
        return super().compose_node(parent, index)


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Dumper(yaml.SafeDumper):
    """Safe YAML out, writing strings with Unicode line breaks double-quoted: in the other styles
    PyYAML folds NEL, LS and PS into plain breaks and the text would not load back the same."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = '"' if any(ch in value for ch in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def format_location(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a JSON path: ``nodes[2].retry.max_attempts``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "$"


def problems_from_validation_error(
    error: ValidationError, data: Any = None, prefix: str = ""
) -> list[Problem]:
    """One Problem per pydantic error, naming the node id where the path enters ``nodes``."""
    problems = []
    for err in error.errors(include_url=False):
        loc = tuple(err["loc"])
        node = None
        if (
            len(loc) >= 2
            and loc[0] == "nodes"
            and isinstance(loc[1], int)
            and isinstance(data, dict)
            and isinstance(data.get("nodes"), list)
            and loc[1] < len(data["nodes"])
            and isinstance(data["nodes"][loc[1]], dict)
        ):
            raw = data["nodes"][loc[1]].get("id")
            node = raw if isinstance(raw, str) else None
        path = format_location(loc)
        if prefix:
            path = f"{prefix}.{path}" if path != "$" else prefix
        problems.append(Problem(path=path, message=err["msg"], node=node))
    return problems


def _decode(text: str, fmt: Format, source: str | None) -> Any:
    try:
        if fmt == "json":
            return json.loads(text)
        return yaml.load(text, Loader=_Loader)
    except RecursionError:
        raise DefinitionError([Problem("$", "nesting is too deep")], source) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise DefinitionError(
            [Problem("$", f"invalid JSON at {where}: {exc.msg}")], source
        ) from None
    except yaml.YAMLError as exc:
        detail = str(exc).replace("\n", " ")
        raise DefinitionError([Problem("$", f"invalid YAML: {detail}")], source) from None


def parse_workflow(text: str | bytes, fmt: Format = "yaml", source: str | None = None) -> Workflow:
    """The workflow in ``text``; DefinitionError naming every field that is wrong."""
    if len(text) > MAX_DEFINITION_BYTES:
        raise DefinitionError(
            [Problem("$", f"definition is larger than {MAX_DEFINITION_BYTES} bytes")], source
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DefinitionError([Problem("$", f"not UTF-8 text: {exc.reason}")], source) from None
    data = _decode(text, fmt, source)
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise DefinitionError(
            [Problem("$", f"expected a mapping with name and nodes, got {kind}")], source
        )
    try:
        return Workflow.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(problems_from_validation_error(exc, data), source) from None
    except RecursionError:
        raise DefinitionError([Problem("$", "nesting is too deep")], source) from None


def load_workflow(path: str | Path) -> Workflow:
    """The workflow in a ``.yaml``, ``.yml`` or ``.json`` file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_DEFINITION_BYTES:
            raise DefinitionError(
                [Problem("$", f"file is larger than {MAX_DEFINITION_BYTES} bytes")], str(path)
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise DefinitionError(
            [Problem("$", f"cannot read file: {exc.strerror}")], str(path)
        ) from None
    fmt: Format = "json" if path.suffix.lower() == ".json" else "yaml"
    return parse_workflow(raw, fmt, str(path))


def dump_workflow(workflow: Workflow, fmt: Format = "yaml") -> str:
    """The workflow as YAML or JSON text that loads back to an equal workflow."""
    data = workflow.model_dump(mode="json", exclude_defaults=True)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
