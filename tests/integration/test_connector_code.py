"""The code connector: user Python in the WASI sandbox and under bubblewrap, refusing hostile
code (escapes, host files, sockets, fork bombs, endless loops, huge allocations) with clear
errors while the next run still works, and a code node run through the local engine."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from flowforge.connectors import ActionError, Context, Registry
from flowforge.connectors import _code_wasi as wasi_module
from flowforge.connectors import flow as flow_connector
from flowforge.connectors.code import MAX_CODE_CHARS, CodeOutput, connector
from flowforge.connectors.sdk import Cancelled
from flowforge.engine.local import LocalEngine
from flowforge.model import Workflow
from flowforge.store import MemoryStore

HAS_BWRAP = shutil.which("bwrap") is not None
MODES = [
    "wasi",
    pytest.param(
        "process", marks=pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap not installed")
    ),
]
SECRET = "flowforge-host-secret-7d1f"


def make_ctx(input: Any = None) -> Context:
    return Context.standalone("code.python", input=input, blobs=MemoryStore())


def run(code: str, mode: str, input: Any = None, **params: Any) -> CodeOutput:
    spec = connector.actions["python"]
    model = spec.input_model.model_validate({"code": code, "mode": mode, **params})
    result = spec.handler(model, make_ctx(input))
    assert isinstance(result, CodeOutput)
    return result


def refused(code: str, mode: str, error_type: str, **params: Any) -> str:
    with pytest.raises(ActionError) as info:
        run(code, mode, **params)
    assert info.value.type == error_type, str(info.value)
    assert info.value.retryable is False
    return str(info.value)


def still_works(mode: str) -> None:
    assert run("output = input * 2", mode, input=21).output == 42


@pytest.mark.parametrize("mode", MODES)
def test_input_output_and_logs(mode: str) -> None:
    result = run(
        "print('total', sum(input['a']))\nimport sys\nprint('warn', file=sys.stderr)\n"
        "output = {'sum': sum(input['a']), 'echo': input}",
        mode,
        input={"a": [1, 2, 3]},
    )
    assert result.output == {"sum": 6, "echo": {"a": [1, 2, 3]}}
    assert "total 6" in result.logs and "warn" in result.logs
    assert result.mode == mode
    assert run("x = 1", mode).output is None  # output left unset


@pytest.mark.parametrize("mode", MODES)
def test_errors_name_the_cause(mode: str) -> None:
    message = refused("def f():\n    return 1 / 0\nf()", mode, "CodeError")
    assert "ZeroDivisionError" in message and "line 2" in message
    message = refused("output = float('nan')", mode, "OutputNotJSON")
    assert "output" in message
    assert "SyntaxError" in refused("def (", mode, "CodeError")
    result = run("print('x' * 200_000)", mode)
    assert result.logs_truncated and len(result.logs) <= 64 * 1024
    still_works(mode)


@pytest.mark.parametrize("mode", MODES)
def test_escape_through_subclasses_reaches_nothing(mode: str, tmp_path: Path) -> None:
    secret_file = tmp_path / "flowforge.db"
    secret_file.write_text(SECRET)
    code = f"""
import os
found = []
subclasses = ().__class__.__base__.__subclasses__()
for cls in subclasses:
    if cls.__name__ == "_wrap_close":  # os.popen's helper: the classic way to a shell
        g = cls.__init__.__globals__
        try:
            found.append(g["popen"]("cat {secret_file}").read())
        except Exception as e:
            found.append(type(e).__name__)
for path in ({str(secret_file)!r}, "/etc/passwd", "/proc/1/environ"):
    try:
        found.append(open(path).read())
    except Exception as e:
        found.append(type(e).__name__)
