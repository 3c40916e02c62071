"""Recorded Temporal histories of the graph workflow, replayed with Temporal's Replayer: a
change to the workflow code that would not replay the runs in flight (non-determinism) fails
here. The histories are made by temporal_histories/record.py."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from flowforge.engine.temporal import DATA_CONVERTER, GraphWorkflow, workflow_runner

HISTORIES = sorted((Path(__file__).parent / "temporal_histories").glob("*.json"))


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_every_scenario_has_a_history() -> None:
    assert {p.stem for p in HISTORIES} == {
        "branch_merge",
        "failure",
        "for_each_retry_route",
        "wait_and_subworkflow",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_histories_replay(path: Path) -> None:
    replayer = Replayer(
        workflows=[GraphWorkflow], workflow_runner=workflow_runner(), data_converter=DATA_CONVERTER
    )
    result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_a_change_of_decisions_fails_the_replay() -> None:
    """The check can fail: the same history with fewer for_each items recorded as the run's
    input makes the scheduler offer fewer steps, which the replay reports as non-determinism."""
    path = next(p for p in HISTORIES if p.stem == "for_each_retry_route")
    changed = _with_input(json.loads(path.read_text()), {"items": [1, 2, 3, 4, 5]}, {"items": [1]})
    replayer = Replayer(
        workflows=[GraphWorkflow], workflow_runner=workflow_runner(), data_converter=DATA_CONVERTER
    )
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json("changed", changed), raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()


def _with_input(history: dict[str, Any], recorded: Any, instead: Any) -> dict[str, Any]:
    """The history with the run input that ``begin`` recorded replaced."""
    for event in history["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if not marker:
            continue
        for payload in marker.get("details", {}).get("result", {}).get("payloads", []):
            data = json.loads(base64.b64decode(payload["data"]))
            if isinstance(data, dict) and data.get("input") == recorded:
                data["input"] = instead
                payload["data"] = base64.b64encode(json.dumps(data).encode()).decode()
                return history
    raise AssertionError("no begin marker with the recorded input")
