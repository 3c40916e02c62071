"""The 40-node fibo(10) chain of chain_fibo.py on the Temporal backend, against the same 40
activities in a workflow written straight against the Temporal SDK (_plain_temporal.py).

Both run on one in-process worker each, with the same settings and sandboxed workflow runner,
against a Temporal dev server started here (or the one FLOWFORGE_TEMPORAL_ADDRESS names);
FlowForge journals to SQLite in a temporary folder (or --db). Prints the wall time from submit
to result of both and FlowForge's overhead on top of plain Temporal. Goal: under 20 %.

Most of either run is Temporal's own dispatch of workflow tasks (about 30 ms each on a dev
server on 2 cores), which hides FlowForge's share: the milliseconds added per node are the
figure that a faster cluster would leave standing.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from _common import REGISTRY, arguments, fresh_store, summary
from _plain_temporal import WORKFLOW_NAME as PLAIN_WORKFLOW
from _plain_temporal import PlainChain, fibo_activity
from chain_fibo import NODES, chain
from temporalio.client import Client
from temporalio.worker import Worker

from flowforge.connectors.sdk import EnvCredentials
from flowforge.engine.temporal import TemporalEngine, WorkerOptions, worker, workflow_runner
from flowforge.engine.temporal._devserver import DevServer
from flowforge.store import ExecutionStore

GOAL = 0.20


@asynccontextmanager
async def temporal_address() -> AsyncIterator[str]:
    """The server FLOWFORGE_TEMPORAL_ADDRESS names, or a dev server run for the benchmark."""
    given = os.environ.get("FLOWFORGE_TEMPORAL_ADDRESS")
    if given:
        yield given
        return
    async with DevServer(0) as server:
        yield server.address


@asynccontextmanager
async def plain_worker(
    client: Client, options: WorkerOptions, threads: ThreadPoolExecutor
) -> AsyncIterator[Worker]:
    """A worker of the plain workflow, set up as flowforge.engine.temporal.worker sets up its own."""
    w = Worker(
        client,
        task_queue=options.task_queue,
        workflows=[PlainChain],
        activities=[fibo_activity],
        activity_executor=threads,
        workflow_runner=workflow_runner(),
        max_concurrent_activities=options.max_activities,
        max_concurrent_workflow_tasks=options.max_workflow_tasks,
        max_concurrent_local_activities=options.max_activities,
    )
    task = asyncio.create_task(w.run())
    try:
        yield w
    finally:
        await w.shutdown()
        await task


async def measure(
    client: Client, store: ExecutionStore, repeat: int
) -> tuple[list[float], list[float], int]:
    """Submit-to-result times of FlowForge and of the plain workflow, runs interleaved so that
    both see the same server; and the frames FlowForge journals per run."""
    run = uuid.uuid4().hex[:8]
    ours = WorkerOptions(task_queue=f"bench-chain-flowforge-{run}")
    theirs = WorkerOptions(task_queue=f"bench-chain-plain-{run}")
    workflow = chain()
    flowforge_samples: list[float] = []
    plain_samples: list[float] = []
    frames = 0

    async def plain() -> None:
        result = await client.execute_workflow(
            PLAIN_WORKFLOW, NODES, id=f"plain-{uuid.uuid4()}", task_queue=theirs.task_queue
        )
        assert result == 55, result

    with ThreadPoolExecutor(max_workers=theirs.max_activities) as threads:
        async with (
            worker(client, store, REGISTRY, EnvCredentials(), ours),
            plain_worker(client, theirs, threads),
            TemporalEngine(store, REGISTRY, client, task_queue=ours.task_queue) as engine,
        ):
            for _ in range(2):  # warm-up: the sandbox's imports, caches, the version row
                assert (await engine.run(workflow)).ok
                await plain()
            for _ in range(repeat):
                started = time.perf_counter()
                result = await engine.run(workflow)
                flowforge_samples.append(time.perf_counter() - started)
                assert result.ok, result.error
                frames = len(store.get_frames(result.execution_id))

                started = time.perf_counter()
                await plain()
                plain_samples.append(time.perf_counter() - started)
    return flowforge_samples, plain_samples, frames


def p90(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=10, method="inclusive")[-1]


async def main_async(url: str | None, repeat: int) -> None:
    async with temporal_address() as address:
        client = await Client.connect(
            address, namespace=os.environ.get("FLOWFORGE_TEMPORAL_NAMESPACE", "default")
        )
        with fresh_store(url) as store:
            ours, theirs, frames = await measure(client, store, repeat)
    print(f"fibo(10) chain of {NODES} nodes on Temporal ({address}), {frames} frames per run")
    for name, samples in (("FlowForge", ours), ("plain SDK", theirs)):
        print(f"  {name} submit to result: {summary(samples)}, p90 {p90(samples) * 1000:.1f} ms")
    extra = statistics.median(ours) - statistics.median(theirs)
    print(
        f"  FlowForge over plain Temporal: {extra / statistics.median(theirs):+.1%} at the "
        f"median ({extra * 1000:+.0f} ms, {extra / NODES * 1000:+.2f} ms a node), "
        f"{p90(ours) / p90(theirs) - 1:+.1%} at p90 (goal < {GOAL:.0%})"
    )


def main() -> None:
    args = arguments(__doc__ or "")
    asyncio.run(main_async(args.db, args.repeat))


if __name__ == "__main__":
    main()
