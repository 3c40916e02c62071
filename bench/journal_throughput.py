"""Frames journaled per second under concurrent load: many runs at once on one engine."""

from __future__ import annotations

import asyncio
import time

from _common import REGISTRY, arguments, fresh_store

from flowforge.engine.local import LocalEngine
from flowforge.model import Workflow

RUNS = 200
WIDTH = 10


def workflow() -> Workflow:
    nodes = [{"id": "start", "type": "flow.start"}]
    edges = []
    for i in range(WIDTH):
        nodes.append(
            {
                "id": f"w{i}",
                "type": "flow.set",
                "params": {"values": {"i": i, "in": "{{ trigger.n }}"}},
            }
        )
        edges.append({"source": "start", "target": f"w{i}"})
    return Workflow.model_validate({"name": "throughput", "nodes": nodes, "edges": edges})


async def measure(url: str | None) -> tuple[int, float]:
    wf = workflow()
    with fresh_store(url) as store:
        async with LocalEngine(store, REGISTRY) as engine:
            await engine.run(wf, {"n": -1})
            started = time.perf_counter()
            ids = await asyncio.gather(*(engine.submit(wf, {"n": n}) for n in range(RUNS)))
            results = await asyncio.gather(*(engine.wait(i) for i in ids))
            elapsed = time.perf_counter() - started
            assert all(r.ok for r in results)
            frames = sum(len(store.get_frames(i)) for i in ids)
    return frames, elapsed


def main() -> None:
    args = arguments(__doc__ or "")
    frames, elapsed = asyncio.run(measure(args.db))
    print(f"{RUNS} concurrent runs of {WIDTH + 1} nodes: {frames:,} frames in {elapsed:.2f} s")
    print(
        f"  {frames / elapsed:,.0f} frames journaled per second ({RUNS / elapsed:,.0f} runs per second)"
    )


if __name__ == "__main__":
    main()
