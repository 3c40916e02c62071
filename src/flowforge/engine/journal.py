"""Group commit of frames from the event loop to a synchronous store, in order.

Every store call goes through one thread, so writes reach the database in the order the loop
issued them: a node's ``started`` frame can never be durable while its predecessor's
``completed`` frame is not. Frames appended while a commit is in flight are batched into the
next one, which keeps a 40-node chain at a few commits instead of eighty.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flowforge.engine.frames import ExecutionFrame, ExecutionUpdate
from flowforge.store import ExecutionStore

__all__ = ["Journal"]

T = TypeVar("T")


@dataclass(slots=True)
class _Batch:
    token: int
    frames: list[ExecutionFrame] = field(default_factory=list)
    update: ExecutionUpdate = field(default_factory=lambda: ExecutionUpdate())


class Journal:
    """Ordered, batched writes of frames and execution updates; one per engine."""

    def __init__(self, store: ExecutionStore, on_failure: Callable[[str, Exception], None]) -> None:
        self.store = store
        self._on_failure = on_failure
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flowforge-store")
        self._pending: dict[str, _Batch] = {}
        self._flushing: asyncio.Future[list[tuple[str, Exception]]] | None = None
        self._waiters: list[asyncio.Future[None]] = []

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store call on the store thread, after every write issued before it."""
        await self.flush()
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def append(
        self,
        execution_id: str,
        token: int,
        frame: ExecutionFrame | None = None,
        update: ExecutionUpdate | None = None,
    ) -> None:
        """Queue a frame and/or an update; they are written by the next commit."""
        batch = self._pending.get(execution_id)
        if batch is None or batch.token != token:
            if batch is not None:  # a new token: keep the order by writing the old batch first
                self._pending.pop(execution_id)
                self._pending[f"{execution_id}\0{batch.token}"] = batch
            batch = self._pending[execution_id] = _Batch(token)
        if frame is not None:
            batch.frames.append(frame)
        if update:
            batch.update.update(update)
        self._kick()

    async def flush(self) -> None:
        """Wait until everything appended so far has been written (or handed to ``on_failure``:
        a failed batch means the run is no longer this process's to drive)."""
        if not self._pending and self._flushing is None:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._kick()
        await waiter

    def _kick(self) -> None:
        if self._flushing is not None or not self._pending:
            return
        loop = asyncio.get_running_loop()
        batches, self._pending = self._pending, {}
        waiters, self._waiters = self._waiters, []
        self._flushing = loop.run_in_executor(self._executor, self._write, batches)
        self._flushing.add_done_callback(lambda fut: self._done(fut, waiters))

    def _write(self, batches: dict[str, _Batch]) -> list[tuple[str, Exception]]:
        failed: list[tuple[str, Exception]] = []
        for key, batch in batches.items():
            execution_id = key.split("\0", 1)[0]
            try:
                self.store.append_frames(
                    execution_id, batch.token, batch.frames, batch.update or None
                )
            except Exception as exc:
                failed.append((execution_id, exc))
        return failed

    def _done(
        self, fut: asyncio.Future[list[tuple[str, Exception]]], waiters: list[asyncio.Future[None]]
    ) -> None:
        self._flushing = None
        failed = fut.result()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        for execution_id, exc in failed:
            self._on_failure(execution_id, exc)
        if self._pending:
            self._kick()
        else:  # waiters that came during the commit: everything before them is now written
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def close(self) -> None:
        """Stop the store thread (pending writes are finished first)."""
        self._executor.shutdown(wait=True)
