"""Record the Temporal histories that the replay test replays: run each scenario below on a
dev server with a real worker and store, and write its history as JSON beside this file.

    .venv/bin/python tests/integration/temporal_histories/record.py

Record again only on purpose: a change to the graph workflow that makes an old history fail
to replay would break the runs in flight when it is deployed (use ``workflow.patched`` then).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client

from flowforge.connectors import builtin_registry
from flowforge.connectors.sdk import EnvCredentials
from flowforge.engine.temporal import TemporalEngine, WorkerOptions, worker
from flowforge.engine.temporal._devserver import DevServer
from flowforge.model import Workflow
from flowforge.store import SqlStore

HERE = Path(__file__).parent


def _wf(name: str, nodes: list[dict[str, Any]], edges: list[Any], **kw: Any) -> Workflow:
    es = [e if isinstance(e, dict) else {"source": e[0], "target": e[1]} for e in edges]
    return Workflow.model_validate({"name": name, "nodes": nodes, "edges": es, **kw})


CHILD = _wf(
    "child",
    [
        {"id": "start", "type": "flow.start"},
        {"id": "double", "type": "flow.set", "params": {"values": {"n": "{{ trigger.n * 2 }}"}}},
    ],
    [("start", "double")],
    output="{{ nodes.double.output.n }}",
)


def scenarios(child_version: str) -> dict[str, tuple[Workflow, Any]]:
    return {
        "branch_merge": (
            _wf(
                "branch",
                [
                    {"id": "start", "type": "flow.start"},
                    {
                        "id": "check",
                        "type": "flow.if",
                        "params": {"condition": "{{ trigger.amount > 100 }}"},
                    },
                    {"id": "big", "type": "flow.set", "params": {"values": {"size": "big"}}},
                    {"id": "small", "type": "flow.set", "params": {"values": {"size": "small"}}},
                    {"id": "join", "type": "flow.merge", "trigger_rule": "any"},
                ],
                [
                    ("start", "check"),
                    {"source": "check", "source_port": "true", "target": "big"},
                    {"source": "check", "source_port": "false", "target": "small"},
                    ("big", "join"),
                    ("small", "join"),
                ],
            ),
            {"amount": 250},
        ),
        "for_each_retry_route": (
            _wf(
                "items",
                [
                    {"id": "start", "type": "flow.start"},
                    {
                        "id": "each",
                        "type": "flow.set",
                        "for_each": "{{ trigger.items }}",
                        "concurrency": 2,
                        "params": {"values": {"twice": "{{ item * 2 }}"}},
                    },
                    {
                        "id": "shaky",
                        "type": "flow.fail",
                        "params": {"message": "still down", "retryable": True},
                        "retry": {"max_attempts": 2, "initial_s": 0.1, "max_s": 0.1},
                        "on_error": "route",
                    },
                    {"id": "handled", "type": "flow.set", "params": {"values": {"ok": True}}},
                ],
                [
                    ("start", "each"),
                    ("each", "shaky"),
                    {"source": "shaky", "source_port": "error", "target": "handled"},
                ],
                output="{{ nodes.each.output }}",
            ),
            {"items": [1, 2, 3, 4, 5]},
        ),
        "wait_and_subworkflow": (
            _wf(
                "waits",
                [
                    {"id": "start", "type": "flow.start"},
                    {"id": "nap", "type": "flow.wait", "params": {"seconds": 1}},
                    {
                        "id": "call",
                        "type": "flow.subworkflow",
                        "params": {"workflow": child_version, "input": {"n": 21}},
                    },
                ],
                [("start", "nap"), ("nap", "call")],
            ),
            {},
        ),
        "failure": (
            _wf(
                "failing",
                [
                    {"id": "start", "type": "flow.start"},
                    {"id": "boom", "type": "flow.fail", "params": {"message": "no luck"}},
                    {"id": "after", "type": "flow.noop"},
                ],
                [("start", "boom"), ("boom", "after")],
            ),
            {},
        ),
    }


async def record() -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = SqlStore(f"sqlite:///{folder}/record.db")
        registry = builtin_registry()
        queue = f"record-{uuid.uuid4().hex[:8]}"
        async with DevServer(0) as server:
            client = await Client.connect(server.address)
            options = WorkerOptions(task_queue=queue, heartbeat_s=2)
            async with worker(client, store, registry, EnvCredentials(), options):
                engine = TemporalEngine(store, registry, client, task_queue=queue)
                child_version = store.put_workflow_version(CHILD)
                for name, (workflow, run_input) in scenarios(child_version).items():
                    outcome = await engine.run(workflow, run_input)
                    record = store.get_execution(outcome.execution_id)
                    assert record.temporal_workflow_id is not None
                    handle = client.get_workflow_handle(record.temporal_workflow_id)
                    history = await handle.fetch_history()
                    (HERE / f"{name}.json").write_text(history.to_json() + "\n")
                    print(f"{name}: {outcome.status.value}, {len(history.events)} events")
        store.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(record()))
