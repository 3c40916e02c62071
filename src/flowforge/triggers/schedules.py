"""Cron schedules: the next tick in a time zone, the missed-run policy, and the loop that fires
due ticks exactly once however many server processes share the database."""

from __future__ import annotations

import asyncio
import logging
import uuid
import zoneinfo
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter

from flowforge.engine.frames import ExecutionRecord, ExecutionStatus

__all__ = ["MISSED_RUN_ALL_CAP", "SKIP_GRACE", "Scheduler", "next_tick", "ticks_to_fire"]

log = logging.getLogger("flowforge.schedules")

MISSED_RUN_ALL_CAP = 100  # run_all fires at most this many missed ticks at once
SKIP_GRACE = timedelta(seconds=60)  # with "skip", a tick this late still fires


def next_tick(config: Mapping[str, Any], after: datetime) -> datetime:
    """The first tick of the schedule strictly after ``after``, in UTC. The expression is read
    in the schedule's time zone, so "0 9 * * *" stays at 09:00 local time across DST."""
    zone = zoneinfo.ZoneInfo(str(config.get("timezone", "UTC")))
    cron = str(config["cron"])
    it = croniter(cron, after.astimezone(zone), second_at_beginning=len(cron.split()) == 6)
    tick: datetime = it.get_next(datetime)
    return tick.astimezone(UTC)


def ticks_to_fire(
    config: Mapping[str, Any], due: datetime, now: datetime
) -> tuple[list[tuple[datetime, int]], datetime]:
    """Which ticks to fire for a schedule due at ``due`` (each with how many ticks it stands
    for), and the schedule's next tick after ``now``.

    ``missed`` says what happens to ticks that passed while no server ran: ``skip`` fires only
    a tick less than a minute late, ``run_once`` fires the latest tick once for all of them,
    ``run_all`` fires each of them (the latest ``MISSED_RUN_ALL_CAP``).
    """
    ticks = [due]
    while len(ticks) <= MISSED_RUN_ALL_CAP * 10:
        following = next_tick(config, ticks[-1])
        if following > now:
            break
        ticks.append(following)
    upcoming = next_tick(config, max(now, ticks[-1]))
    policy = config.get("missed", "run_once")
    if policy == "run_all":
        return [(t, 1) for t in ticks[-MISSED_RUN_ALL_CAP:]], upcoming
    if policy == "skip":
        latest = ticks[-1]
        return ([(latest, 1)] if now - latest <= SKIP_GRACE else []), upcoming
    return [(ticks[-1], len(ticks))], upcoming


StartRuns = Callable[[list[ExecutionRecord]], Awaitable[None]]


class Scheduler:
    """Fires due schedules. Each process runs one; a tick becomes runs in the transaction that
    moves its schedule on (``WorkflowCatalog.fire_schedule``), so only one process fires it."""

    def __init__(self, catalog: Any, start_runs: StartRuns, *, poll_s: float = 1.0) -> None:
        self.catalog = catalog
        self.start_runs = start_runs
        self.poll_s = poll_s

    async def run(self) -> None:
        """Fire due ticks until cancelled."""
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("schedule tick failed")
            await asyncio.sleep(self.poll_s)

    async def tick(self, now: datetime | None = None) -> list[ExecutionRecord]:
        """Fire every schedule due at ``now``; give the runs this process created."""
        now = now or datetime.now(UTC)
        due = await asyncio.to_thread(self.catalog.due_schedules, now)
        created: list[ExecutionRecord] = []
        for entry, spec in due:
            assert spec.next_at is not None
            fire, upcoming = ticks_to_fire(spec.config, spec.next_at, now)
            runs = [_run_record(entry, spec.node_id, spec.config, tick, n, now) for tick, n in fire]
            won = await asyncio.to_thread(
                self.catalog.fire_schedule, entry.id, spec.node_id, spec.next_at, upcoming, runs
            )
            if won:
                log.info(
                    "schedule %s/%s fired %d run(s); next at %s",
                    entry.name,
                    spec.node_id,
                    len(runs),
                    upcoming.isoformat(),
                )
                created.extend(runs)
        if created:
            await self.start_runs(created)
        return created


def _run_record(
    entry: Any, node_id: str, config: Mapping[str, Any], tick: datetime, ticks: int, now: datetime
) -> ExecutionRecord:
    return ExecutionRecord(
        id=str(uuid.uuid4()),
        workflow_version_id=entry.version_id,
        workflow_name=entry.name,
        status=ExecutionStatus.PENDING,
        created_at=now,
        input={
            "scheduled_at": tick.isoformat(),
            "fired_at": now.isoformat(),
            "ticks": ticks,
            "cron": config["cron"],
            "timezone": config.get("timezone", "UTC"),
        },
        source_path=entry.source_path,
        workflow_id=entry.id,
        trigger_node=node_id,
        dedupe_key=f"schedule:{entry.id}:{node_id}:{tick.isoformat()}",
        org_id=entry.org_id,
    )
