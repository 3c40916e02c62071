"""Shared set-up for the benchmarks: a fresh store, a registry with a benchmark connector."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, Field

from flowforge.connectors import Connector, Context, Registry
from flowforge.connectors import flow as flow_connector
from flowforge.store import ExecutionStore, open_store

bench = Connector("bench", name="Benchmark")


def fibo(n: int) -> int:
    return n if n < 2 else fibo(n - 1) + fibo(n - 2)


class FiboParams(BaseModel):
    n: int = 10


@bench.action("fibo", input=FiboParams)
def fibo_action(params: FiboParams, ctx: Context) -> Any:
    """Naive recursive fibo(n), the orchestration benchmarks' standard unit of work."""
    return fibo(params.n)


class EchoParams(BaseModel):
    text: str = Field(max_length=1000)


@bench.action("echo", input=EchoParams)
def echo_action(params: EchoParams, ctx: Context) -> Any:
    """A small action for measuring overhead: the text's length."""
    return {"length": len(params.text)}


REGISTRY = Registry([flow_connector.connector, bench])


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--repeat", type=int, default=5, help="measured repetitions")
    return parser.parse_args()


@contextmanager
def fresh_store(url: str | None) -> Iterator[ExecutionStore]:
    with tempfile.TemporaryDirectory(prefix="flowforge-bench-") as home:
        store = open_store(url or f"sqlite:///{Path(home) / 'bench.db'}", Path(home))
        try:
            yield store
        finally:
            store.close()


def summary(samples: list[float], unit: str = "ms", scale: float = 1000.0) -> str:
    values = sorted(s * scale for s in samples)
    return (
        f"median {statistics.median(values):.1f} {unit}, best {values[0]:.1f} {unit}, "
        f"worst {values[-1]:.1f} {unit} over {len(values)} runs"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(home: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """A ``flowforge serve`` subprocess on a free port, data in ``home`` (plus ``env``); yields
    its base URL. Stopped with SIGINT (a graceful shutdown) on leaving."""
    port = free_port()
    flowforge = Path(sys.executable).with_name("flowforge")
    env = {
        **os.environ,
        "FLOWFORGE_HOME": str(home),
        "FLOWFORGE_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [str(flowforge), "serve", "--port", str(port), *extra],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited: {(home / 'server.log').read_text()}")
            try:
                if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /health within 60 s")
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
