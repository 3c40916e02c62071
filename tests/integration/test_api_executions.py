"""Runs over HTTP: start, list, stream, cancel, retry, re-run, delete; triggers; observability."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from api_support import assert_error, running, workflow
from standardwebhooks import Webhook

from flowforge.server import WEBHOOK_CACHE_S
from flowforge.store import SqlStore, WorkflowCatalog
from flowforge.triggers import Scheduler, ticks_to_fire

GATE = workflow(
    "gate",
    {"id": "start", "type": "flow.start"},
    {"id": "double", "type": "flow.set", "params": {"values": {"n": "{{ input.n * 2 }}"}}},
    {"id": "check", "type": "flow.if", "params": {"condition": "{{ input.n > 10 }}"}},
    {"id": "boom", "type": "flow.fail", "params": {"message": "too big: {{ input.n }}"}},
    {"id": "fine", "type": "flow.set", "params": {"values": {"ok": "{{ input.n }}"}}},
    edges=[("start", "double"), ("double", "check"), ("check", "boom"), ("check", "fine")],
)
GATE["edges"][2]["source_port"] = "true"
GATE["edges"][3]["source_port"] = "false"
NAP = workflow(
    "nap",
    {"id": "start", "type": "flow.start"},
    {"id": "nap", "type": "flow.wait", "params": {"seconds": 0.4}},
    {"id": "after", "type": "flow.set", "params": {"values": {"woke": True}}},
)
SLOW = {
    **NAP,
    "name": "slow",
    "nodes": [NAP["nodes"][0], {**NAP["nodes"][1], "params": {"seconds": 60}}, NAP["nodes"][2]],
}


async def _start(client: Any, name: str, input: Any, wait: float = 10) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/executions?wait={wait}", json={"workflowId": name, "input": input}
    )
    assert response.status_code in (200, 202), response.text
    result: dict[str, Any] = response.json()
    return result


async def test_start_wait_list_get_and_delete(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        await client.post("/api/v1/workflows", json=GATE)
        ok = await _start(client, "gate", {"n": 3})
        assert ok["status"] == "COMPLETED" and ok["result"] == {"fine": {"ok": 6}}
        failed = await _start(client, "gate", {"n": 8})
        assert failed["status"] == "FAILED" and failed["error"]["node"] == "boom"
        await client.post("/api/v1/workflows", json=SLOW)
        pending = await client.post("/api/v1/executions", json={"workflowId": "slow"})
        assert pending.status_code == 202 and pending.json()["status"] in ("RUNNING", "WAITING")

        got = (await client.get(f"/api/v1/executions/{ok['id']}")).json()
        frames = got["frames"]
        assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
        assert {f["nodeId"] for f in frames if f["status"] == "completed"} == {
            "start",
            "double",
            "check",
            "fine",
        }

        gate_id = ok["workflowId"]
        failures = (await client.get("/api/v1/executions?workflowId=gate&status=FAILED")).json()
        assert [e["id"] for e in failures["items"]] == [failed["id"]]
        assert (await client.get(f"/api/v1/executions?workflowId={gate_id}")).json()["items"]
        later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
        none = await client.get("/api/v1/executions", params={"since": later})
        assert none.json()["items"] == []
        page = (await client.get("/api/v1/executions?limit=2")).json()
        rest = (await client.get(f"/api/v1/executions?limit=2&cursor={page['nextCursor']}")).json()
        assert len(page["items"]) == 2 and len(rest["items"]) == 1
        ids = {e["id"] for e in page["items"] + rest["items"]}
        assert ids == {ok["id"], failed["id"], pending.json()["id"]}
        naive = await client.get("/api/v1/executions", params={"since": "2026-01-01T00:00:00"})
        assert_error(naive, 422, "VALIDATION_ERROR")
        assert_error(await client.get("/api/v1/executions?status=DONE"), 422, "VALIDATION_ERROR")
        assert_error(await client.get("/api/v1/executions?cursor=%%%"), 400, "INVALID_CURSOR")

        busy = await client.delete(f"/api/v1/executions/{pending.json()['id']}")
        assert_error(busy, 409, "CONFLICT")
        await client.post(f"/api/v1/executions/{pending.json()['id']}/cancel")
        assert (await client.delete(f"/api/v1/executions/{ok['id']}")).status_code == 204
        assert_error(await client.get(f"/api/v1/executions/{ok['id']}"), 404, "NOT_FOUND")
        inline = await client.post(
            "/api/v1/executions?wait=5", json={"workflow": GATE, "input": {"n": 1}}
        )
        assert inline.json()["status"] == "COMPLETED" and inline.json()["workflowId"] is None
        both = await client.post(
            "/api/v1/executions", json={"workflowId": "gate", "workflow": GATE}
        )
        assert_error(both, 422, "VALIDATION_ERROR")
        assert_error(
            await client.post("/api/v1/executions", json={"workflowId": "ghost"}), 404, "NOT_FOUND"
        )


async def test_retry_and_rerun_keep_what_they_do_not_touch(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        await client.post("/api/v1/workflows", json=GATE)
        failed = await _start(client, "gate", {"n": 8})
        old = {
            f["nodeId"]: f
            for f in (await client.get(f"/api/v1/executions/{failed['id']}")).json()["frames"]
            if f["status"] == "completed"
        }

        retried = (await client.post(f"/api/v1/executions/{failed['id']}/retry?wait=10")).json()
        assert retried["retryOf"] == failed["id"] and retried["status"] == "FAILED"
        frames = (await client.get(f"/api/v1/executions/{retried['id']}")).json()["frames"]
        kept = [f for f in frames if f["nodeId"] in ("start", "double", "check")]
        # copied, not re-run: the same outputs with the original times
        assert [(f["nodeId"], f["startedAt"]) for f in kept if f["status"] == "completed"] == [
            (n, old[n]["startedAt"]) for n in ("start", "double", "check")
        ]
        assert [f["status"] for f in frames if f["nodeId"] == "boom"] == ["started", "failed"]

        # time travel: run again from "check" with an input that takes the other branch
        rerun = await client.post(
            f"/api/v1/executions/{failed['id']}/rerun?wait=10",
            json={"node": "check", "input": {"n": 1}},
        )
        assert rerun.status_code == 200, rerun.text
        assert rerun.json()["status"] == "COMPLETED"
        assert rerun.json()["result"] == {"fine": {"ok": 1}}
        frames = (await client.get(f"/api/v1/executions/{rerun.json()['id']}")).json()["frames"]
        double = [f for f in frames if f["nodeId"] == "double" and f["status"] == "completed"]
        assert double[0]["startedAt"] == old["double"]["startedAt"]
        assert double[0]["output"] == {"n": 16}

        ok = await _start(client, "gate", {"n": 1})
        assert_error(await client.post(f"/api/v1/executions/{ok['id']}/retry"), 409, "CONFLICT")
        unknown = await client.post(f"/api/v1/executions/{ok['id']}/rerun", json={"node": "zzz"})
        assert_error(unknown, 400, "BAD_REQUEST")
        extra = await client.post(
            f"/api/v1/executions/{ok['id']}/rerun", json={"node": "check", "colour": 1}
        )
        assert_error(extra, 422, "VALIDATION_ERROR")


async def test_the_stream_sends_every_frame_then_the_end(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        await client.post("/api/v1/workflows", json=NAP)
        started = (await client.post("/api/v1/executions", json={"workflowId": "nap"})).json()
        events: list[tuple[str, dict[str, Any]]] = []
        async with client.stream("GET", f"/api/v1/executions/{started['id']}/stream") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            name = ""
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    events.append((name, json.loads(line[6:])))
                    if name == "end":
                        break
        frames = [data for name, data in events if name == "frame"]
        assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
        assert ("nap", "waiting") in {(f["nodeId"], f["status"]) for f in frames}
        assert events[-1][0] == "end" and events[-1][1]["status"] == "COMPLETED"
        # resuming after the third frame sends the rest only
        async with client.stream(
            "GET", f"/api/v1/executions/{started['id']}/stream", headers={"Last-Event-ID": "3"}
        ) as again:
            seqs = [
                json.loads(line[6:])["seq"]
                async for line in again.aiter_lines()
                if line.startswith("data: ") and '"seq"' in line
            ]
        assert seqs == list(range(4, len(frames) + 1))


async def test_cancel_a_waiting_run(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        await client.post("/api/v1/workflows", json=SLOW)
        started = (await client.post("/api/v1/executions", json={"workflowId": "slow"})).json()
        cancelled = await client.post(f"/api/v1/executions/{started['id']}/cancel")
        assert cancelled.status_code == 202 and cancelled.json()["status"] == "CANCELLED"
        again = await client.post(f"/api/v1/executions/{started['id']}/cancel")
        assert_error(again, 409, "CONFLICT")


async def test_a_stopped_server_resumes_its_runs_on_the_next_start(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        await client.post("/api/v1/workflows", json=NAP)
        started = (await client.post("/api/v1/executions", json={"workflowId": "nap"})).json()
    async with running(database_url, tmp_path, load_examples=False) as (client, server):
        outcome = await asyncio.wait_for(server.engine.wait(started["id"]), 10)
        assert outcome.status == "COMPLETED"
        frames = (await client.get(f"/api/v1/executions/{started['id']}")).json()["frames"]
        assert [f["status"] for f in frames if f["nodeId"] == "after"] == ["started", "completed"]


SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _signed(body: bytes, msg_id: str, at: datetime) -> dict[str, str]:
    signature = Webhook(SECRET).sign(msg_id, at, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


async def test_webhooks(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    signed = workflow(
        "signed",
        {
            "id": "in",
            "type": "trigger.webhook",
            "params": {"path": "signed", "methods": ["POST"], "secret_env": "HOOK_SECRET"},
        },
        {"id": "out", "type": "flow.set", "params": {"values": {"got": "{{ trigger.body }}"}}},
    )
    async with running(database_url, tmp_path, max_body_bytes=50_000) as (client, _):
        echo = await client.post("/hooks/echo?x=1&x=2", json={"name": "Ada"})
        assert echo.status_code == 200, echo.text
        assert echo.json() == {"greeting": "Hello, Ada", "received": "POST /hooks/echo"}
        run = (await client.get(f"/api/v1/executions/{echo.headers['x-execution-id']}")).json()
        assert run["triggerNode"] == "hook" and run["input"]["query"] == {"x": ["1", "2"]}
        assert run["input"]["headers"]["content-type"] == "application/json"

        assert_error(await client.get("/hooks/echo"), 405, "METHOD_NOT_ALLOWED")
        assert_error(await client.post("/hooks/nowhere", json={}), 404, "WEBHOOK_NOT_FOUND")
        bad_json = await client.post(
            "/hooks/echo", content=b"{oops", headers={"content-type": "application/json"}
        )
        assert_error(bad_json, 400, "BAD_REQUEST")
        huge = await client.post("/hooks/echo", content=b"x" * 60_000)
        assert_error(huge, 413, "PAYLOAD_TOO_LARGE")

        await client.post("/api/v1/workflows?active=true", json=signed)
        body = b'{"order": 7}'
        now = datetime.now(UTC)
        first = await client.post(
            "/hooks/signed", content=body, headers=_signed(body, "msg_1", now)
        )
        assert first.status_code == 202, first.text
        repeat = await client.post(
            "/hooks/signed", content=body, headers=_signed(body, "msg_1", now)
        )
        assert repeat.status_code == 200
        assert repeat.json() == {"executionId": first.json()["executionId"], "duplicate": True}

        tampered = _signed(body, "msg_2", now)
        wrong = await client.post("/hooks/signed", content=b'{"order": 8}', headers=tampered)
        assert_error(wrong, 401, "INVALID_SIGNATURE")
        stale_at = now - timedelta(minutes=6)
        stale = await client.post(
            "/hooks/signed", content=body, headers=_signed(body, "m3", stale_at)
        )
        assert_error(stale, 401, "INVALID_SIGNATURE")
        unsigned = await client.post("/hooks/signed", content=body)
        assert_error(unsigned, 401, "INVALID_SIGNATURE")
        garbage = {**_signed(body, "m4", now), "webhook-signature": "v1,%%%not-base64"}
        assert_error(
            await client.post("/hooks/signed", content=body, headers=garbage),
            401,
            "INVALID_SIGNATURE",
        )
        runs = (await client.get("/api/v1/executions?workflowId=signed")).json()["items"]
        assert len(runs) == 1 and runs[0]["input"]["body"] == {"order": 7}

        monkeypatch.delenv("HOOK_SECRET")
        missing = await client.post("/hooks/signed", content=body, headers=_signed(body, "m5", now))
        assert_error(missing, 503, "WEBHOOK_MISCONFIGURED")


async def test_webhook_lookups_are_cached_but_never_stale_here(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path) as (client, server):
        assert (await client.post("/hooks/echo", json={})).status_code == 200
        # a change made through this server is seen by the very next request
        off = await client.post("/api/v1/workflows/webhook-echo/deactivate")
        assert off.status_code == 200, off.text
        assert_error(await client.post("/hooks/echo", json={}), 404, "WEBHOOK_NOT_FOUND")
        assert (await client.post("/api/v1/workflows/webhook-echo/activate")).status_code == 200
        assert (await client.post("/hooks/echo", json={})).status_code == 200
        # a change made by another process sharing the database, within WEBHOOK_CACHE_S
        other = SqlStore(database_url)
        try:
            entry = WorkflowCatalog(other).find("webhook-echo")
            WorkflowCatalog(other).set_active(entry.id, False)
        finally:
            other.close()
        changed_at = time.monotonic()
        while (await client.post("/hooks/echo", json={})).status_code != 404:
            assert time.monotonic() - changed_at < WEBHOOK_CACHE_S + 1, "stale for too long"
            await asyncio.sleep(0.05)
        assert server.catalog.changes > 0
        # served by the lean route first in line, counted under its template
        metrics = (await client.get("/metrics")).text
        assert 'route="/hooks/{path:path}",status="200"}' in metrics
        assert 'route="/hooks/{path:path}",status="404"}' in metrics


def test_missed_run_policies() -> None:
    config = {"cron": "0 * * * *", "timezone": "UTC"}
    due = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    now = datetime(2026, 1, 1, 3, 30, tzinfo=UTC)
    once, upcoming = ticks_to_fire({**config, "missed": "run_once"}, due, now)
    assert once == [(datetime(2026, 1, 1, 3, 0, tzinfo=UTC), 4)]
    assert upcoming == datetime(2026, 1, 1, 4, 0, tzinfo=UTC)
    every, _ = ticks_to_fire({**config, "missed": "run_all"}, due, now)
    assert [t for t, _ in every] == [due + timedelta(hours=h) for h in range(4)]
    skipped, _ = ticks_to_fire({**config, "missed": "skip"}, due, now)
    assert skipped == []
    on_time, _ = ticks_to_fire({**config, "missed": "skip"}, due, due + timedelta(seconds=5))
    assert on_time == [(due, 1)]
    # 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer
    berlin = {"cron": "0 9 * * *", "timezone": "Europe/Berlin", "missed": "skip"}
    _, winter = ticks_to_fire(berlin, due, due)
    assert winter == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    summer_day = datetime(2026, 7, 1, tzinfo=UTC)
    _, summer = ticks_to_fire(berlin, summer_day, summer_day)
    assert summer == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)


async def test_a_schedule_fires_once_across_processes(database_url: str, tmp_path: Path) -> None:
    every_minute = workflow(
        "minutely",
        {"id": "tick", "type": "trigger.schedule", "params": {"cron": "* * * * *"}},
        {
            "id": "note",
            "type": "flow.set",
            "params": {"values": {"at": "{{ trigger.scheduled_at }}"}},
        },
    )
    async with running(database_url, tmp_path, load_examples=False) as (client, server):
        created = await client.post("/api/v1/workflows?active=true", json=every_minute)
        assert created.status_code == 201, created.text
        later = datetime.now(UTC) + timedelta(minutes=2)
        # four "processes" (stores of their own) see the same due tick at once
        stores = [SqlStore(database_url) for _ in range(4)]
        fired: list[int] = []
        barrier = threading.Barrier(4)

        def tick(store: SqlStore) -> None:
            barrier.wait()
            scheduler = Scheduler(WorkflowCatalog(store), _no_start)
            fired.append(len(asyncio.run(scheduler.tick(later))))

        threads = [threading.Thread(target=tick, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for store in stores:
            store.close()
        assert sorted(fired) == [0, 0, 0, 1]
        await server._start_records(server.store.unfinished())
        runs = (await client.get("/api/v1/executions?workflowId=minutely")).json()["items"]
        assert len(runs) == 1 and runs[0]["triggerNode"] == "tick"
        outcome = await asyncio.wait_for(server.engine.wait(runs[0]["id"]), 10)
        assert outcome.status == "COMPLETED"
        assert runs[0]["input"]["ticks"] >= 1

        bad_cron = {**every_minute, "name": "bad-cron"}
        bad_cron["nodes"] = [
            {"id": "tick", "type": "trigger.schedule", "params": {"cron": "every day"}},
            every_minute["nodes"][1],
        ]
        error = assert_error(
            await client.post("/api/v1/workflows", json=bad_cron), 422, "VALIDATION_ERROR"
        )
        assert error["details"][0]["field"].startswith("nodes[0].params")
        bad_zone = {
            **bad_cron,
            "nodes": [
                {
                    "id": "tick",
                    "type": "trigger.schedule",
                    "params": {"cron": "* * * * *", "timezone": "Mars/Olympus"},
                },
                every_minute["nodes"][1],
            ],
        }
        error = assert_error(
            await client.post("/api/v1/workflows", json=bad_zone), 422, "VALIDATION_ERROR"
        )
        assert "Mars/Olympus" in json.dumps(error["details"])


async def _no_start(records: Any) -> None:
    return None


async def test_the_error_trigger_runs_a_workflow_when_another_fails(
    database_url: str, tmp_path: Path
) -> None:
    handler = workflow(
        "on-failure",
        {"id": "failed", "type": "trigger.error", "params": {"workflows": ["gate"]}},
        {
            "id": "report",
            "type": "flow.set",
            "params": {"values": {"what": "{{ trigger.execution.error.message }}"}},
        },
    )
    async with running(database_url, tmp_path, load_examples=False) as (client, _server):
        await client.post("/api/v1/workflows", json=GATE)
        await client.post("/api/v1/workflows?active=true", json=handler)
        failed = await _start(client, "gate", {"n": 9})
        for _ in range(100):
            runs = (await client.get("/api/v1/executions?workflowId=on-failure")).json()["items"]
            if runs and runs[0]["status"] == "COMPLETED":
                break
            await asyncio.sleep(0.05)
        assert len(runs) == 1
        assert runs[0]["input"]["execution"]["id"] == failed["id"]
        assert runs[0]["result"] == {"report": {"what": "too big: 18"}}


async def test_health_and_metrics(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        await client.post("/api/v1/workflows", json=GATE)
        await _start(client, "gate", {"n": 1})
        await _start(client, "gate", {"n": 9})
        health = await client.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "ok" and body["checks"]["database"]["status"] == "ok"
        assert body["uptimeS"] >= 0 and body["version"]
        text = (await client.get("/metrics")).text
        assert "flowforge_executions_started_total 2.0" in text
        assert "flowforge_executions_completed_total 1.0" in text
        assert "flowforge_executions_failed_total 1.0" in text
        assert (
            'flowforge_http_requests_total{method="POST",route="/api/v1/executions",status="200"} 2.0'
            in text
        )
        assert 'flowforge_node_duration_seconds_count{status="completed",type="flow.set"}' in text
        assert "flowforge_executions_running 0.0" in text
