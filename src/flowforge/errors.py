"""Errors shared by every layer of FlowForge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DefinitionError", "FlowForgeError", "Problem", "StateConflict"]


class FlowForgeError(Exception):
    """The base of every error FlowForge raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a definition: where (a JSON path such as ``nodes[2].params.url``),
    which node if any, and why."""

    path: str
    message: str
    node: str | None = None
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.path} (node {self.node!r})" if self.node else self.path
        return f"{self.severity}: {where}: {self.message}"


class DefinitionError(FlowForgeError):
    """A workflow definition that cannot be loaded or run; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        errors = [p for p in problems if p.severity == "error"]
        head = f"{source}: " if source else ""
        lines = "\n".join(f"  - {p}" for p in errors)
        super().__init__(f"{head}invalid workflow ({len(errors)} problem(s)):\n{lines}")


class StateConflict(FlowForgeError):
    """The request does not fit the current state (retrying a run that did not fail)."""