output = {{"n": len(subclasses), "found": found, "env": dict(os.environ)}}
"""
    result = run(code, mode)
    assert result.output["n"] > 100  # the introspection itself works, it is just harmless
    text = str(result.output)
    assert SECRET not in text
    assert "root:" not in text
    assert not any(key.startswith("FLOWFORGE") for key in result.output["env"])
    still_works(mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", ["/etc/passwd", "DB"])
def test_host_files_cannot_be_read(mode: str, path: str, tmp_path: Path) -> None:
    if path == "DB":
        db = tmp_path / "flowforge.db"
        db.write_text(SECRET)
        path = str(db)
    message = refused(f"output = open({path!r}).read()", mode, "CodeError")
    assert "FileNotFoundError" in message or "PermissionError" in message
    assert SECRET not in message
    still_works(mode)


@pytest.mark.parametrize("mode", MODES)
def test_no_network(mode: str) -> None:
    message = refused(
        "import socket\ns = socket.socket()\ns.connect(('127.0.0.1', 8989))", mode, "CodeError"
    )
    assert "OSError" in message or "ConnectionRefusedError" in message or "Error" in message
    message = refused(
        "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)", mode, "CodeError"
    )
    assert "Error" in message
    still_works(mode)


@pytest.mark.parametrize("mode", MODES)
def test_fork_bomb_is_contained(mode: str) -> None:
    message = refused("import os\nwhile True:\n    os.fork()", mode, "CodeError", timeout_s=5)
    assert "AttributeError" in message or "BlockingIOError" in message
    message = refused(
        "import subprocess\nwhile True:\n    subprocess.Popen(['/bin/sh', '-c', 'sleep 30'])",
        mode,
        "CodeError",
        timeout_s=5,
    )
    assert "Error" in message
    still_works(mode)


@pytest.mark.parametrize("mode", MODES)
def test_endless_loop_times_out(mode: str) -> None:
    message = refused("while True:\n    pass", mode, "Timeout", timeout_s=1)
    assert "timeout_s" in message
    still_works(mode)


@pytest.mark.parametrize("mode", MODES)
def test_ten_gigabytes_hit_the_memory_limit(mode: str) -> None:
    message = refused(
        "chunks = [bytearray(2**30) for _ in range(10)]", mode, "MemoryLimit", memory_mb=128
    )
    assert "memory_mb" in message and "128 MiB" in message
    still_works(mode)


def test_process_mode_limits_files_and_sees_packages() -> None:
    if not HAS_BWRAP:
        pytest.skip("bubblewrap not installed")
    message = refused("open('/tmp/big', 'w').write('a' * 64 * 2**20)", "process", "CodeError")
    assert "File too large" in message or "No space left" in message
    result = run("import os, pydantic\noutput = [pydantic.VERSION, os.getuid()]", "process")
    assert result.output[0].startswith("2.")
    still_works("process")


def test_bad_parameters_are_refused() -> None:
    model = connector.actions["python"].input_model
    for params in (
        {"code": ""},
        {"code": "x" * (MAX_CODE_CHARS + 1)},
        {"code": "x=1", "mode": "docker"},
        {"code": "x=1", "timeout_s": 0},
        {"code": "x=1", "timeout_s": 10_000},
        {"code": "x=1", "memory_mb": 1},
        {"code": "x=1", "memory_mb": 1_000_000},
        {"code": "x=1", "shell": True},
    ):
        with pytest.raises(ValidationError):
            model.model_validate(params)
    spec = connector.actions["python"]
    with pytest.raises(ActionError) as info:
        spec.handler(model.model_validate({"code": "x=1"}), make_ctx(input={1, 2}))
    assert info.value.type == "InputNotJSON"


def test_tampered_runtime_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "python.wasm"
    fake.write_bytes(wasi_module.wasm_path().read_bytes()[:-1] + b"\0")
    monkeypatch.setattr(wasi_module, "wasm_path", lambda: fake)
    monkeypatch.setattr(wasi_module, "_engine", None)
    monkeypatch.setattr(wasi_module, "_module", None)
    message = refused("output = 1", "wasi", "SandboxTampered")
    assert wasi_module.PYTHON_WASM_SHA256 in message


async def test_code_node_in_a_workflow() -> None:
    workflow = Workflow.model_validate(
        {
            "name": "code-node",
            "nodes": [
                {"id": "start", "type": "flow.start"},
                {
                    "id": "double",
                    "type": "code.python",
                    "params": {"code": "output = {'doubled': [x * 2 for x in input['xs']]}"},
                },
            ],
            "edges": [{"source": "start", "target": "double"}],
            "output": "{{ nodes.double.output.output }}",
        }
    )
    registry = Registry([flow_connector.connector, connector])
    async with LocalEngine(MemoryStore(), registry) as engine:
        result = await engine.run(workflow, {"xs": [1, 2, 3]})
        assert result.ok, result.error
        assert result.result == {"doubled": [2, 4, 6]}
        failing = workflow.model_copy(deep=True)
        failing.nodes[1].params["code"] = "raise ValueError('bad row')"
        bad = await engine.run(failing, {"xs": []})
        assert not bad.ok and bad.error is not None
        assert "bad row" in str(bad.error)


def test_process_mode_stops_when_the_run_is_cancelled() -> None:
    if not HAS_BWRAP:
        pytest.skip("bubblewrap not installed")
    spec = connector.actions["python"]
    ctx = make_ctx()
    timer = threading.Timer(0.3, ctx.cancel_event.set)
    timer.start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        spec.handler(
            spec.input_model.model_validate(
                {"code": "while True:\n    pass", "mode": "process", "timeout_s": 30}
            ),
            ctx,
        )
    timer.join()
    assert time.monotonic() - started < 5
    still_works("process")


def test_minimum_memory_is_enough_to_start() -> None:
    for mode in ["wasi", "process"] if HAS_BWRAP else ["wasi"]:
        assert run("output = sum(range(1000))", mode, memory_mb=64).output == 499500
