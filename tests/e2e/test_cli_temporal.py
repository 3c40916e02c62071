"""``flowforge temporal-dev`` as a user runs it: it serves until Ctrl-C (or SIGTERM), then stops
its server and frees the port."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from temporalio.client import Client

from conftest import free_port

FLOWFORGE = Path(sys.executable).with_name("flowforge")


def _answers(address: str) -> bool:
    async def connect() -> None:
        await asyncio.wait_for(Client.connect(address), 5)

    try:
        asyncio.run(connect())
    except (RuntimeError, TimeoutError):
        return False
    return True


def _wait_until_serving(address: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until the server answers a client and the command has said so (it checks readiness on
    its own and may be a little behind us)."""
    deadline = time.monotonic() + 60
    while not ("Ctrl-C stops it" in log.read_text() and _answers(address)):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"temporal-dev did not start: {log.read_text()}")
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("stop_with", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_temporal_dev_serves_until_interrupted(stop_with: signal.Signals, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "temporal-dev.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(FLOWFORGE), "temporal-dev", "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "300"},
        )
    try:
        _wait_until_serving(f"127.0.0.1:{port}", process, log)
        # the signal reaches the command only, as `kill` would: it must stop its server itself
        process.send_signal(stop_with)
        code = process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    printed = log.read_text()
    assert code == 0, printed
    assert f"FLOWFORGE_BACKEND=temporal FLOWFORGE_TEMPORAL_ADDRESS=127.0.0.1:{port}" in printed
    assert "stopping the Temporal dev server" in printed
    with socket.create_server(("127.0.0.1", port)):
        pass  # the port is free: the server went with the command


def test_temporal_dev_on_a_taken_port_fails_with_the_servers_output() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = int(listener.getsockname()[1])
        done = subprocess.run(
            [str(FLOWFORGE), "temporal-dev", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "300"},
        )
    assert done.returncode == 1, done.stderr
    assert "address already in use" in done.stderr
