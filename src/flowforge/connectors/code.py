"""The code node: run a user's Python on the step's input, in a sandbox.

Two sandboxes, one contract. The default, ``wasi``, runs CPython compiled for WASI inside
wasmtime: no network, no files, no environment, a wall-clock budget enforced by epoch
interruption and a memory ceiling. The opt-in ``process`` mode runs the host's Python under
bubblewrap with rlimits, for code that needs the packages installed beside FlowForge.

Both run the same small runner: it reads ``{"code", "input", "max_log"}`` as JSON on stdin,
executes the code with ``input`` bound, captures what it prints, and writes one JSON document
(the value of ``output``, or the error) to its result stream.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flowforge.connectors.sdk import ActionError, Cancelled, Connector, Context

__all__ = ["CodeOutput", "PythonParams", "connector"]

connector = Connector(
    "code",
    name="Code",
    description="Run your own Python on the node's input, in a sandbox.",
    category="Core",
    icon="code",
)

MAX_CODE_CHARS = 100_000
MAX_INPUT_BYTES = 16 * 1024 * 1024
MAX_RESULT_BYTES = 16 * 1024 * 1024
MAX_LOG_CHARS = 64 * 1024
MAX_TIMEOUT_S = 300.0

# The runner, identical in both sandboxes. The prelude of each mode sets ``_result`` (the
# stream the result goes to) before it. Kept to the standard library and short, because the
# WASI interpreter parses it on every run.
RUNNER = r"""
import io, json, sys
_req = json.loads(sys.stdin.read())
class _Log(io.TextIOBase):
    def __init__(self, limit):
        self.parts, self.size, self.limit = [], 0, limit
    def writable(self):
        return True
    def write(self, s):
        s = str(s)
        if self.size < self.limit:
            self.parts.append(s[: self.limit - self.size])
        self.size += len(s)
        return len(s)
_log = _Log(_req["max_log"])
sys.stdout = sys.stderr = _log
_src = _req["code"]
_ns = {"__name__": "__flowforge_code__", "input": _req["input"]}
del _req
try:
    exec(compile(_src, "<code>", "exec"), _ns)
    _doc = {"ok": True, "output": _ns.get("output")}
    try:
        _text = json.dumps(_doc, allow_nan=False)
    except (TypeError, ValueError) as e:
        _doc = {"ok": False, "type": "OutputNotJSON", "message": str(e), "traceback": ""}
except BaseException as e:
    # Imported only on failure: they cost the WASI interpreter ~10 ms at every start.
    import linecache, traceback
    linecache.cache["<code>"] = (len(_src), None, _src.splitlines(True), "<code>")
    _frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == "<code>"]
    _doc = {
        "ok": False,
        "type": type(e).__name__,
        "message": str(e)[:2000],
        "traceback": "".join(traceback.format_list(_frames[-20:]))[-4000:],
    }
_doc["logs"] = "".join(_log.parts)
_doc["logs_truncated"] = _log.size > _log.limit
_result.write(json.dumps(_doc, allow_nan=False))
_result.flush()
"""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one run may use."""

    timeout_s: float
    memory_mb: int
    max_log: int = MAX_LOG_CHARS


@dataclass(frozen=True, slots=True)
class RawRun:
    """What a sandbox gives back: the runner's result stream, and whatever else was printed."""

    result: bytes
    extra_logs: str
    timed_out: bool
    result_truncated: bool
    exit_detail: str
    cancelled: bool = False


class PythonParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        min_length=1,
        max_length=MAX_CODE_CHARS,
        description=(
            "Python 3 source. The node's input is the variable `input` (JSON: dict, list, str, "
            "number, bool or None); assign the result to `output` (JSON-serialisable). "
            "print() goes to `logs`."
        ),
    )
    mode: Literal["wasi", "process"] = Field(
        "wasi",
        description=(
            "wasi (default): CPython in WebAssembly, no network, no files, standard library "
            "only. process: the host's Python under bubblewrap, no network, read-only "
            "filesystem, with the packages installed beside FlowForge."
        ),
    )
    timeout_s: float = Field(
        10.0, gt=0, le=MAX_TIMEOUT_S, description="Wall-clock limit of one run, in seconds"
    )
    memory_mb: int = Field(
        256, ge=64, le=4096, description="Memory limit of one run, in MiB (4096 at most)"
    )


class CodeOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    output: Any = Field(None, description="The value the code assigned to `output`")
    logs: str = Field("", description="What the code printed (stdout and stderr), bounded")
    logs_truncated: bool = Field(False, description="Whether `logs` was cut at its limit")
    mode: Literal["wasi", "process"] = Field(description="The sandbox the code ran in")
    duration_ms: float = Field(ge=0, description="Wall-clock time of the run")


@connector.action("python", input=PythonParams, output=CodeOutput)
def python(params: PythonParams, ctx: Context) -> CodeOutput:
    """Run Python code on the input in a sandbox; the code assigns its result to `output`.

    The code sees the node's input as `input` and sets its result by assigning `output`
    (left unset, the output is null). Anything it prints is returned as `logs`. An exception,
    a timeout or the memory limit fails the node with the error's type and message.
    """
    try:
        payload = json.dumps(
            {"code": params.code, "input": ctx.input, "max_log": MAX_LOG_CHARS},
            allow_nan=False,
        ).encode()
    except (TypeError, ValueError) as exc:
        raise ActionError(
            f"input: the node's input is not JSON ({exc})", retryable=False, type="InputNotJSON"
        ) from None
    if len(payload) > MAX_INPUT_BYTES:
        raise ActionError(
            f"input: {len(payload):,} bytes of JSON with the code; the limit is "
            f"{MAX_INPUT_BYTES:,}",
            retryable=False,
            type="TooLarge",
        )
    limits = Limits(timeout_s=params.timeout_s, memory_mb=params.memory_mb)
    started = time.perf_counter()
    if params.mode == "wasi":
        from flowforge.connectors._code_wasi import run_wasi

        raw = run_wasi(payload, limits)
    else:
        from flowforge.connectors._code_process import run_process

        raw = run_process(payload, limits, ctx.cancel_event)
    duration_ms = (time.perf_counter() - started) * 1000
    return _decode(raw, params, duration_ms)


def _decode(raw: RawRun, params: PythonParams, duration_ms: float) -> CodeOutput:
    """The node's output from what the sandbox gave back, or the ActionError it stands for."""
    if raw.cancelled:
        raise Cancelled()
    if raw.timed_out:
        raise ActionError(
            f"timeout_s: the code ran longer than {params.timeout_s:g} s and was stopped",
            retryable=False,
            type="Timeout",
        )
    if raw.result_truncated:
        raise ActionError(
            f"output: the result is larger than {MAX_RESULT_BYTES:,} bytes of JSON",
            retryable=False,
            type="TooLarge",
        )
    try:
        doc = json.loads(raw.result)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or "ok" not in doc:
        tail = raw.extra_logs[-1000:].strip()
        if "MemoryError" in tail or "Cannot allocate memory" in tail:
            raise ActionError(
                f"memory_mb: the code ran out of its {params.memory_mb} MiB",
                retryable=False,
                type="MemoryLimit",
            )
        detail = f": {tail}" if tail else ""
        raise ActionError(
            f"code: the sandbox ended without a result ({raw.exit_detail}){detail}",
            retryable=False,
            type="SandboxError",
        )
    logs = str(doc.get("logs", "")) + raw.extra_logs
    truncated = bool(doc.get("logs_truncated")) or len(logs) > MAX_LOG_CHARS
    logs = logs[:MAX_LOG_CHARS]
    if not doc["ok"]:
        kind = str(doc.get("type", "Exception"))
        message = str(doc.get("message", ""))
        trace = str(doc.get("traceback", ""))
        if kind == "MemoryError":
            raise ActionError(
                f"memory_mb: the code ran out of its {params.memory_mb} MiB (MemoryError)",
                retryable=False,
                type="MemoryLimit",
            )
        if kind == "OutputNotJSON":
            raise ActionError(
                f"output: the value assigned to `output` is not JSON ({message})",
                retryable=False,
                type="OutputNotJSON",
            )
        where = f"\n{trace.rstrip()}" if trace else ""
        raise ActionError(f"code: {kind}: {message}{where}", retryable=False, type="CodeError")
    return CodeOutput(
        output=doc.get("output"),
        logs=logs,
        logs_truncated=truncated,
        mode=params.mode,
        duration_ms=round(duration_ms, 3),
    )
