"""Completed runs per second on the Temporal backend, with one and with two ``flowforge worker``
processes on this machine.

The workflow is small: start, then three bench.fibo(10) steps in a chain. This process submits
--runs of them at once through TemporalEngine.submit and counts from the first submit until
the store has them all COMPLETED. The workers are real ``flowforge worker`` subprocesses; they
find the bench connector as any installed connector, through a ``flowforge.connectors`` entry
point (a package description in a temporary folder on their PYTHONPATH). Temporal is a dev
server started here unless FLOWFORGE_TEMPORAL_ADDRESS names one; the store is SQLite in a
temporary folder unless --db names a database the workers can reach too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from _common import REGISTRY
from temporalio.client import Client

from flowforge.engine.frames import ExecutionStatus
from flowforge.engine.temporal import TemporalEngine
from flowforge.engine.temporal._devserver import DevServer
from flowforge.model import Workflow
from flowforge.store import ExecutionStore, open_store

HERE = Path(__file__).parent
FLOWFORGE = Path(sys.executable).with_name("flowforge")
WORKERS = (1, 2)
STEPS = 3
WARM_UP = 10  # runs per worker before counting: the sandbox's imports, caches, the version row
SUBMITTERS = 32  # submits in flight at once
POLL_S = 0.02
READY_S = 60.0
FINISH_S = 300.0


def small() -> Workflow:
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "flow.start"}]
    edges = []
    for i in range(STEPS):
        nodes.append({"id": f"f{i}", "type": "bench.fibo", "params": {"n": 10}})
        edges.append({"source": nodes[-2]["id"], "target": f"f{i}"})
    return Workflow.model_validate({"name": "fibo-small", "nodes": nodes, "edges": edges})


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--repeat", type=int, default=1, help="measured rounds per worker count")
    parser.add_argument("--runs", type=int, default=300, help="runs submitted in one round")
    return parser.parse_args()


def plugin_path(folder: Path) -> str:
    """A PYTHONPATH on which ``flowforge worker`` finds the bench connector by its entry point."""
    info = folder / "flowforge_bench-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: flowforge-bench\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[flowforge.connectors]\nbench = _common:bench\n")
    return os.pathsep.join([str(folder), str(HERE)])


@contextmanager
def workers(count: int, env: dict[str, str], logs: Path) -> Iterator[None]:
    """``count`` ``flowforge worker`` processes, polling once this returns; stopped on leaving."""
    processes: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for i in range(count):
            log = logs / f"worker-{i}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [str(FLOWFORGE), "worker", "--db", env["FLOWFORGE_DATABASE_URL"]],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            processes.append((process, log))
        deadline = time.monotonic() + READY_S
        for process, log in processes:
            while "worker polling" not in log.read_text():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"a worker did not start:\n{log.read_text()}")
                time.sleep(0.1)
        yield
    except BaseException:
        for _, log in processes:  # the folder goes with the benchmark: show why here
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            print(f"--- the end of {log.name}:\n{tail}", file=sys.stderr)
        raise
    finally:
        for process, _ in processes:
            process.send_signal(signal.SIGTERM)
        for process, _ in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def finished(store: ExecutionStore) -> tuple[int, int]:
    """Runs COMPLETED, and runs that ended otherwise, in the store."""
    counts = await asyncio.to_thread(store.count_executions)
    failed = counts.get(ExecutionStatus.FAILED, 0) + counts.get(ExecutionStatus.CANCELLED, 0)
    return counts.get(ExecutionStatus.COMPLETED, 0), failed


async def submit_all(engine: TemporalEngine, workflow: Workflow, runs: int) -> None:
    gate = asyncio.Semaphore(SUBMITTERS)

    async def one() -> None:
        async with gate:
            await engine.submit(workflow)

    await asyncio.gather(*(one() for _ in range(runs)))


async def round_rate(engine: TemporalEngine, workflow: Workflow, runs: int) -> float:
    """Runs per second from the first submit until ``runs`` more are COMPLETED."""
    completed, failed = await finished(engine.store)
    started = time.perf_counter()
    submitting = asyncio.create_task(submit_all(engine, workflow, runs))
    deadline = started + FINISH_S
    while True:
        now_completed, now_failed = await finished(engine.store)
        if now_failed > failed:
            raise RuntimeError(f"{now_failed - failed} runs did not complete")
        if now_completed >= completed + runs:
            break
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{runs} runs did not complete within {FINISH_S:g} s")
        await asyncio.sleep(POLL_S)
    elapsed = time.perf_counter() - started
    await submitting
    return runs / elapsed


@asynccontextmanager
async def temporal_address() -> AsyncIterator[str]:
    given = os.environ.get("FLOWFORGE_TEMPORAL_ADDRESS")
    if given:
        yield given
        return
    async with DevServer(0) as server:
        yield server.address


async def measure(args: argparse.Namespace) -> dict[int, list[float]]:
    rates: dict[int, list[float]] = {}
    workflow = small()
    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="flowforge-bench-")))
        url = args.db or f"sqlite:///{home / 'bench.db'}"
        store = open_store(url, home)
        stack.callback(store.close)
        async with temporal_address() as address:
            namespace = os.environ.get("FLOWFORGE_TEMPORAL_NAMESPACE", "default")
            client = await Client.connect(address, namespace=namespace)
            for count in WORKERS:
                queue = f"bench-throughput-{count}-{uuid.uuid4().hex[:8]}"
                folder = home / f"{count}-workers"
                folder.mkdir()
                env = {
                    **os.environ,
                    "FLOWFORGE_HOME": str(home),
                    "FLOWFORGE_DATABASE_URL": url,
                    "FLOWFORGE_TEMPORAL_ADDRESS": address,
                    "FLOWFORGE_TEMPORAL_NAMESPACE": namespace,
                    "FLOWFORGE_TEMPORAL_TASK_QUEUE": queue,
                    "FLOWFORGE_LOG_LEVEL": "WARNING",
                    "PYTHONPATH": plugin_path(folder),
                }
                async with TemporalEngine(store, REGISTRY, client, task_queue=queue) as engine:
                    with workers(count, env, folder):
                        await round_rate(engine, workflow, WARM_UP * count)
                        rates[count] = [
                            await round_rate(engine, workflow, args.runs)
                            for _ in range(args.repeat)
                        ]
    return rates


def main() -> None:
    args = arguments()
    rates = asyncio.run(measure(args))
    print(
        f"start + {STEPS} fibo(10) steps on Temporal, {args.runs} runs submitted at once, "
        "counted until all are COMPLETED"
    )
    for count, samples in rates.items():
        shown = ", ".join(f"{r:.1f}" for r in samples)
        print(f"  {count} worker process{'es' if count > 1 else ''}: {shown} runs/s")


if __name__ == "__main__":
    main()
