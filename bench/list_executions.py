"""Listing executions from a database that holds 1,000,000 frames.

100,000 executions of 10 frames each, across 20 workflows, mixed final statuses, spread over
30 days, bulk-inserted. Then, median over --repeat runs after a warm-up: the first page, a
filtered page (status and workflow), a time-range page, and by cursor the second page and
one near the oldest, through SqlStore.list_executions and through GET /api/v1/executions
on a real ``flowforge serve``.
Goal: every page under 50 ms.
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert
from webhook_rps import serve

from flowforge.engine.frames import ExecutionStatus
from flowforge.model import Workflow
from flowforge.store import SqlStore, WorkflowCatalog
from flowforge.store._tables import execution_frames, executions

EXECUTIONS = 100_000
FRAMES = 10  # per execution
WORKFLOWS = 20
DAYS = 30
BATCH = 5_000  # executions per INSERT batch (and 10x as many frames)
GOAL_MS = 50.0
END = datetime(2026, 1, 31, tzinfo=UTC)
START = END - timedelta(days=DAYS)
# Final statuses only, so that the server has nothing to resume on start.
STATUSES = [ExecutionStatus.COMPLETED] * 17 + [ExecutionStatus.FAILED] * 2
STATUSES += [ExecutionStatus.CANCELLED]


def definition(i: int) -> Workflow:
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "flow.start"}]
    edges = []
    for n in range(FRAMES - 1):
        nodes.append({"id": f"n{n}", "type": "flow.set", "params": {"values": {"n": n}}})
        edges.append({"source": nodes[-2]["id"], "target": f"n{n}"})
    return Workflow.model_validate({"name": f"bench-{i:02}", "nodes": nodes, "edges": edges})


def populate(store: SqlStore) -> list[tuple[str, str]]:
    """Fill the database; give each workflow's (id, name)."""
    catalog = WorkflowCatalog(store)
    entries = [catalog.create(definition(i)) for i in range(WORKFLOWS)]
    rng = random.Random(7)
    step = (END - START) / EXECUTIONS
    with store.engine.begin() as conn:
        for first in range(0, EXECUTIONS, BATCH):
            runs: list[dict[str, Any]] = []
            frames: list[dict[str, Any]] = []
            for i in range(first, first + BATCH):
                entry = entries[rng.randrange(WORKFLOWS)]
                status = rng.choice(STATUSES)
                created = START + step * i + timedelta(milliseconds=rng.randrange(1000))
                finished = created + timedelta(milliseconds=10 * FRAMES + rng.randrange(100))
                run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                failed = status == ExecutionStatus.FAILED
                runs.append(
                    {
                        "id": run_id,
                        "workflow_version_id": entry.version_id,
                        "workflow_name": entry.name,
                        "status": status.value,
                        "input": {"i": i},
                        "result": None if failed else {"n": FRAMES - 1},
                        "error": {"message": "boom", "node": f"n{FRAMES - 2}"} if failed else None,
                        "created_at": created,
                        "started_at": created,
                        "finished_at": finished,
                        "depth": 0,
                        "lease_token": 1,
                        "cancel_requested": status == ExecutionStatus.CANCELLED,
                        "workflow_id": entry.id,
                        "trigger_node": "start",
                    }
                )
                for seq in range(1, FRAMES + 1):
                    at = created + timedelta(milliseconds=10 * seq)
                    last_failed = failed and seq == FRAMES
                    frames.append(
                        {
                            "execution_id": run_id,
                            "seq": seq,
                            "node_id": "start" if seq == 1 else f"n{seq - 2}",
                            "status": "failed" if last_failed else "completed",
                            "attempt": 1,
                            "input": {"n": seq - 1},
                            "output": None if last_failed else {"n": seq},
                            "error": {"message": "boom"} if last_failed else None,
                            "started_at": at,
                            "ended_at": at + timedelta(milliseconds=2),
                            "duration_ms": 2.0,
                        }
                    )
            conn.execute(insert(executions), runs)
            conn.execute(insert(execution_frames), frames)
    return [(e.id, e.name) for e in entries]


def median_ms(action: Callable[[], list[Any]], repeat: int) -> tuple[float, list[Any]]:
    result = action()  # warm-up
    action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000, result


def report(label: str, ms: float, rows: int) -> None:
    verdict = "ok" if ms < GOAL_MS else "OVER GOAL"
    print(f"  {label:<44} {ms:>8.2f} ms  {rows:>3} rows  {verdict}")


def measure_store(store: SqlStore, workflow_id: str, repeat: int) -> None:
    middle = START + (END - START) / 2
    last = store.list_executions(limit=50)[-1]
    oldest = store.list_executions(until=START + timedelta(hours=1), limit=50)[-1]
    cases: list[tuple[str, Callable[[], list[Any]]]] = [
        ("first page (limit=50)", lambda: store.list_executions(limit=50)),
        (
            "status=FAILED, workflow_id=<one>",
            lambda: store.list_executions(
                status=ExecutionStatus.FAILED, workflow_id=workflow_id, limit=50
            ),
        ),
        (
            "since/until (one day, mid-range)",
            lambda: store.list_executions(since=middle, until=middle + timedelta(days=1), limit=50),
        ),
        (
            "second page (before=cursor)",
            lambda: store.list_executions(limit=50, before=(last.created_at, last.id)),
        ),
        (
            "last page (before=cursor near the oldest)",
            lambda: store.list_executions(limit=50, before=(oldest.created_at, oldest.id)),
        ),
    ]
    print(f"SqlStore.list_executions, median of {repeat}")
    for label, action in cases:
        ms, rows = median_ms(action, repeat)
        report(label, ms, len(rows))


def measure_http(home: Path, url: str, workflow_id: str, repeat: int) -> None:
    with serve(home, "--db", url, "--no-examples") as base, httpx.Client(base_url=base) as client:

        def get(params: dict[str, Any]) -> list[Any]:
            answer = client.get("/api/v1/executions", params=params)
            answer.raise_for_status()
            items: list[Any] = answer.json()["items"]
            return items

        cursor = client.get("/api/v1/executions", params={"limit": 50}).json()["nextCursor"]
        cases: list[tuple[str, dict[str, Any]]] = [
            ("?limit=50", {"limit": 50}),
            ("?status=FAILED&workflowId=<one>", {"status": "FAILED", "workflowId": workflow_id}),
            ("?limit=50&cursor=<next> (second page)", {"limit": 50, "cursor": cursor}),
        ]
        print(f"GET /api/v1/executions on flowforge serve, median of {repeat}")
        for label, params in cases:
            ms, rows = median_ms(functools.partial(get, params), repeat)
            report(label, ms, len(rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", help="an EMPTY database URL (default: SQLite in a temp folder)")
    parser.add_argument("--repeat", type=int, default=20, help="measured repetitions")
    args = parser.parse_args()
    repeat = max(args.repeat, 20)
    with tempfile.TemporaryDirectory(prefix="flowforge-bench-") as folder:
        home = Path(folder)
        url = args.db or f"sqlite:///{home / 'list.db'}"
        store = SqlStore(url)
        try:
            started = time.perf_counter()
            workflows = populate(store)
            elapsed = time.perf_counter() - started
            print(
                f"populated {EXECUTIONS:,} executions, {EXECUTIONS * FRAMES:,} frames, "
                f"{WORKFLOWS} workflows over {DAYS} days in {elapsed:.1f} s"
            )
            measure_store(store, workflows[0][0], repeat)
        finally:
            store.close()
        measure_http(home, url, workflows[0][0], repeat)
    print(f"  (goal: each under {GOAL_MS:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
