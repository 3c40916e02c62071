"""Kill a run with SIGKILL at several points, resume it, and check the journal and side effects."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from flowforge.engine.frames import ExecutionStatus, FrameStatus
from flowforge.store import open_store

WORKER = Path(__file__).with_name("crash_worker.py")
EGRESS = {
    FrameStatus.COMPLETED,
    FrameStatus.RETRYING,
    FrameStatus.FAILED,
    FrameStatus.CANCELLED,
    FrameStatus.INTERRUPTED,
    FrameStatus.WAITING,
}
ALL_LABELS = (
    {f"c{i}" for i in range(8)} | {"p0", "p1", "p2", "last"} | {f"each[{i}]" for i in range(6)}
)


def _worker(mode: str, url: str, log: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, url, str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _lines(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [1, 4, 9, 12, 15, 18])
def test_sigkill_then_resume(database_url: str, tmp_path: Path, kill_after: int) -> None:
    log = tmp_path / "side-effects.log"
    proc = _worker("run", database_url, log)
    deadline = time.monotonic() + 60
    while len(_lines(log)) < kill_after:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run did not get far enough"
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.communicate()

    store = open_store(database_url, tmp_path)
    try:
        [record] = store.list_executions()
        assert record.status == ExecutionStatus.RUNNING
        before = store.get_frames(record.id)
        done_before = {
            _label(f) for f in before if f.status == FrameStatus.COMPLETED and f.node_id != "join"
        }
        done_before.discard("start")
        ran_before = Counter(_lines(log))

        resumed = _worker("resume", database_url, log)
        out, err = resumed.communicate(timeout=60)
        assert resumed.returncode == 0, err
        assert out.split()[-1] == "COMPLETED"

        record = store.get_execution(record.id)
        frames = store.get_frames(record.id)
    finally:
        store.close()
    assert record.status == ExecutionStatus.COMPLETED
    runs = Counter(_lines(log))
    assert set(runs) == ALL_LABELS
    for label in done_before:  # completed before the kill: never run again
        assert runs[label] == 1, f"{label} ran {runs[label]} times"
    for label, n in runs.items():  # in flight at the kill: at most once more
        assert n <= ran_before.get(label, 0) + 1
    # the journal: the frames before the kill are kept as they were, numbered without gaps
    assert frames[: len(before)] == before
    assert [f.seq for f in frames] == list(range(1, len(frames) + 1))
    completed = Counter(_label(f) for f in frames if f.status == FrameStatus.COMPLETED)
    assert all(n == 1 for n in completed.values()), completed
    assert set(completed) == ALL_LABELS | {"start", "join"}
    # every ingress has exactly one egress
    starts = Counter(
        (f.node_id, f.item, f.attempt) for f in frames if f.status == FrameStatus.STARTED
    )
    ends = Counter((f.node_id, f.item, f.attempt) for f in frames if f.status in EGRESS)
    assert starts == ends


def _label(frame: object) -> str:
    item = getattr(frame, "item", None)
    node = getattr(frame, "node_id", "")
    return node if item is None else f"{node}[{item}]"
