"""Prometheus metrics of one server: HTTP requests, runs, steps, and runs in progress."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from flowforge.engine.frames import ExecutionRecord, ExecutionStatus, FrameStatus
from flowforge.engine.local import EngineMetrics, ExecutionResult

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics(EngineMetrics):
    """The server's metrics, in a registry of its own (several servers may share a process).

    Under ``flowforge serve --workers N`` (``PROMETHEUS_MULTIPROC_DIR`` set) every worker
    writes its counts to files there, and any worker's ``/metrics`` sums all of them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._runs: _RunsInProgress | None = None
        self.http_requests = Counter(
            "flowforge_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "flowforge_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.executions_started = Counter(
            "flowforge_executions_started",
            "Runs started",
            registry=self.registry,
        )
        self.executions_finished = {
            status: Counter(
                f"flowforge_executions_{status.value.lower()}",
                f"Runs that ended {status.value}",
                registry=self.registry,
            )
            for status in (
                ExecutionStatus.COMPLETED,
                ExecutionStatus.FAILED,
                ExecutionStatus.CANCELLED,
            )
        }
        self.node_duration = Histogram(
            "flowforge_node_duration_seconds",
            "Time of one attempt of a step, by node type and how it ended",
            ["type", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def watch_runs(self, count: Callable[[], dict[ExecutionStatus, int]]) -> None:
        """Report running and waiting runs, counted from the database at each scrape."""
        self._runs = _RunsInProgress(count)
        self.registry.register(self._runs)

    def started(self, record: ExecutionRecord) -> None:
        self.executions_started.inc()

    def finished(self, record: ExecutionRecord, outcome: ExecutionResult) -> None:
        counter = self.executions_finished.get(outcome.status)
        if counter is not None:
            counter.inc()

    def step(self, node_type: str, status: FrameStatus, duration_ms: float) -> None:
        self.node_duration.labels(node_type, status.value).observe(duration_ms / 1000)

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_latency.labels(method, route).observe(seconds)

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format."""
        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not folder:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        if self._runs is not None:
            registry.register(self._runs)
        return generate_latest(registry)


class _RunsInProgress(Collector):
    def __init__(self, count: Callable[[], dict[ExecutionStatus, int]]) -> None:
        self.count = count

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = self.count()
        for status in (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.WAITING):
            yield GaugeMetricFamily(
                f"flowforge_executions_{status.value.lower()}",
                f"Runs {status.value} now (all processes sharing the database)",
                value=counts.get(status, 0),
            )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())
