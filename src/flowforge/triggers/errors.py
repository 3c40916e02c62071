"""The error trigger: a failed run starts the error workflows of its organisation."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any, Protocol

from flowforge.engine.frames import ExecutionRecord, ExecutionStatus
from flowforge.model import Workflow
from flowforge.store import Duplicate

__all__ = ["fire_error_triggers", "watches_failures"]

log = logging.getLogger("flowforge.server")


class _Starter(Protocol):
    async def submit(
        self,
        workflow: Workflow,
        input: Any = None,
        *,
        source_path: str | None = None,
        parent: tuple[str, str, int] | None = None,
        workflow_id: str | None = None,
        trigger_node: str | None = None,
        dedupe_key: str | None = None,
        org_id: str = ...,
    ) -> str: ...


def watches_failures(record: ExecutionRecord, status: str) -> bool:
    """Whether a run that ended with ``status`` fires error triggers: a failed top-level run
    of a catalogue workflow that no error trigger started (no loops)."""
    return (
        status == ExecutionStatus.FAILED
        and record.workflow_id is not None
        and record.parent_id is None
        and not (record.dedupe_key or "").startswith("error:")
    )


async def fire_error_triggers(
    catalog: Any, engine: _Starter, record: ExecutionRecord, status: str, error: Any
) -> None:
    """Start every error workflow of the run's organisation that watches it."""
    if not watches_failures(record, status):
        return
    watchers = await asyncio.to_thread(catalog.error_triggers, record.org_id)
    failure = {
        "execution": {
            "id": record.id,
            "workflow_id": record.workflow_id,
            "workflow": record.workflow_name,
            "error": error,
            "input": record.input,
            "started_at": (record.started_at or record.created_at).isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "retry_of": record.retry_of,
        }
    }
    for entry, spec in watchers:
        if entry.id == record.workflow_id:
            continue
        watched = spec.config.get("workflows") or []
        if watched and record.workflow_id not in watched and record.workflow_name not in watched:
            continue
        try:
            workflow = await asyncio.to_thread(catalog.definition, entry)
            run_id = await engine.submit(
                workflow,
                failure,
                source_path=entry.source_path,
                workflow_id=entry.id,
                trigger_node=spec.node_id,
                dedupe_key=f"error:{record.id}:{entry.id}:{spec.node_id}",
                org_id=entry.org_id,
            )
        except Duplicate:
            continue
        except Exception:
            log.exception("error trigger %s/%s could not start", entry.name, spec.node_id)
            continue
        log.info(
            "execution %s failed: error workflow %s started as %s", record.id, entry.name, run_id
        )
