"""1,000 parallel branches fanning into one merge: wall time and peak memory."""

from __future__ import annotations

import asyncio
import resource
import time
import tracemalloc

from _common import REGISTRY, arguments, fresh_store, summary

from flowforge.engine.local import LocalEngine
from flowforge.model import Workflow

BRANCHES = 1000


def fan_out() -> Workflow:
    nodes = [{"id": "start", "type": "flow.start"}]
    edges = []
    for i in range(BRANCHES):
        nodes.append({"id": f"b{i}", "type": "flow.set", "params": {"values": {"branch": i}}})
        edges.append({"source": "start", "target": f"b{i}"})
        edges.append({"source": f"b{i}", "target": "merge"})
    nodes.append({"id": "merge", "type": "flow.merge"})
    return Workflow.model_validate({"name": "fan-out", "nodes": nodes, "edges": edges})


async def measure(url: str | None, repeat: int) -> tuple[list[float], float]:
    workflow = fan_out()
    samples = []
    peak = 0.0
    with fresh_store(url) as store:
        async with LocalEngine(store, REGISTRY) as engine:
            await engine.run(workflow)
            for _ in range(repeat):
                started = time.perf_counter()
                result = await engine.run(workflow)
                samples.append(time.perf_counter() - started)
                assert result.ok and len(result.result["merge"]) == BRANCHES
            tracemalloc.start()  # a run of its own: tracing slows Python down
            await engine.run(workflow)
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    return samples, peak


def main() -> None:
    args = arguments(__doc__ or "")
    samples, peak = asyncio.run(measure(args.db, args.repeat))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{BRANCHES} parallel branches into one merge ({2 * BRANCHES + 2} frames per run)")
    print(f"  wall time: {summary(samples)}")
    print(
        f"  peak memory: {peak:.1f} MiB allocated by the run (tracemalloc), process max RSS {rss:.0f} MiB"
    )


if __name__ == "__main__":
    main()
