"""SHA-256 over a 100 MB blob: hashlib directly, the crypto.hash action called directly (blob read
from the store, hashed in chunks), and crypto.hash as a workflow node through LocalEngine.

Prints MB/s for each (1 MB = 10^6 bytes). The action should stay close to hashlib: the chunking
that lets a large hash report progress and stop on cancel must not cost throughput. The store is
a MemoryStore for the direct call and the store under test (SQLite by default, --db for another)
for the engine run, whose figure includes reading the blob back from that store.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from datetime import UTC, datetime

from _common import arguments, fresh_store, summary

from flowforge.connectors import Context, Registry
from flowforge.connectors import crypto as crypto_connector
from flowforge.connectors import flow as flow_connector
from flowforge.connectors.sdk import Blob
from flowforge.engine.local import LocalEngine
from flowforge.model import Workflow
from flowforge.store import MemoryStore

SIZE = 100 * 1000 * 1000
REGISTRY = Registry([flow_connector.connector, crypto_connector.connector])


def rate(samples: list[float]) -> list[float]:
    """Seconds per run as MB/s per run, so that ``summary`` prints throughput."""
    return [SIZE / s / 1e6 for s in samples]


def throughput(samples: list[float]) -> str:
    rates = sorted(rate(samples))
    return f"median {rates[len(rates) // 2]:.0f} MB/s, best {rates[-1]:.0f} MB/s"


def direct_hashlib(data: bytes, repeat: int) -> tuple[list[float], str]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        digest = hashlib.sha256(data).hexdigest()
        samples.append(time.perf_counter() - started)
    return samples, digest


def direct_action(data: bytes, repeat: int) -> tuple[list[float], str]:
    store = MemoryStore()
    blob = store.put_blob(data, "application/octet-stream", "bench.bin")
    action = crypto_connector.connector.actions["hash"]
    samples, digest = [], ""
    for _ in range(repeat):
        ctx = Context(
            execution_id="bench",
            workflow_name="bench",
            node_id="hash",
            node_type=action.type,
            attempt=1,
            started_at=datetime.now(UTC),
            input=None,
            inputs={},
            trigger=None,
            blobs=store,
        )
        started = time.perf_counter()
        params = action.input_model.model_validate({"blob": blob.model_dump()})
        result = action.handler(params, ctx)
        samples.append(time.perf_counter() - started)
        digest = result.hex
    return samples, digest


async def through_engine(data: bytes, url: str | None, repeat: int) -> tuple[list[float], str]:
    workflow = Workflow.model_validate(
        {
            "name": "sha256-bench",
            "nodes": [
                {"id": "start", "type": "flow.start"},
                {"id": "hash", "type": "crypto.hash", "params": {"blob": "{{ trigger.blob }}"}},
            ],
            "edges": [{"source": "start", "target": "hash"}],
            "output": "{{ nodes.hash.output.hex }}",
        }
    )
    samples, digest = [], ""
    with fresh_store(url) as store:
        blob: Blob = store.put_blob(data, "application/octet-stream", "bench.bin")
        trigger = {"blob": blob.model_dump()}
        async with LocalEngine(store, REGISTRY) as engine:
            await engine.run(workflow, trigger)  # warm-up: imports, the workflow version row
            for _ in range(repeat):
                started = time.perf_counter()
                result = await engine.run(workflow, trigger)
                samples.append(time.perf_counter() - started)
                assert result.ok, result.error
                digest = result.result
    return samples, digest


def main() -> None:
    args = arguments(__doc__ or "")
    data = os.urandom(SIZE)
    print(f"sha256 over {SIZE / 1e6:.0f} MB, {args.repeat} runs each")
    base, expected = direct_hashlib(data, args.repeat)
    print(f"  hashlib.sha256 directly:   {throughput(base)} ({summary(base)})")
    action, digest = direct_action(data, args.repeat)
    assert digest == expected
    print(f"  crypto.hash action:        {throughput(action)} ({summary(action)})")
    engine, digest = asyncio.run(through_engine(data, args.db, args.repeat))
    assert digest == expected
    print(f"  crypto.hash node (engine): {throughput(engine)} ({summary(engine)})")
    ratio = sorted(rate(action))[len(action) // 2] / sorted(rate(base))[len(base) // 2]
    print(f"  action / hashlib: {ratio:.2f}")


if __name__ == "__main__":
    main()
