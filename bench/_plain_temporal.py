"""The chain of temporal_chain.py written straight against the Temporal SDK: the baseline that
FlowForge's Temporal backend is measured against.

A module of its own, importing nothing but temporalio, so that the workflow sandbox can import
it again for every run as it does any user's workflow module.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

WORKFLOW_NAME = "bench.plain-chain"


def fibo(n: int) -> int:
    return n if n < 2 else fibo(n - 1) + fibo(n - 2)


# Sync, so that it runs in the worker's thread pool as FlowForge's bench.fibo step does.
@activity.defn(name="bench.fibo")
def fibo_activity(n: int) -> int:
    """Naive recursive fibo(n)."""
    return fibo(n)


@workflow.defn(name=WORKFLOW_NAME)
class PlainChain:
    @workflow.run
    async def run(self, nodes: int) -> int:
        result = 0
        for _ in range(nodes):
            result = await workflow.execute_activity(
                "bench.fibo",
                10,
                result_type=int,
                start_to_close_timeout=timedelta(minutes=10),
                retry_policy=RetryPolicy(maximum_attempts=6),
            )
        return result
