"""A real ``flowforge serve`` in a subprocess, for tests that talk to it over HTTP. Every
server it starts stores ``ADMIN_KEY`` (FLOWFORGE_ADMIN_API_KEY) as an owner key, and the
``server_url`` fixture hands it to the CLI as FLOWFORGE_API_KEY."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from flowforge.security.apikeys import generate_api_key

ADMIN_KEY = generate_api_key()
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(
    database_url: str,
    home: Path,
    *extra: str,
    admin_key: str | None = ADMIN_KEY,
    port: int | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """``flowforge serve`` on a free port (or ``port``) with data in ``home``; yields its URL
    once it answers /health, and stops it with SIGINT (a graceful shutdown) on leaving. The
    server gets no FLOWFORGE_* setting of the test's environment but FLOWFORGE_HOME,
    FLOWFORGE_ADMIN_API_KEY (``admin_key``, None for none: the first start then prints the
    setup token) and ``env``. Each start appends its stderr to ``home/server.log``."""
    port = port or free_port()
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "server.log"
    settings = {k: v for k, v in os.environ.items() if not k.startswith("FLOWFORGE_")}
    settings.update(FLOWFORGE_HOME=str(home), FLOWFORGE_LOG_LEVEL="WARNING", COLUMNS="300")
    if admin_key is not None:
        settings["FLOWFORGE_ADMIN_API_KEY"] = admin_key
    settings.update(env or {})
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flowforge",
                "serve",
                "--port",
                str(port),
                "--db",
                database_url,
                *extra,
            ],
            env=settings,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise RuntimeError(f"the server did not start: {log_path.read_text()}")
            time.sleep(0.1)
        try:
            yield url
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    if process.returncode not in (0, 130):  # 130: uvicorn passes the SIGINT on once stopped
        raise AssertionError(f"the server exited with {process.returncode}: {log_path.read_text()}")


@pytest.fixture
def server_url(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The URL of a server on the test's database, with its own FLOWFORGE_HOME; CLI
    commands the test starts sign in to it with ``ADMIN_KEY``."""
    monkeypatch.setenv("FLOWFORGE_API_KEY", ADMIN_KEY)
    with serve(database_url, tmp_path / "server-home") as url:
        yield url
