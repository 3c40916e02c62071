"""The Temporal commands: ``flowforge worker``, which runs workflows for the temporal backend,
and ``flowforge temporal-dev``, a Temporal dev server for trying it on one machine."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from flowforge.errors import FlowForgeError

if TYPE_CHECKING:
    from flowforge.config import Settings
    from flowforge.engine.temporal._devserver import DevServer

__all__ = ["temporal_dev", "worker"]

EXIT_FAILED = 1

err = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[red]error[/red] {escape(message)}")
    raise typer.Exit(code)


def temporal_dev(
    port: Annotated[
        int,
        typer.Option(min=0, max=65535, help="Port of the Temporal frontend; 0 picks a free one"),
    ] = 7233,
    ip: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    namespace: Annotated[
        str, typer.Option(help="Namespace to create (the 'default' one always exists)")
    ] = "default",
    db_file: Annotated[
        Path | None,
        typer.Option(
            "--db-file",
            dir_okay=False,
            help="Keep the server's state in this SQLite file (default: in memory, lost on stop)",
        ),
    ] = None,
    ui: Annotated[
        bool, typer.Option("--ui", help="Serve the Temporal Web UI too, on PORT + 1000")
    ] = False,
) -> None:
    """Run a Temporal dev server for the temporal backend, until Ctrl-C: for trying FlowForge on
    Temporal on one machine, not for production."""
    # Imported here: temporalio takes a while to import, and every other command does without it.
    from flowforge.engine.temporal._devserver import DevServer

    server = DevServer(port, ip=ip, namespace=namespace, db_file=db_file, ui=ui)
    # SIGTERM (a service manager, `kill`) ends the server as Ctrl-C does, instead of killing this
    # process and leaving the server behind in its own session.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        try:
            server.start()
            _announce(server)
            while server.running:
                time.sleep(0.5)
            _fail(f"the Temporal dev server stopped by itself:\n{server.log_tail()}", EXIT_FAILED)
        except KeyboardInterrupt:
            err.print("stopping the Temporal dev server")
        except FlowForgeError as exc:
            _fail(str(exc), EXIT_FAILED)
    finally:
        with _signals_ignored():
            server.stop()
        signal.signal(signal.SIGTERM, previous)


def _announce(server: DevServer) -> None:
    where = f"state in {server.db_file}" if server.db_file else "in memory"
    err.print(
        f"Temporal dev server on [bold]{escape(server.address)}[/bold], namespace "
        f"{escape(server.namespace)}, {escape(where)}",
        highlight=False,
    )
    if server.ui_url:
        err.print(f"Web UI on {escape(server.ui_url)}", highlight=False)
    err.print(
        "Run FlowForge on it with these settings (and start workers with the same):\n"
        f"  FLOWFORGE_BACKEND=temporal FLOWFORGE_TEMPORAL_ADDRESS={escape(server.address)} "
        f"FLOWFORGE_TEMPORAL_NAMESPACE={escape(server.namespace)}\n"
        "Ctrl-C stops it.",
        highlight=False,
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _signals_ignored() -> Iterator[None]:
    """Let a stop run to its end: a second Ctrl-C must not abandon a server that the terminal's
    signals do not reach."""
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def worker(
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL (FLOWFORGE_DATABASE_URL; the same as the API's)"),
    ] = None,
    address: Annotated[
        str | None, typer.Option(help="Temporal frontend host:port (FLOWFORGE_TEMPORAL_ADDRESS)")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option(help="Temporal namespace (FLOWFORGE_TEMPORAL_NAMESPACE)")
    ] = None,
    task_queue: Annotated[
        str | None, typer.Option(help="Task queue to poll (FLOWFORGE_TEMPORAL_TASK_QUEUE)")
    ] = None,
    max_activities: Annotated[
        int | None,
        typer.Option(min=1, help="Steps run at once (FLOWFORGE_WORKER_MAX_ACTIVITIES)"),
    ] = None,
    max_workflow_tasks: Annotated[
        int | None,
        typer.Option(
            min=1, help="Workflow tasks run at once (FLOWFORGE_WORKER_MAX_WORKFLOW_TASKS)"
        ),
    ] = None,
) -> None:
    """Run a Temporal worker: it runs the steps of workflows started with FLOWFORGE_BACKEND=
    temporal and journals them to the database. Start as many as you like, on as many
    machines as you like, until Ctrl-C."""
    import asyncio

    from flowforge.config import Settings
    from flowforge.logs import configure_logging

    overrides: dict[str, Any] = {
        "database_url": db,
        "temporal_address": address,
        "temporal_namespace": namespace,
        "temporal_task_queue": task_queue,
        "worker_max_activities": max_activities,
        "worker_max_workflow_tasks": max_workflow_tasks,
    }
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    configure_logging(settings.log_level, json_lines=settings.log_format == "json")
    try:
        asyncio.run(_work(settings))
    except FlowForgeError as exc:
        _fail(str(exc), EXIT_FAILED)
    except RuntimeError as exc:  # the Temporal client could not connect
        _fail(f"cannot reach Temporal at {settings.temporal_address}: {exc}", EXIT_FAILED)
    err.print("worker stopped")


async def _work(settings: Settings) -> None:
    import asyncio

    from flowforge.connectors import builtin_registry
    from flowforge.credentials import Credentials
    from flowforge.engine.temporal import WorkerOptions, connect
    from flowforge.engine.temporal import worker as temporal_worker
    from flowforge.store import SqlStore, WorkflowCatalog

    settings.home.mkdir(parents=True, exist_ok=True)
    store = await asyncio.to_thread(SqlStore, settings.database())
    try:
        credentials = await asyncio.to_thread(Credentials, store, settings.home)
        client = await connect(settings)
        options = WorkerOptions.from_settings(settings)
        async with temporal_worker(
            client,
            store,
            builtin_registry(),
            credentials,
            options,
            catalog=WorkflowCatalog(store),
        ):
            err.print(
                f"worker polling task queue [bold]{escape(options.task_queue)}[/bold] of "
                f"{escape(settings.temporal_address)} (namespace "
                f"{escape(settings.temporal_namespace)}); Ctrl-C stops it"
            )
            # Signals by hand: once the Temporal worker runs, Ctrl-C no longer reaches
            # asyncio's own handler. Steps under way are cancelled; Temporal runs them again
            # on another worker.
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            err.print("stopping the worker")
    finally:
        await asyncio.to_thread(store.close)
