"""The server with FLOWFORGE_BACKEND=temporal: the API starts, cancels and re-runs runs on a
real Temporal dev server, a worker (in this process, on its own store) runs them, cron triggers
become Temporal Schedules and failures start error workflows."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import running, workflow
from temporalio.client import Client

from flowforge.connectors import builtin_registry
from flowforge.credentials import Credentials
from flowforge.engine.temporal import WorkerOptions, schedule_id, worker
from flowforge.engine.temporal._schedules import temporal_cron
from flowforge.server import Server
from flowforge.store import SqlStore, WorkflowCatalog

pytestmark = pytest.mark.slow


@asynccontextmanager
async def api_on_temporal(
    database_url: str, home: Path, address: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Server, Client]]:
    """The API on the temporal backend and one worker, each with its own store (as two
    processes would have), on a task queue of their own."""
    queue = f"tq-{uuid.uuid4().hex[:10]}"
    async with running(
        database_url,
        home,
        backend="temporal",
        temporal_address=address,
        temporal_task_queue=queue,
        load_examples=True,
    ) as (client, server):
        store = SqlStore(database_url)
        temporal = await Client.connect(address)
        try:
            async with worker(
                temporal,
                store,
                builtin_registry(),
                Credentials(store, home),
                WorkerOptions(task_queue=queue, heartbeat_s=2),
                catalog=WorkflowCatalog(store),
            ):
                yield client, server, temporal
        finally:
            store.close()


async def _finished(client: httpx.AsyncClient, execution_id: str, within: float = 30) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        run = (await client.get(f"/api/v1/executions/{execution_id}")).json()
        if run["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return run
        assert asyncio.get_running_loop().time() < deadline, run
        await asyncio.sleep(0.1)


async def test_the_api_runs_workflows_on_temporal(
    database_url: str, tmp_path: Path, temporal_server: str
) -> None:
    async with api_on_temporal(database_url, tmp_path, temporal_server) as (
        client,
        server,
        temporal,
    ):
        assert type(server.engine).__name__ == "TemporalEngine"
        # a webhook starts a run through the Temporal client and answers with its result
        echo = await client.post("/hooks/echo", json={"name": "Ada"})
        assert echo.status_code == 200, echo.text
        assert echo.json()["greeting"] == "Hello, Ada"
        run_id = echo.headers["x-execution-id"]
        run = (await client.get(f"/api/v1/executions/{run_id}?frames=true")).json()
        assert run["status"] == "COMPLETED"
        described = await temporal.get_workflow_handle(run_id).describe()
        assert described.workflow_type == "flowforge.run"
        statuses = [(f["nodeId"], f["status"]) for f in run["frames"]]
        assert statuses[0] == ("hook", "started") and statuses[-1][1] == "completed"

        # a run started by the API, waited for
        chain = workflow(
            "sum",
            {"id": "start", "type": "flow.start"},
            {"id": "add", "type": "flow.set", "params": {"values": {"n": "{{ trigger.n + 1 }}"}}},
        )
        assert (await client.post("/api/v1/workflows", json=chain)).status_code == 201
        started = await client.post(
            "/api/v1/executions?wait=20", json={"workflowId": "sum", "input": {"n": 41}}
        )
        assert started.status_code == 200, started.text
        assert started.json()["result"] == {"add": {"n": 42}}

        # cancel a run that waits: Temporal cancels the workflow, the run is CANCELLED
        slow = workflow(
            "slow",
            {"id": "start", "type": "flow.start"},
            {"id": "nap", "type": "flow.wait", "params": {"seconds": 300}},
        )
        await client.post("/api/v1/workflows", json=slow)
        waiting = (await client.post("/api/v1/executions", json={"workflowId": "slow"})).json()
        for _ in range(100):
            state = (await client.get(f"/api/v1/executions/{waiting['id']}")).json()
            if state["status"] == "WAITING":
                break
            await asyncio.sleep(0.1)
        assert state["status"] == "WAITING" and state["wakeAt"] is not None
        cancelled = await client.post(f"/api/v1/executions/{waiting['id']}/cancel")
        assert cancelled.status_code in (200, 202), cancelled.text
        done = await _finished(client, waiting["id"])
        assert done["status"] == "CANCELLED"
        frames = server.store.get_frames(waiting["id"])
        assert [(f.node_id, f.status.value) for f in frames][-1] == ("nap", "cancelled")

        # a failed run retried from its failed node, with the completed steps kept
        failing = workflow(
            "failing",
            {"id": "start", "type": "flow.start"},
            {"id": "ok", "type": "flow.set", "params": {"values": {"a": 1}}},
            {"id": "boom", "type": "flow.fail", "params": {"message": "no luck"}},
        )
        await client.post("/api/v1/workflows", json=failing)
        failed = await client.post("/api/v1/executions?wait=20", json={"workflowId": "failing"})
        assert failed.json()["status"] == "FAILED"
        assert failed.json()["error"]["message"] == "no luck"
        retried = await client.post(f"/api/v1/executions/{failed.json()['id']}/retry")
        assert retried.status_code == 202, retried.text
        again = await _finished(client, retried.json()["id"])
        assert again["status"] == "FAILED" and again["retryOf"] == failed.json()["id"]
        kept = server.store.get_frames(again["id"])
        assert [f.node_id for f in kept[:4]] == ["start", "start", "ok", "ok"]
        assert sum(1 for f in kept if f.node_id == "ok") == 2  # copied, not run again


async def test_failures_start_error_workflows_from_the_worker(
    database_url: str, tmp_path: Path, temporal_server: str
) -> None:
    async with api_on_temporal(database_url, tmp_path, temporal_server) as (
        client,
        server,
        _,
    ):
        watcher = workflow(
            "on-failure",
            {"id": "caught", "type": "trigger.error", "params": {"workflows": ["fragile"]}},
            {
                "id": "note",
                "type": "flow.set",
                "params": {"values": {"failed": "{{ trigger.execution.id }}"}},
            },
        )
        fragile = workflow(
            "fragile",
            {"id": "start", "type": "flow.start"},
            {"id": "boom", "type": "flow.fail", "params": {"message": "down"}},
        )
        assert (await client.post("/api/v1/workflows?active=true", json=watcher)).status_code == 201
        await client.post("/api/v1/workflows", json=fragile)
        failed = await client.post("/api/v1/executions?wait=20", json={"workflowId": "fragile"})
        assert failed.json()["status"] == "FAILED"
        for _ in range(200):
            runs = (await client.get("/api/v1/executions?workflowId=on-failure")).json()["items"]
            if runs and runs[0]["status"] == "COMPLETED":
                break
            await asyncio.sleep(0.1)
        assert len(runs) == 1 and runs[0]["result"] == {"note": {"failed": failed.json()["id"]}}
        assert server.engine.running() == 0


async def test_cron_triggers_become_temporal_schedules(
    database_url: str, tmp_path: Path, temporal_server: str
) -> None:
    async with api_on_temporal(database_url, tmp_path, temporal_server) as (
        client,
        server,
        temporal,
    ):
        ticking = workflow(
            "ticking",
            {"id": "tick", "type": "trigger.schedule", "params": {"cron": "*/2 * * * * *"}},
            {
                "id": "when",
                "type": "flow.set",
                "params": {"values": {"at": "{{ trigger.scheduled_at }}"}},
            },
        )
        created = (await client.post("/api/v1/workflows?active=true", json=ticking)).json()
        sid = schedule_id(created["id"], "tick")
        for _ in range(100):
            ids = [s.id async for s in await temporal.list_schedules()]
            if sid in ids:
                break
            await asyncio.sleep(0.1)
        assert sid in ids
        description = await temporal.get_schedule_handle(sid).describe()
        # Temporal keeps cron strings as calendars: read the spacing of the next ticks
        upcoming = description.info.next_action_times
        assert len(upcoming) >= 2 and (upcoming[1] - upcoming[0]).total_seconds() == 2
        assert upcoming[0].second % 2 == 0
        for _ in range(150):
            runs = (await client.get("/api/v1/executions?workflowId=ticking")).json()["items"]
            if any(r["status"] == "COMPLETED" for r in runs):
                break
            await asyncio.sleep(0.1)
        done = next(r for r in runs if r["status"] == "COMPLETED")
        assert done["triggerNode"] == "tick"
        assert done["input"]["cron"] == "*/2 * * * * *"
        assert done["result"]["when"]["at"] == done["input"]["scheduled_at"]
        record = server.store.get_execution(done["id"])
        assert record.temporal_workflow_id is not None
        assert record.temporal_workflow_id.startswith(sid)

        assert (await client.post("/api/v1/workflows/ticking/deactivate")).status_code == 200
        for _ in range(100):
            ids = [s.id async for s in await temporal.list_schedules()]
            if sid not in ids:
                break
            await asyncio.sleep(0.1)
        assert sid not in ids


def test_cron_expressions_in_temporal_notation() -> None:
    assert temporal_cron("*/5 * * * *") == "*/5 * * * *"
    assert temporal_cron("30 0 9 * * MON") == "30 0 9 * * MON *"
