"""Cron triggers as Temporal Schedules when the backend is Temporal.

Temporal then fires the ticks (exactly once, whichever API process is up); each tick starts the
graph workflow, whose ``begin`` activity creates the run in the FlowForge store. The API
processes keep the set of schedules equal to the cron triggers of active workflows.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from flowforge.engine.temporal._converter import with_converter
from flowforge.engine.temporal._messages import WORKFLOW_NAME, RunInput

__all__ = ["PREFIX", "ScheduleSync", "schedule_id", "temporal_cron"]

log = logging.getLogger("flowforge.temporal")

PREFIX = "flowforge-cron-"
# "skip": a tick more than a minute late is not fired; otherwise Temporal fires missed ticks
# from the last year when the cluster comes back (it has no "fire the latest once" policy)
_SKIP_WINDOW = timedelta(seconds=60)
_CATCH_UP_WINDOW = timedelta(days=365)


def schedule_id(workflow_id: str, node_id: str) -> str:
    return f"{PREFIX}{workflow_id}-{node_id}"


def temporal_cron(cron: str) -> str:
    """A FlowForge cron expression in Temporal's notation: our six fields put seconds first,
    Temporal's six end with the year, and its seven are seconds to year."""
    fields = cron.split()
    return " ".join([*fields, "*"]) if len(fields) == 6 else " ".join(fields)


def _schedule(entry: Any, node_id: str, config: dict[str, Any], task_queue: str) -> Schedule:
    cron = str(config["cron"])
    timezone = str(config.get("timezone", "UTC"))
    missed = config.get("missed", "run_once")
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WORKFLOW_NAME,
            RunInput(workflow_id=entry.id, trigger_node=node_id, cron=cron, timezone=timezone),
            id=schedule_id(entry.id, node_id),
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(cron_expressions=[temporal_cron(cron)], time_zone_name=timezone),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.ALLOW_ALL,
            catchup_window=_SKIP_WINDOW if missed == "skip" else _CATCH_UP_WINDOW,
        ),
    )


class ScheduleSync:
    """Makes the Temporal Schedules named ``flowforge-cron-*`` match the catalogue."""

    def __init__(self, client: Client, catalog: Any, task_queue: str) -> None:
        self.client = with_converter(client)
        self.catalog = catalog
        self.task_queue = task_queue
        self._applied: dict[str, str] = {}  # schedule id -> fingerprint this process set

    async def sync(self) -> tuple[int, int, int]:
        """Create, update and delete schedules; give how many of each."""
        wanted: dict[str, tuple[Any, str, dict[str, Any]]] = {}
        for entry, spec in await asyncio.to_thread(self.catalog.schedules):
            wanted[schedule_id(entry.id, spec.node_id)] = (entry, spec.node_id, spec.config)
        existing = set()
        async for listed in await self.client.list_schedules():
            if listed.id.startswith(PREFIX):
                existing.add(listed.id)
        created = updated = deleted = 0
        for sid, (entry, node_id, config) in wanted.items():
            schedule = _schedule(entry, node_id, config, self.task_queue)
            fingerprint = hashlib.sha256(
                json.dumps([entry.id, node_id, config, self.task_queue], sort_keys=True).encode()
            ).hexdigest()
            if sid not in existing:
                try:
                    await self.client.create_schedule(sid, schedule)
                    created += 1
                    self._applied[sid] = fingerprint
                    continue
                except ScheduleAlreadyRunningError:
                    pass  # another API process made it meanwhile (or listing lags): update
            if self._applied.get(sid) == fingerprint:
                continue

            def replace(_: ScheduleUpdateInput, schedule: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=schedule)

            await self.client.get_schedule_handle(sid).update(replace)
            self._applied[sid] = fingerprint
            updated += 1
        for sid in existing - wanted.keys():
            await self.client.get_schedule_handle(sid).delete()
            self._applied.pop(sid, None)
            deleted += 1
        if created or updated or deleted:
            log.info(
                "Temporal Schedules: %d created, %d updated, %d deleted", created, updated, deleted
            )
        return created, updated, deleted
