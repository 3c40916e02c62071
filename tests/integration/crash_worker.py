"""A process for the crash tests: runs (or resumes) a workflow whose nodes log each execution.

Usage: python crash_worker.py run|resume DATABASE_URL SIDE_EFFECT_LOG
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from flowforge.connectors import Connector, Context, Registry
from flowforge.connectors import flow as flow_connector
from flowforge.engine.local import LocalEngine
from flowforge.model import Workflow
from flowforge.store import open_store

work = Connector("crash", name="Crash test")
LOG = sys.argv[3] if len(sys.argv) > 3 else os.devnull


class Work(BaseModel):
    ms: float = 30


@work.action("work", input=Work)
def do_work(params: Work, ctx: Context) -> Any:
    """Log that this node ran (a side effect outside the journal), then take a while."""
    label = ctx.node_id if ctx.index is None else f"{ctx.node_id}[{ctx.index}]"
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{label}\n".encode())
    finally:
        os.close(fd)
    time.sleep(params.ms / 1000)
    return {
        "node": label,
        "input": ctx.input if not isinstance(ctx.input, dict) else sorted(ctx.input),
    }


def workflow() -> Workflow:
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "flow.start"}]
    edges = []
    previous = "start"
    for i in range(8):  # a chain ...
        nodes.append({"id": f"c{i}", "type": "crash.work"})
        edges.append({"source": previous, "target": f"c{i}"})
        previous = f"c{i}"
    for b in range(3):  # ... a fan-out of parallel branches ...
        nodes.append({"id": f"p{b}", "type": "crash.work"})
        edges.append({"source": previous, "target": f"p{b}"})
    nodes.append({"id": "join", "type": "flow.merge"})
    edges += [{"source": f"p{b}", "target": "join"} for b in range(3)]
    nodes.append(  # ... and a for_each
        {
            "id": "each",
            "type": "crash.work",
            "for_each": "{{ [1, 2, 3, 4, 5, 6] }}",
            "concurrency": 2,
        }
    )
    edges.append({"source": "join", "target": "each"})
    nodes.append({"id": "last", "type": "crash.work"})
    edges.append({"source": "each", "target": "last"})
    return Workflow.model_validate({"name": "crash", "nodes": nodes, "edges": edges})


async def main(mode: str, url: str) -> int:
    store = open_store(url, Path(tempfile.gettempdir()))
    registry = Registry([flow_connector.connector, work])
    try:
        async with LocalEngine(store, registry, lease_ttl_s=30) as engine:
            if mode == "run":
                execution_id = await engine.submit(workflow(), {"go": True})
                print(execution_id, flush=True)
                result = await engine.wait(execution_id)
            else:
                ids = await engine.resume_all()
                assert len(ids) == 1, ids
                result = await engine.wait(ids[0])
            print(result.status.value, flush=True)
            return 0 if result.ok else 1
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
