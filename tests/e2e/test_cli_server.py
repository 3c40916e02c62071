"""The CLI against a running server (``--server``) and, for the same scenarios, locally
(``--db``): same output, same exit codes."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_cli import EXAMPLES, flowforge, flowforge_background

from conftest import AUTH

GATE = """\
name: gate
nodes:
  - {id: start, type: flow.start}
  - {id: gate, type: flow.if, params: {condition: "{{ input.ok }}"}}
  - {id: done, type: flow.set, params: {values: {passed: "{{ input.ok }}"}}}
  - {id: boom, type: flow.fail, params: {message: not ok}}
edges:
  - {source: start, target: gate}
  - {source: gate, source_port: "true", target: done}
  - {source: gate, source_port: "false", target: boom}
output: "{{ nodes.done.output }}"
"""


@pytest.fixture(params=["local", "server"])
def where(request: pytest.FixtureRequest, database_url: str) -> list[str]:
    """The options that point a command at a database, or at a server on that database."""
    if request.param == "local":
        return ["--db", database_url]
    return ["--server", request.getfixturevalue("server_url")]


def run_json(*args: str) -> tuple[int, dict[str, Any], str]:
    done = flowforge(*args, "--json")
    return done.returncode, json.loads(done.stdout) if done.stdout else {}, done.stderr


def test_run_list_show(where: list[str]) -> None:
    code, report, stderr = run_json(
        "run", str(EXAMPLES / "order-alert.yaml"), *where, "--input", '{"id": "A-1", "amount": 500}'
    )
    assert code == 0, stderr
    assert report["status"] == "COMPLETED"
    assert report["result"] == {
        "level": "high",
        "message": "Order A-1 needs review: 500 is over 100",
    }

    code, rows, stderr = run_json("executions", "list", *where, "--workflow", "order-alert")
    assert code == 0, stderr
    assert [r["id"] for r in rows] == [report["execution_id"]]
    assert rows[0]["status"] == "COMPLETED" and rows[0]["workflow"] == "order-alert"

    code, shown, stderr = run_json("executions", "show", report["execution_id"], *where)
    assert code == 0, stderr
    assert shown["result"] == report["result"]
    frames = shown["frames"]
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    completed = [f["node"] for f in frames if f["status"] == "completed"]
    assert completed == ["start", "check", "alert", "done"]
    assert all(f["started_at"].endswith("+00:00") for f in frames)

    human = flowforge("executions", "show", report["execution_id"], *where)
    assert human.returncode == 0 and "COMPLETED" in human.stdout and "alert" in human.stdout
    missing = flowforge("executions", "show", "no-such-id", *where)
    assert missing.returncode == 1 and "no execution" in missing.stderr


def test_failure_retry_rerun_delete(where: list[str], tmp_path: Path) -> None:
    gate = tmp_path / "gate.yaml"
    gate.write_text(GATE)
    code, failed, _ = run_json("run", str(gate), *where, "--input", '{"ok": false}')
    assert code == 1
    assert failed["status"] == "FAILED" and failed["error"]["node"] == "boom"
    human = flowforge("run", str(gate), *where, "--input", '{"ok": false}')
    assert human.returncode == 1
    assert "error in node 'boom':" in human.stderr and "not ok" in human.stderr

    # retry runs the failed node again, keeping the steps before it: it fails the same way
    code, retried, _ = run_json("executions", "retry", failed["execution_id"], *where)
    assert code == 1 and retried["status"] == "FAILED"
    code, shown, _ = run_json("executions", "show", retried["execution_id"], *where)
    assert shown["retry_of"] == failed["execution_id"]
    first = run_json("executions", "show", failed["execution_id"], *where)[1]["frames"]
    kept = [f for f in shown["frames"] if f["node"] in ("start", "gate")]
    assert kept == [f for f in first if f["node"] in ("start", "gate")]

    # time travel: the gate again with an edited input takes the other branch
    code, fixed, stderr = run_json(
        "executions",
        "rerun",
        failed["execution_id"],
        *where,
        "--from",
        "gate",
        "--input",
        '{"ok": true}',
    )
    assert code == 0, stderr
    assert fixed["status"] == "COMPLETED" and fixed["result"] == {"passed": True}

    # bad requests are refused with the reason and exit 2, and change nothing
    done = flowforge("executions", "rerun", failed["execution_id"], *where, "--from", "nope")
    assert done.returncode == 2 and "the workflow has no node 'nope'" in done.stderr
    done = flowforge("executions", "retry", fixed["execution_id"], *where)
    assert done.returncode == 2 and "only a failed or cancelled run can be retried" in done.stderr
    done = flowforge("executions", "cancel", fixed["execution_id"], *where)
    assert done.returncode == 2 and "has ended" in done.stderr
    done = flowforge(
        "executions", "rerun", failed["execution_id"], *where, "--from", "gate", "--input", "{x"
    )
    assert done.returncode == 2 and "--input: not valid JSON" in done.stderr

    before = len(run_json("executions", "list", *where)[1])
    done = flowforge("executions", "delete", failed["execution_id"], *where)
    assert done.returncode == 0, done.stderr
    assert flowforge("executions", "show", failed["execution_id"], *where).returncode == 1
    assert len(run_json("executions", "list", *where)[1]) == before - 1
    done = flowforge("executions", "delete", failed["execution_id"], *where)
    assert done.returncode == 1 and "no execution" in done.stderr


def test_cancel_a_waiting_run(where: list[str], database_url: str) -> None:
    background = flowforge_background(
        "run",
        str(EXAMPLES / "wait.yaml"),
        *where,
        "--input",
        '{"seconds": 60}',
        "--json",
    )
    try:
        deadline = time.monotonic() + 30
        waiting: list[dict[str, Any]] = []
        while not waiting and time.monotonic() < deadline:
            time.sleep(0.2)
            waiting = run_json("executions", "list", *where, "--status", "WAITING")[1] or []
        assert waiting, "the run never parked"
        execution_id = waiting[0]["id"]
        code, record, stderr = run_json("executions", "cancel", execution_id, *where)
        assert code == 0, stderr
        assert record["id"] == execution_id
        out, _ = background.communicate(timeout=30)
    finally:
        background.kill()
    # the run the first command was following ends cancelled, and so does its exit code
    assert background.returncode == 1
    assert json.loads(out)["status"] == "CANCELLED"
    code, shown, _ = run_json("executions", "show", execution_id, *where)
    assert shown["status"] == "CANCELLED"


def test_same_answers_locally_and_from_a_server(server_url: str, database_url: str) -> None:
    local = run_json("run", str(EXAMPLES / "fan-out-merge.yaml"), "--db", database_url)[1]
    remote = run_json("run", str(EXAMPLES / "fan-out-merge.yaml"), "--server", server_url)[1]
    assert local.keys() == remote.keys()
    assert {**local, "execution_id": None} == {**remote, "execution_id": None}
    # one database: both see both runs, in the same shape
    by_server = run_json("executions", "list", "--server", server_url)[1]
    by_db = run_json("executions", "list", "--db", database_url)[1]
    assert by_server == by_db
    assert {r["id"] for r in by_db} == {local["execution_id"], remote["execution_id"]}


def test_stored_workflows_and_server_errors(server_url: str, tmp_path: Path) -> None:
    # a stored workflow by name (the examples are loaded on first start), and FLOWFORGE_SERVER
    done = flowforge(
        "run",
        "order-alert",
        "--input",
        '{"id": "Z", "amount": 1}',
        "--json",
        env={"FLOWFORGE_SERVER": server_url},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == {"level": "normal", "order": "Z"}

    done = flowforge("run", "no-such-workflow", "--server", server_url)
    assert done.returncode == 2
    assert "no such file, and the server has no workflow with this id or name" in done.stderr

    # the server's validation: every problem, with the field, exit 2, nothing run
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(
        "name: i\nnodes: [{id: s, type: flow.strat}, {id: t, type: flow.set}]\n"
        "edges: [{source: s, target: t}]\n"
    )
    done = flowforge("run", str(invalid), "--server", server_url)
    assert done.returncode == 2
    assert "unknown node type 'flow.strat'" in done.stderr
    assert "request id" in done.stderr
    rows = run_json("executions", "list", "--server", server_url)[1]
    assert all(r["workflow"] != "i" for r in rows)

    # a workflow sent inline cannot make the server read files
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text(
        "name: h\nnodes: [{id: s, type: flow.start}, "
        "{id: c, type: flow.subworkflow, params: {workflow: /etc/passwd}}]\n"
        "edges: [{source: s, target: c}]\n"
    )
    code, report, _ = run_json("run", str(hostile), "--server", server_url)
    assert code == 1
    assert "stored workflow versions only" in report["error"]["message"]
    assert "root:" not in json.dumps(report)

    # the examples stored with their folder still call their sub-workflow files
    done = flowforge("run", "subworkflow", "--server", server_url, "--json")
    assert done.returncode == 0, done.stderr

    done = flowforge("executions", "list", "--server", server_url, "--db", "sqlite:///x.db")
    assert done.returncode == 2 and "not both" in done.stderr
    done = flowforge("executions", "list", "--server", "http://127.0.0.1:1")
    assert done.returncode == 1 and "cannot reach http://127.0.0.1:1" in done.stderr
    done = flowforge("executions", "list", "--server", "ftp://example.org")
    assert done.returncode == 1 and "not an http(s) URL" in done.stderr
    # an id is one path segment: it cannot walk to another route
    done = flowforge("executions", "show", "../workflows", "--server", server_url)
    assert done.returncode == 1 and "HTTP 404" in done.stderr and "order-alert" not in done.stdout


def test_interrupting_the_follower_leaves_the_run_going(server_url: str) -> None:
    follower = flowforge_background(
        "run",
        "wait",
        "--server",
        server_url,
        "--input",
        '{"seconds": 2}',
    )
    deadline = time.monotonic() + 30
    waiting: list[dict[str, Any]] = []
    while not waiting and time.monotonic() < deadline:
        time.sleep(0.2)
        waiting = run_json("executions", "list", "--server", server_url, "--status", "WAITING")[1]
    assert waiting, "the run never parked"
    follower.send_signal(signal.SIGINT)
    _, stderr = follower.communicate(timeout=30)
    assert follower.returncode == 130
    assert "the run goes on at the server" in stderr
    deadline = time.monotonic() + 30
    record: dict[str, Any] = {}
    while record.get("status") != "COMPLETED" and time.monotonic() < deadline:
        time.sleep(0.2)
        record = httpx.get(
            f"{server_url}/api/v1/executions/{waiting[0]['id']}", headers=AUTH
        ).json()
    assert record["status"] == "COMPLETED"
