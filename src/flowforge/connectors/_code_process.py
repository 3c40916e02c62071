"""The opt-in sandbox of the code node: the host's Python in a separate process under bubblewrap.

The process gets new pid, network, ipc and uts namespaces (no network at all), an empty
environment, a read-only root holding only ``/usr`` and the Python installation and virtualenv
it runs from, a 16 MiB ``/tmp``, and rlimits on CPU time, address space, processes, file size
and open files. When FlowForge runs as root, the runner drops to ``nobody`` before the user's
code starts (root ignores RLIMIT_NPROC). A wall-clock timeout kills the whole process group, and
bubblewrap's pid namespace takes every descendant with it.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from flowforge.connectors.code import MAX_LOG_CHARS, MAX_RESULT_BYTES, RUNNER, Limits, RawRun
from flowforge.connectors.sdk import ActionError

__all__ = ["bwrap_command", "run_process"]

NOBODY = 65534
_EMPTY_ENV: dict[str, str] = {}
MAX_PROCESSES = 16
MAX_OPEN_FILES = 64
MAX_FILE_BYTES = 16 * 1024 * 1024
TMP_BYTES = 16 * 1024 * 1024
CANCEL_POLL_S = 0.1

_PRELUDE = f"""
import os, sys
if os.getuid() == 0:
    os.setgroups([])
    os.setgid({NOBODY})
    os.setuid({NOBODY})
_pid = os.getpid()
_out = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
class _Result:
    # A process the code forked must not add a second result to the parent's.
    def write(self, text):
        if os.getpid() != _pid:
            os._exit(0)
        _out.write(text)
    def flush(self):
        _out.flush()
_result = _Result()
"""


def _python_roots() -> list[str]:
    """The folders the interpreter and its packages live in, outermost first, without repeats."""
    roots: list[str] = []
    for candidate in (sys.base_prefix, sys.prefix):
        path = os.path.realpath(candidate)
        if path not in roots and os.path.isdir(path):
            roots.append(path)
    return roots


def bwrap_command(bwrap: str) -> list[str]:
    """The bubblewrap command line that runs the runner with the host's Python."""
    command = [
        bwrap,
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    if os.geteuid() == 0:
        # Privileged bubblewrap keeps no capability by default; the runner needs these two to
        # become nobody, and loses them (and every other) with that change of user.
        command += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        command += ["--unshare-user"]
    for name in ("lib", "lib64", "lib32", "bin", "sbin"):
        host = Path("/") / name
        if host.is_symlink():
            command += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            command += ["--ro-bind", str(host), str(host)]
    command += [
        "--dev-bind",
        "/dev/null",
        "/dev/null",
        "--ro-bind",
        "/dev/urandom",
        "/dev/urandom",
        "--proc",
        "/proc",
        "--size",
        str(TMP_BYTES),
        "--perms",
        "1777",
        "--tmpfs",
        "/tmp",
    ]
    # After /tmp: a Python installed under /tmp (a checkout there) must not be hidden by it.
    for root in _python_roots():
        if not root.startswith("/usr/"):
            # Parents made by hand so they are traversable: the host's may be private (/root).
            for parent in reversed(Path(root).parents[:-1]):
                command += ["--perms", "0755", "--dir", str(parent)]
            command += ["--ro-bind", root, root]
    command += ["--remount-ro", "/", "--chdir", "/tmp"]
    # -I: no environment variables, no user site, no current folder on sys.path.
    # A virtualenv's interpreter is run by its own path (a symlink), so it finds pyvenv.cfg.
    interpreter = (
        os.path.realpath(sys.executable)
        if sys.prefix == sys.base_prefix
        else os.path.abspath(sys.executable)
    )
    return [*command, interpreter, "-I", "-c", _PRELUDE + RUNNER]


def _tasks_of(uid: int) -> int:
    """How many tasks the user runs now (RLIMIT_NPROC counts them all)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                continue
    return count


def _limiter(limits: Limits, nproc: int) -> Callable[[], None]:
    cpu = math.ceil(limits.timeout_s) + 1
    memory = limits.memory_mb * 1024 * 1024

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
        resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def run_process(payload: bytes, limits: Limits, cancel: threading.Event | None = None) -> RawRun:
    """Run the runner on ``payload`` in a bubblewrap sandbox; ``cancel`` set stops it."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise ActionError(
            "mode: process mode needs bubblewrap (apt-get install bubblewrap)",
            retryable=False,
            type="SandboxUnavailable",
        )
    # Root's tasks are not counted (the runner becomes nobody); another user's are.
    nproc = MAX_PROCESSES if os.geteuid() == 0 else _tasks_of(os.getuid()) + MAX_PROCESSES
    proc = subprocess.Popen(
        bwrap_command(bwrap),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_EMPTY_ENV,
        close_fds=True,
        start_new_session=True,
        preexec_fn=_limiter(limits, nproc),
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + limits.timeout_s
    # bubblewrap's own start-up is not the user's time: allow it a moment beyond the budget.
    hard_deadline = deadline + 0.5
    in_fd, out_fd, err_fd = proc.stdin.fileno(), proc.stdout.fileno(), proc.stderr.fileno()
    buffers = {out_fd: bytearray(), err_fd: bytearray()}
    caps = {out_fd: MAX_RESULT_BYTES, err_fd: MAX_LOG_CHARS * 4}
    overflow = {out_fd: False, err_fd: False}
    timed_out = cancelled = False
    pending = memoryview(payload)
    with selectors.DefaultSelector() as selector:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            os.set_blocking(stream.fileno(), False)
        selector.register(in_fd, selectors.EVENT_WRITE)
        selector.register(out_fd, selectors.EVENT_READ)
        selector.register(err_fd, selectors.EVENT_READ)
        open_readers = 2
        while open_readers:
            remaining = hard_deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            for key, _ in selector.select(timeout=min(remaining, CANCEL_POLL_S)):
                fd = int(key.fd)
                if fd == in_fd:
                    try:
                        written = os.write(fd, pending[:65536])
                    except BrokenPipeError:
                        written = len(pending)
                    pending = pending[written:]
                    if not pending:
                        selector.unregister(fd)
                        proc.stdin.close()
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    selector.unregister(fd)
                    open_readers -= 1
                    continue
                room = caps[fd] - len(buffers[fd])
                if len(chunk) > room:
                    overflow[fd] = True
                buffers[fd] += chunk[: max(room, 0)]
    if not proc.stdin.closed:
        proc.stdin.close()
    if timed_out or cancelled:
        _kill(proc)
    try:
        status = proc.wait(timeout=max(0.1, hard_deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(proc)
        status = proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    if status == -signal.SIGKILL or status == 128 + signal.SIGKILL:
        # RLIMIT_CPU's hard limit ends in SIGKILL; its soft limit (SIGXCPU) is below.
        timed_out = timed_out or time.monotonic() >= deadline
    if status in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        timed_out = True
    logs = bytes(buffers[err_fd]).decode("utf-8", "replace")
    if not buffers[out_fd] and logs.startswith("bwrap:"):
        # bubblewrap itself failed: no user namespaces here, or a path it could not bind.
        raise ActionError(
            f"mode: the process sandbox cannot start here: {logs.strip()[:500]}",
            retryable=False,
            type="SandboxUnavailable",
        )
    if overflow[err_fd]:
        logs += "\n[further output cut]"
    return RawRun(
        result=bytes(buffers[out_fd]),
        extra_logs=logs,
        timed_out=timed_out,
        result_truncated=overflow[out_fd],
        exit_detail=f"exit status {status}",
        cancelled=cancelled,
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
