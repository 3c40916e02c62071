"""SIGKILL a ``flowforge worker`` in the middle of a step while a second one runs: Temporal gives
the step to the survivor, the run completes, and the steps done before the kill are not run
again.

The slow step is an ``http.request`` to a server of this test that holds the first request
until the worker making it is dead: the test knows exactly when the step is under way, and the
server counts what each node did outside the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from flowforge.connectors import builtin_registry
from flowforge.engine.frames import ExecutionStatus, FrameStatus
from flowforge.engine.temporal import TemporalEngine
from flowforge.model import Workflow
from flowforge.store import SqlStore

pytestmark = pytest.mark.slow

FLOWFORGE = Path(sys.executable).with_name("flowforge")
POLLING = "worker polling task queue"
HEARTBEAT_S = 1


class Remote:
    """The HTTP service the workflow calls: it answers ``{"n": ...}`` from the posted ``n``,
    counts the calls to each path and holds the first call to /slow until ``release``."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.held = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def answer(self, path: str, n: int) -> tuple[int, bool]:
        with self._lock:
            self.calls[path] += 1
            first = self.calls[path] == 1
        if path == "/slow" and first:
            self.held.set()
            self.release.wait(60)
            return n * 10, True
        return (n + 1 if path == "/b" else n * 10), False


@contextlib.contextmanager
def serving(remote: Remote) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            n = int(json.loads(self.rfile.read(length))["n"])
            value, held = remote.answer(self.path, n)
            body = json.dumps({"n": value}).encode()
            # the held call's worker is dead by now: nobody reads this answer
            with contextlib.suppress(OSError):
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            if held:
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        remote.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


def post(node: str, url: str, n: str) -> dict[str, Any]:
    """An ``http.request`` node posting ``{"n": n}``, with no retries of its own."""
    params = {"method": "POST", "url": url, "json": {"n": n}, "retries": 0}
    return {"id": node, "type": "http.request", "params": params}


def chain(url: str) -> Workflow:
    """start → a → b → slow → c → d, every value depending on the one before."""
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "flow.start"},
        {"id": "a", "type": "flow.set", "params": {"values": {"n": "{{ trigger.n + 1 }}"}}},
        post("b", f"{url}/b", "{{ input.n }}"),
        post("slow", f"{url}/slow", "{{ input.body.n }}"),
        {"id": "c", "type": "flow.set", "params": {"values": {"n": "{{ input.body.n + 1 }}"}}},
        {
            "id": "d",
            "type": "flow.set",
            "params": {"values": {"n": "{{ input.n * 2 }}", "b": "{{ nodes.b.output.body.n }}"}},
        },
    ]
    ids = [n["id"] for n in nodes]
    edges = [{"source": s, "target": t} for s, t in pairwise(ids)]
    return Workflow.model_validate({"name": "crash-on-temporal", "nodes": nodes, "edges": edges})


