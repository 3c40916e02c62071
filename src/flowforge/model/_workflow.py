"""The workflow definition: nodes, edges and their policies (pydantic v2)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "ERROR_PORT",
    "ID_PATTERN",
    "MAIN_PORT",
    "Edge",
    "Node",
    "OnError",
    "RetryPolicy",
    "TriggerRule",
    "Workflow",
]

MAIN_PORT = "main"
ERROR_PORT = "error"
ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]{0,127}$"
_ID_RE = re.compile(ID_PATTERN)

OnError = Literal["fail", "continue", "route"]
TriggerRule = Literal["all", "any", "always"]


def _check_id(value: str) -> str:
    if not _ID_RE.match(value):
        raise ValueError(
            "an id starts with a letter or _ and holds only letters, digits, _ and -"
            " (at most 128 characters)"
        )
    return value


NodeId = Annotated[
    str, AfterValidator(_check_id), Field(description="Unique id of a node in its workflow")
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RetryPolicy(_Strict):
    """How often and how patiently a failing node is tried again."""

    max_attempts: int = Field(3, ge=1, le=100, description="Attempts in all, the first included")
    initial_s: float = Field(1.0, ge=0, le=86_400, description="Delay before the second attempt")
    multiplier: float = Field(2.0, ge=1, le=100, description="Growth of the delay per attempt")
    max_s: float = Field(60.0, ge=0, le=86_400, description="Upper bound of any one delay")
    jitter: float = Field(0.2, ge=0, le=1, description="Fraction of each delay drawn at random")

    def delay(self, failures: int, rand: float) -> float:
        """Seconds to wait after the ``failures``-th failed attempt; ``rand`` is in [0, 1)."""
        base = min(self.max_s, self.initial_s * self.multiplier ** max(0, failures - 1))
        return base * (1.0 - self.jitter * rand)


class Node(_Strict):
    """One step of a workflow: a node type (``connector.action``) with its parameters and policies."""

    id: NodeId
    type: str = Field(min_length=1, max_length=200, description="Node type, `connector.action`")
    name: str | None = Field(None, max_length=200, description="Label shown in the editor")
    notes: str | None = Field(None, max_length=10_000)
    params: dict[str, Any] = Field(
        default_factory=dict, description="Parameters; strings may hold {{ }} expressions"
    )
    credential: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Id of the credential the node's connector uses, given to it just in time",
    )
    retry: RetryPolicy | None = None
    timeout_s: float | None = Field(
        None, gt=0, le=31 * 86_400, description="Time limit of one attempt"
    )
    on_error: OnError = "fail"
    trigger_rule: TriggerRule = "all"
    for_each: str | None = Field(None, description="Expression giving a list: run once per item")
    concurrency: int = Field(1, ge=1, le=1000, description="Items of for_each run at once")
    position: tuple[float, float] | None = Field(None, description="Editor canvas position")


class Edge(_Strict):
    """A connection from one node's output port to another node's input."""

    source: str
    target: str
    source_port: str = Field(MAIN_PORT, min_length=1, max_length=100)
    target_port: str = Field(MAIN_PORT, min_length=1, max_length=100)


class Workflow(_Strict):
    """A workflow definition as written in YAML or JSON."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    tags: tuple[str, ...] = ()
    vars: dict[str, Any] = Field(default_factory=dict, description="Constants available as `vars`")
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...] = ()
    output: Any = Field(None, description="The run's result; expressions allowed")

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: tuple[str, ...]) -> tuple[str, ...]:
        for tag in tags:
            if not tag or len(tag) > 64:
                raise ValueError("a tag is 1 to 64 characters")
        return tags

    def node(self, node_id: str) -> Node:
        """The node with this id; KeyError if there is none."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)
