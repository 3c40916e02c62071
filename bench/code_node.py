"""Latency of the code node (code.python) in both sandboxes: first run and warm runs.

For WASI, the first run in a process either compiles python.wasm (empty cache) or reads the
compiled module from the data folder's cache; later runs reuse it from memory. Process mode has
no warm-up to speak of: every run starts bubblewrap and a fresh interpreter. Prints p50/p99 of
the handler call, and p50 of one code node run through the local engine on a MemoryStore.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from flowforge.connectors import Context, Registry
from flowforge.connectors import _code_wasi as wasi_module
from flowforge.connectors import flow as flow_connector
from flowforge.connectors.code import connector
from flowforge.engine.local import LocalEngine
from flowforge.model import Workflow
from flowforge.store import MemoryStore

CODE = "output = {'total': sum(row['amount'] for row in input['rows'])}"
INPUT = {"rows": [{"amount": i} for i in range(100)]}


def call(mode: str) -> float:
    spec = connector.actions["python"]
    params = spec.input_model.model_validate({"code": CODE, "mode": mode})
    ctx = Context(
        execution_id="bench",
        workflow_name="bench",
        node_id="code",
        node_type="code.python",
        attempt=1,
        started_at=datetime.now(UTC),
        input=INPUT,
        inputs={},
        trigger=None,
    )
    started = time.perf_counter()
    result: Any = spec.handler(params, ctx)
    elapsed = time.perf_counter() - started
    assert result.output == {"total": 4950}
    return elapsed


def percentiles(samples: list[float]) -> str:
    values = sorted(s * 1000 for s in samples)
    p99 = values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]
    return f"p50 {statistics.median(values):.1f} ms, p99 {p99:.1f} ms over {len(values)} runs"


def forget_module() -> None:
    """Drop the in-memory compiled module, as a new process would start."""
    wasi_module._stop_ticker()
    wasi_module._stop.clear()
    wasi_module._engine = None
    wasi_module._module = None


async def engine_latency(mode: str, repeat: int) -> list[float]:
    workflow = Workflow.model_validate(
        {
            "name": "code-bench",
            "nodes": [
                {"id": "start", "type": "flow.start"},
                {"id": "code", "type": "code.python", "params": {"code": CODE, "mode": mode}},
            ],
            "edges": [{"source": "start", "target": "code"}],
        }
    )
    samples = []
    registry = Registry([flow_connector.connector, connector])
    async with LocalEngine(MemoryStore(), registry) as engine:
        await engine.run(workflow, INPUT)
        for _ in range(repeat):
            started = time.perf_counter()
            result = await engine.run(workflow, INPUT)
            samples.append(time.perf_counter() - started)
            assert result.ok, result.error
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=100, help="warm runs per mode")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="flowforge-bench-code-")
    os.environ["FLOWFORGE_HOME"] = home
    try:
        print(f"code.python, {len(INPUT['rows'])} input rows, {args.repeat} warm runs per mode")
        cold = call("wasi")
        forget_module()
        cached = call("wasi")
        warm = [call("wasi") for _ in range(args.repeat)]
        print(f"  wasi    first run, empty cache (compile): {cold * 1000:.0f} ms")
        print(f"  wasi    first run, compiled module cached on disk: {cached * 1000:.0f} ms")
        print(f"  wasi    warm: {percentiles(warm)}")
        print(
            f"  wasi    through LocalEngine: {percentiles(asyncio.run(engine_latency('wasi', 20)))}"
        )
        if shutil.which("bwrap") is None:
            print("  process skipped: bubblewrap is not installed")
            return
        first = call("process")
        warm = [call("process") for _ in range(args.repeat)]
        print(f"  process first run: {first * 1000:.0f} ms")
        print(f"  process warm: {percentiles(warm)}")
        samples = asyncio.run(engine_latency("process", 20))
        print(f"  process through LocalEngine: {percentiles(samples)}")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
