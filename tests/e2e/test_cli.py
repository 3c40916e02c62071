"""The ``flowforge`` command as a user runs it: every example, exit codes, JSON output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"


def flowforge(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowforge", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )


def flowforge_background(*args: str) -> subprocess.Popen[str]:
    """A flowforge command left running, its output captured as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "flowforge", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


EXPECTED: list[tuple[str, dict[str, Any] | None, Any]] = [
    (
        "webhook-echo.yaml",
        {"method": "POST", "path": "echo", "body": {"name": "Ada"}},
        {"greeting": "Hello, Ada", "received": "POST /hooks/echo"},
    ),
    (
        "nightly-report.yaml",
        {"scheduled_at": "2026-11-23T06:30:00+00:00", "ticks": 2},
        {"report": {"title": "Report for 2026-11-23", "ticks": 2}},
    ),
    (
        "order-alert.yaml",
        {"id": "A-17", "amount": 250},
        {"level": "high", "message": "Order A-17 needs review: 250 is over 100"},
    ),
    ("order-alert.yaml", {"id": "B-2", "amount": 5}, {"level": "normal", "order": "B-2"}),
    (
        "fan-out-merge.yaml",
        {"customer": "ada"},
        {"summary": {"customer": "Ada", "orders": 3, "score": 30}},
    ),
    ("for-each.yaml", None, {"lines": 3, "total": 56.5}),
    (
        "retry-on-error.yaml",
        None,
        {
            "data": {"source": "cache", "reason": "upstream service unavailable", "attempts": 3},
            "enrichment": {
                "error": {
                    "message": "optional enrichment failed",
                    "type": "WorkflowFailed",
                    "node": "tolerant",
                    "attempts": 1,
                }
            },
        },
    ),
    ("wait.yaml", {"seconds": 0.3}, {"after": {"resumed": True, "waited_s": 0.3}}),
    (
        "subworkflow.yaml",
        None,
        {
            "orders": [
                {"id": 1, "amount": 50, "large": False},
                {"id": 2, "amount": 500, "large": True},
            ],
            "large": [2],
        },
    ),
]


def test_every_example_is_covered() -> None:
    assert {e[0] for e in EXPECTED} == {p.name for p in EXAMPLES.glob("*.yaml")}


@pytest.mark.parametrize(
    ("name", "payload", "expected"), EXPECTED, ids=[f"{e[0]}-{i}" for i, e in enumerate(EXPECTED)]
)
def test_examples_run_through_the_cli(
    database_url: str, name: str, payload: Any, expected: Any
) -> None:
    args = ["run", str(EXAMPLES / name), "--db", database_url, "--json"]
    if payload is not None:
        args += ["--input", json.dumps(payload)]
    done = flowforge(*args)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "COMPLETED"
    assert report["result"] == expected
    shown = flowforge("executions", "show", report["execution_id"], "--db", database_url, "--json")
    assert shown.returncode == 0, shown.stderr
    frames = json.loads(shown.stdout)["frames"]
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    assert {f["node"] for f in frames if f["status"] == "completed"}


def test_live_progress_and_human_output(database_url: str) -> None:
    done = flowforge(
        "run",
        str(EXAMPLES / "fan-out-merge.yaml"),
        "--db",
        database_url,
        "--input",
        '{"customer": "bo"}',
    )
    assert done.returncode == 0, done.stderr
    assert "nodes" in done.stderr and "COMPLETED" in done.stderr
    assert json.loads(done.stdout)["summary"]["customer"] == "Bo"