def start_worker(database_url: str, address: str, queue: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FLOWFORGE_TEMPORAL_HEARTBEAT_S": str(HEARTBEAT_S),
        "FLOWFORGE_HTTP_ALLOW": "127.0.0.1",
        "FLOWFORGE_LOG_FORMAT": "text",
        "COLUMNS": "300",
    }
    with log.open("wb") as output:
        return subprocess.Popen(
            [
                str(FLOWFORGE),
                "worker",
                "--db",
                database_url,
                "--address",
                address,
                "--task-queue",
                queue,
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # a process group of its own, killed as a whole
        )


async def until_polling(workers: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    """Until every worker says it polls (its pollers start right after it says so). Not
    DescribeTaskQueue: it lists the pollers one partition of the queue has seen, and now and
    then misses a worker that polls another."""
    deadline = asyncio.get_running_loop().time() + 30
    while not all(POLLING in log.read_text() for log in logs):
        for process in workers:
            assert process.poll() is None, f"worker {process.pid} exited: {process.returncode}"
        assert asyncio.get_running_loop().time() < deadline, "the workers did not start polling"
        await asyncio.sleep(0.1)


def _pid(identity: str) -> int:
    """The process id in a worker's Temporal identity (``pid@host``, the SDK's default)."""
    return int(identity.split("@")[0])


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


async def test_a_step_whose_worker_is_killed_finishes_on_the_other_worker(
    database_url: str, tmp_path: Path, temporal_server: str
) -> None:
    queue = f"crash-{uuid.uuid4().hex[:10]}"
    store = SqlStore(database_url)  # migrates the database before the workers open it
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    processes: list[subprocess.Popen[bytes]] = []
    remote = Remote()
    try:
        with serving(remote) as url:
            for log in logs:
                processes.append(start_worker(database_url, temporal_server, queue, log))
            await until_polling(processes, logs)
            workers = {p.pid: p for p in processes}
            client = await Client.connect(temporal_server)

            engine = TemporalEngine(store, builtin_registry(), client, task_queue=queue)
            async with engine:
                execution_id = await engine.submit(chain(url), {"n": 1})
                # the first attempt of `slow` is under way: its request held, and its
                # `started` frame journaled (written while the step runs, so it may come later)
                journaled: list[tuple[str, FrameStatus]] = []
                deadline = asyncio.get_running_loop().time() + 30
                while not remote.held.is_set() or journaled[-1:] != [("slow", FrameStatus.STARTED)]:
                    assert all(p.poll() is None for p in processes), "a worker died"
                    assert asyncio.get_running_loop().time() < deadline, journaled
                    await asyncio.sleep(0.05)
                    journaled = [(f.node_id, f.status) for f in store.get_frames(execution_id)]

                handle = client.get_workflow_handle(execution_id)
                [pending] = (await handle.describe()).raw_description.pending_activities
                assert pending.attempt == 1
                pid = _pid(pending.last_worker_identity)
                assert pid in workers, (pending.last_worker_identity, list(workers))
                killed = workers.pop(pid)
                [survivor] = workers.values()
                os.killpg(pid, signal.SIGKILL)
                killed.wait(10)
                remote.release.set()

                result = await asyncio.wait_for(engine.wait(execution_id), 60)

            record = store.get_execution(execution_id)
            frames = store.get_frames(execution_id)
            assert result.status == ExecutionStatus.COMPLETED, result.error
            assert result.result == {"d": {"n": 62, "b": 3}}
            assert record.status == ExecutionStatus.COMPLETED
            assert [f.seq for f in frames] == list(range(1, len(frames) + 1))
            by_node: dict[str, list[tuple[FrameStatus, int]]] = {}
            for f in frames:
                by_node.setdefault(f.node_id, []).append((f.status, f.attempt))
            once = [(FrameStatus.STARTED, 1), (FrameStatus.COMPLETED, 1)]
            for node in ("start", "a", "b"):  # done before the kill: not run again
                assert by_node[node] == once, (node, by_node[node])
            assert by_node["slow"] == [
                (FrameStatus.STARTED, 1),
                (FrameStatus.INTERRUPTED, 1),
                (FrameStatus.STARTED, 2),
                (FrameStatus.COMPLETED, 2),
            ]
            for node in ("c", "d"):
                assert by_node[node] == once, (node, by_node[node])
            # outside the journal too: b called the service once, slow once per attempt
            assert remote.calls == {"/b": 1, "/slow": 2}
            # and Temporal ran the second attempt on the worker that was left
            retried = [
                e.activity_task_started_event_attributes
                async for e in handle.fetch_history_events()
                if e.HasField("activity_task_started_event_attributes")
                and e.activity_task_started_event_attributes.attempt > 1
            ]
            assert [(r.attempt, _pid(r.identity)) for r in retried] == [(2, survivor.pid)]
            assert survivor.poll() is None, "the surviving worker died"
            assert killed.returncode == -signal.SIGKILL
    finally:
        for process in processes:
            stop(process)
        store.close()
        for log in logs:  # shown by pytest when the test fails
            if log.exists():
                print(f"--- {log.name}\n{log.read_text(errors='replace')}")
