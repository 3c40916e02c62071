"""Group commit of frames from the event loop to a synchronous store, in order.

Every store call goes through one thread, so writes reach the database in the order the loop
issued them: a node's ``started`` frame can never be durable while its predecessor's
``completed`` frame is not. Frames appended while a commit is in flight are batched into the
next one, which keeps a 40-node chain at a few commits instead of eighty. New executions join
the same commits, so many runs starting at once cost one transaction, not one each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flowforge.engine.frames import ExecutionFrame, ExecutionRecord, ExecutionUpdate
from flowforge.store import ExecutionStore

__all__ = ["Journal"]

T = TypeVar("T")


@dataclass(slots=True)
class _Batch:
    token: int
    frames: list[ExecutionFrame] = field(default_factory=list)
    update: ExecutionUpdate = field(default_factory=lambda: ExecutionUpdate())


@dataclass(slots=True)
class _Create:
    record: ExecutionRecord
    frames: list[ExecutionFrame]
    done: asyncio.Future[None]


class Journal:
    """Ordered, batched writes of frames and execution updates; one per engine."""

    def __init__(self, store: ExecutionStore, on_failure: Callable[[str, Exception], None]) -> None:
        self.store = store
        self._on_failure = on_failure
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flowforge-store")
        self._pending: dict[str, _Batch] = {}
        self._creates: list[_Create] = []
        self._flushing: asyncio.Future[list[Exception | None]] | None = None
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

    async def create(self, record: ExecutionRecord, frames: Sequence[ExecutionFrame] = ()) -> None:
        """Insert a new execution with its first frames in the next commit (with other runs'
        frames and creations) and return once it is durable; its error (Duplicate, say) if
        it could not be written."""
        done = asyncio.get_running_loop().create_future()
        self._creates.append(_Create(record, list(frames), done))
        self._kick()
        await done

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
        if self._flushing is not None or not (self._pending or self._creates):
            return
        loop = asyncio.get_running_loop()
        batches, self._pending = self._pending, {}
        creates, self._creates = self._creates, []
        waiters, self._waiters = self._waiters, []
        self._flushing = loop.run_in_executor(self._executor, self._write, creates, batches)
        self._flushing.add_done_callback(lambda fut: self._done(fut, creates, batches, waiters))

    def _write(self, creates: list[_Create], batches: dict[str, _Batch]) -> list[Exception | None]:
        return self.store.write_batch(
            [(c.record, c.frames) for c in creates],
            [
                (key.split("\0", 1)[0], b.token, b.frames, b.update or None)
                for key, b in batches.items()
            ],
        )

    def _done(
        self,
        fut: asyncio.Future[list[Exception | None]],
        creates: list[_Create],
        batches: dict[str, _Batch],
        waiters: list[asyncio.Future[None]],
    ) -> None:
        self._flushing = None
        try:
            results = fut.result()
        except Exception as exc:  # the store thread itself failed: every item did
            results = [exc] * (len(creates) + len(batches))
        for create, result in zip(creates, results, strict=False):
            if create.done.done():
                continue
            if result is None:
                create.done.set_result(None)
            else:
                create.done.set_exception(result)
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        for key, result in zip(batches, results[len(creates) :], strict=False):
            if result is not None:
                self._on_failure(key.split("\0", 1)[0], result)
        if self._pending or self._creates:
            self._kick()
        else:  # waiters that came during the commit: everything before them is now written
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def close(self) -> None:
        """Stop the store thread (pending writes are finished first)."""
        self._executor.shutdown(wait=True)