def test_exit_codes(database_url: str, tmp_path: Path) -> None:
    failing = tmp_path / "failing.yaml"
    failing.write_text(
        "name: f\nnodes: [{id: s, type: flow.start}, {id: x, type: flow.fail, params: {message: nope}}]\nedges: [{source: s, target: x}]\n"
    )
    done = flowforge("run", str(failing), "--db", database_url, "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["message"] == "nope"

    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("name: i\nnodes: [{id: s, type: flow.strat}]\n")
    done = flowforge("run", str(invalid), "--db", database_url)
    assert done.returncode == 2
    assert "unknown node type 'flow.strat' (did you mean 'flow.start'?)" in done.stderr

    done = flowforge(
        "run", str(EXAMPLES / "order-alert.yaml"), "--db", database_url, "--input", "{not json"
    )
    assert done.returncode == 2 and "--input: not valid JSON" in done.stderr

    garbage = tmp_path / "garbage.json"
    garbage.write_text("[" * 50_000)
    done = flowforge("run", str(garbage), "--db", database_url)
    assert done.returncode == 2 and "nesting is too deep" in done.stderr


def test_validate_command(tmp_path: Path) -> None:
    done = flowforge("validate", *(str(p) for p in sorted(EXAMPLES.rglob("*.yaml"))))
    assert done.returncode == 0, done.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: b\nnodes: [{id: a, type: flow.noop}, {id: b, type: flow.noop}]\nedges: [{source: a, target: b}, {source: b, target: a}]\n"
    )
    done = flowforge("validate", str(bad), "--json")
    assert done.returncode == 2
    [report] = json.loads(done.stdout)
    assert report["valid"] is False
    assert any("cycle: a → b → a" in p["message"] for p in report["problems"])


def test_schema_command() -> None:
    done = flowforge("schema")
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    assert schema["title"] == "Workflow" and "nodes" in schema["properties"]


def test_executions_list_filters(database_url: str) -> None:
    flowforge(
        "run",
        str(EXAMPLES / "order-alert.yaml"),
        "--db",
        database_url,
        "--json",
        "--input",
        '{"id": "x", "amount": 1}',
    )
    done = flowforge(
        "executions", "list", "--db", database_url, "--json", "--workflow", "order-alert"
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert rows and all(r["workflow"] == "order-alert" for r in rows)
    done = flowforge("executions", "list", "--db", database_url, "--json", "--status", "FAILED")
    assert json.loads(done.stdout) == []
    done = flowforge("executions", "show", "no-such-id", "--db", database_url)
    assert done.returncode == 1 and "no execution" in done.stderr


def test_resume_with_nothing_to_do(database_url: str) -> None:
    done = flowforge("resume", "--db", database_url, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_input_file(database_url: str, tmp_path: Path) -> None:
    payload = tmp_path / "input.json"
    payload.write_text('{"id": "F-1", "amount": 1000}')
    done = flowforge(
        "run",
        str(EXAMPLES / "order-alert.yaml"),
        "--db",
        database_url,
        "--json",
        "--input-file",
        str(payload),
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"]["level"] == "high"
    done = flowforge(
        "run",
        str(EXAMPLES / "order-alert.yaml"),
        "--db",
        database_url,
        "--input-file",
        str(tmp_path / "absent.json"),
    )
    assert done.returncode == 2 and "--input-file" in done.stderr


@pytest.mark.slow
def test_interrupt_a_waiting_run_then_resume_it(database_url: str) -> None:
    """Ctrl-C while a run waits keeps it in the journal; `flowforge resume` finishes it on time."""
    proc = flowforge_background(
        "run",
        str(EXAMPLES / "wait.yaml"),
        "--db",
        database_url,
        "--json",
        "--input",
        '{"seconds": 3}',
    )
    deadline = time.monotonic() + 30
    status = ""
    while status != "WAITING":
        assert time.monotonic() < deadline, "the run never parked"
        time.sleep(0.1)
        listed = flowforge("executions", "list", "--db", database_url, "--json")
        rows = json.loads(listed.stdout) if listed.returncode == 0 and listed.stdout.strip() else []
        status = rows[0]["status"] if rows else ""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "flowforge resume" in err
    done = flowforge("resume", "--db", database_url, "--json")
    assert done.returncode == 0, done.stderr
    [outcome] = json.loads(done.stdout)
    assert outcome["status"] == "COMPLETED"
    assert outcome["result"] == {"after": {"resumed": True, "waited_s": 3}}
    shown = json.loads(
        flowforge(
            "executions", "show", outcome["execution_id"], "--db", database_url, "--json"
        ).stdout
    )
    pause = [f["status"] for f in shown["frames"] if f["node"] == "pause"]
    assert pause == ["started", "waiting", "completed"]
