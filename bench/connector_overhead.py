"""What the connector faces add to an action: called as a service (in the engine, and over HTTP
on loopback through uvicorn) and run as a workflow node, against calling it directly.

The action is small on purpose (validate a short text, give its length), so that the figures
are the overhead. Goal: under 1 ms added per call.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from _common import REGISTRY, EchoParams, arguments, echo_action, free_port

from flowforge.api import create_app
from flowforge.config import Settings
from flowforge.connectors import Context
from flowforge.engine.local import LocalEngine
from flowforge.model import Workflow
from flowforge.server import Server
from flowforge.store import open_store

CALLS = 2000
NODES = 50


def per_call(fn: Callable[[], Any], calls: int = CALLS) -> float:
    """Median over 5 rounds of the mean time of one call, in ms."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        rounds.append((time.perf_counter() - start) / calls * 1000)
    return statistics.median(rounds)


async def per_call_async(fn: Callable[[], Any], calls: int = CALLS) -> float:
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            await fn()
        rounds.append((time.perf_counter() - start) / calls * 1000)
    return statistics.median(rounds)


def chain(nodes: int) -> Workflow:
    return Workflow.model_validate(
        {
            "name": f"echo-{nodes}",
            "nodes": [
                {"id": "start", "type": "flow.start"},
                *(
                    {"id": f"e{i}", "type": "bench.echo", "params": {"text": "hello"}}
                    for i in range(nodes)
                ),
            ],
            "edges": [
                {"source": a, "target": b}
                for a, b in zip(
                    ["start", *(f"e{i}" for i in range(nodes))],
                    [f"e{i}" for i in range(nodes)],
                    strict=False,
                )
            ],
        }
    )


async def engine_figures(home: Path) -> tuple[float, float]:
    store = open_store(None, home)
    try:
        async with LocalEngine(store, REGISTRY) as engine:
            action = REGISTRY.get("bench.echo")
            assert action is not None
            params = EchoParams(text="hello")
            service = await per_call_async(
                lambda: engine.steps.call_action(action, params, key="bench"), 500
            )
            timings = {}
            for nodes in (0, NODES):
                workflow = chain(nodes)
                await engine.wait(await engine.submit(workflow, {}))  # warm
                samples = []
                for _ in range(7):
                    start = time.perf_counter()
                    await engine.wait(await engine.submit(workflow, {}))
                    samples.append(time.perf_counter() - start)
                timings[nodes] = statistics.median(samples)
            node = (timings[NODES] - timings[0]) / NODES * 1000
            return service, node
    finally:
        store.close()


def http_figures(home: Path) -> tuple[float, float]:
    settings = Settings(home=home, load_examples=False, log_level="WARNING")
    app = create_app(settings, server=Server(settings, registry=REGISTRY))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 30
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.05)
            body = {"text": "hello"}

            def call() -> None:
                response = client.post("/api/v1/bench/echo", json=body)
                assert response.status_code == 200, response.text

            def missing() -> None:  # a request the router answers at once: the HTTP floor
                client.post("/api/v1/bench/none", json=body)

            return per_call(call, 500), per_call(missing, 500)
    finally:
        server.should_exit = True
        thread.join(10)


def main() -> None:
    arguments(__doc__ or "")
    ctx = Context("x", "w", "n", "bench.echo", 1, datetime.now(UTC), None, {}, None)
    direct = per_call(lambda: echo_action(EchoParams.model_validate({"text": "hello"}), ctx))
    with tempfile.TemporaryDirectory(prefix="flowforge-bench-") as home:
        service, node = asyncio.run(engine_figures(Path(home)))
        http, floor = http_figures(Path(home))
    print("bench.echo: validate {'text': 'hello'} and give its length")
    print(f"  called directly (validation included)      {direct * 1000:8.1f} µs")
    print(
        f"  Steps.call_action (the service, no HTTP)  {service * 1000:8.1f} µs"
        f"   +{(service - direct) * 1000:.1f} µs"
    )
    print(
        f"  as a workflow node (journaled, per node)   {node * 1000:8.1f} µs"
        f"   +{(node - direct) * 1000:.1f} µs   ({NODES}-node chain minus an empty run)"
    )
    print(
        f"  POST /api/v1/bench/echo over loopback       {http * 1000:8.1f} µs"
        f"   +{(http - direct) * 1000:.1f} µs"
    )
    print(
        f"    of which HTTP itself (a 404 round trip)   {floor * 1000:8.1f} µs"
        f"   so the endpoint adds {(http - floor) * 1000:.1f} µs over the bare round trip"
    )
    print("  goal: under 1,000 µs added per call")


if __name__ == "__main__":
    main()
