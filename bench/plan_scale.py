"""Validation plus planning of large graphs: 1k, 10k and 100k nodes with two edges per node.

"Planning" is building the scheduler's graph and driving the pure scheduler through the whole
run (every node offered and completed), without I/O. Goal: 10k nodes / 20k edges under 0.5 s,
and time growing linearly with size.
"""

from __future__ import annotations

import random
import time

from _common import REGISTRY

from flowforge.engine import plan
from flowforge.engine.validate import check
from flowforge.model import Workflow


def layered(n: int, seed: int = 7) -> Workflow:
    """n nodes; each node after the first two has two incoming edges from earlier nodes."""
    rnd = random.Random(seed)
    nodes = [{"id": "n0", "type": "flow.start"}] + [
        {"id": f"n{i}", "type": "flow.noop"} for i in range(1, n)
    ]
    edges = [{"source": "n0", "target": "n1"}]
    for i in range(2, n):
        a = rnd.randrange(max(0, i - 50), i)
        b = rnd.randrange(max(0, i - 50), i)
        while b == a:
            b = rnd.randrange(0, i)
        edges.append({"source": f"n{a}", "target": f"n{i}"})
        edges.append({"source": f"n{b}", "target": f"n{i}"})
    return Workflow.model_validate({"name": f"graph-{n}", "nodes": nodes, "edges": edges})


def drive(graph: plan.Graph) -> int:
    state = plan.new_state(graph)
    state, commands = plan.step(graph, state, plan.Start(None, {"id": "bench"}))
    queue = [c for c in commands if isinstance(c, plan.RunNode)]
    offered = len(queue)
    while queue:
        command = queue.pop()
        state, commands = plan.step(graph, state, plan.NodeSucceeded(command.node, None))
        more = [c for c in commands if isinstance(c, plan.RunNode)]
        offered += len(more)
        queue.extend(more)
    assert state.status.value == "COMPLETED"
    return offered


def main() -> None:
    print("validation + planning (graph build + a full pure run through the scheduler)")
    for n in (1_000, 10_000, 100_000):
        workflow = layered(n)
        edges = len(workflow.edges)
        started = time.perf_counter()
        graph = check(workflow, REGISTRY)
        validated = time.perf_counter()
        offered = drive(graph)
        done = time.perf_counter()
        assert offered == n
        total = done - started
        print(
            f"  {n:>7,} nodes {edges:>7,} edges: validate {1000 * (validated - started):7.1f} ms,"
            f" plan {1000 * (done - validated):7.1f} ms, total {1000 * total:7.1f} ms"
            f" ({1e6 * total / n:.1f} µs per node)"
        )


if __name__ == "__main__":
    main()
