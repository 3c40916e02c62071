"""40 nodes in a strict chain, each computing naive recursive fibo(10), journal on.

Prints the wall time from submit to result. Reference (Windmill's published orchestrator
benchmark, the same workload, one worker on an m4.large): Temporal 2.97 s, Prefect 4.87 s,
Hatchet 1.22 s. Goal here: under 50 ms on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import time

from _common import REGISTRY, arguments, fresh_store, summary

from flowforge.engine.local import LocalEngine
from flowforge.model import Workflow

NODES = 40


def chain() -> Workflow:
    nodes = [{"id": "start", "type": "flow.start"}]
    edges = []
    for i in range(NODES):
        nodes.append({"id": f"f{i}", "type": "bench.fibo", "params": {"n": 10}})
        edges.append({"source": nodes[-2]["id"], "target": f"f{i}"})
    return Workflow.model_validate({"name": "fibo-chain", "nodes": nodes, "edges": edges})


async def measure(url: str | None, repeat: int) -> list[float]:
    workflow = chain()
    samples = []
    with fresh_store(url) as store:
        async with LocalEngine(store, REGISTRY) as engine:
            await engine.run(workflow)  # warm-up: imports, caches, the workflow version row
            for _ in range(repeat):
                started = time.perf_counter()
                result = await engine.run(workflow)
                samples.append(time.perf_counter() - started)
                assert result.ok, result.error
                frames = len(store.get_frames(result.execution_id))
    print(f"fibo(10) chain of {NODES} nodes, {frames} frames journaled per run")
    return samples


def main() -> None:
    args = arguments(__doc__ or "")
    samples = asyncio.run(measure(args.db, args.repeat))
    print(f"  submit to result: {summary(samples)} (goal < 50 ms)")


if __name__ == "__main__":
    main()
