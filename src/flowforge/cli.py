"""The ``flowforge`` command."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flowforge import __version__
from flowforge.config import Settings
from flowforge.connectors import Registry, builtin_registry
from flowforge.engine.frames import ExecutionFrame, ExecutionStatus, FrameStatus
from flowforge.engine.local import ExecutionResult, LocalEngine
from flowforge.engine.validate import check, validate
from flowforge.errors import DefinitionError, FlowForgeError, Problem
from flowforge.model import Workflow, load_workflow
from flowforge.store import ExecutionStore, NotFound, open_store

__all__ = ["app", "main"]

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130

app = typer.Typer(
    name="flowforge",
    help="FlowForge: durable workflow automation, local-first.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
executions_app = typer.Typer(help="Inspect executions in the journal.", no_args_is_help=True)
app.add_typer(executions_app, name="executions")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[
    str | None, typer.Option("--db", help="Database URL (default: SQLite in FLOWFORGE_HOME)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts")]

_STATUS_STYLE = {
    "COMPLETED": "green",
    "FAILED": "red",
    "CANCELLED": "yellow",
    "RUNNING": "cyan",
    "WAITING": "magenta",
    "PENDING": "white",
    "completed": "green",
    "failed": "red",
    "retrying": "yellow",
    "skipped": "dim",
    "cancelled": "yellow",
    "interrupted": "yellow",
    "waiting": "magenta",
    "started": "cyan",
}


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def _print_problems(problems: list[Problem], source: str, as_json: bool) -> None:
    if as_json:
        return
    for p in problems:
        style = "red" if p.severity == "error" else "yellow"
        node = f" [dim](node {escape(p.node)})[/dim]" if p.node else ""
        err.print(
            f"[{style}]{p.severity}[/{style}] {escape(source)}: {escape(p.path)}{node}: {escape(p.message)}"
        )


@contextmanager
def _store(db: str | None) -> Iterator[ExecutionStore]:
    settings = Settings()
    try:
        store = open_store(settings.database(db), settings.home)
    except Exception as exc:
        err.print(f"[red]error[/red] cannot open the database: {escape(str(exc))}")
        raise typer.Exit(EXIT_FAILED) from None
    try:
        yield store
    finally:
        store.close()


def _load(file: Path, as_json: bool, registry: Registry | None = None) -> Workflow:
    """The workflow in a file, checked against ``registry`` if given; exit 2 listing every
    problem if it cannot run."""
    try:
        workflow = load_workflow(file)
        if registry is not None:
            check(workflow, registry, str(file))
        return workflow
    except DefinitionError as exc:
        if as_json:
            problems = [_problem_json(p) for p in exc.problems]
            _print_json({"file": str(file), "valid": False, "problems": problems})
        _print_problems(exc.problems, str(file), as_json)
        raise typer.Exit(EXIT_INVALID) from None


def _problem_json(p: Problem) -> dict[str, Any]:
    return {"path": p.path, "node": p.node, "severity": p.severity, "message": p.message}


def _parse_input(input_json: str | None, input_file: Path | None) -> Any:
    if input_json is not None and input_file is not None:
        err.print("[red]error[/red] give --input or --input-file, not both")
        raise typer.Exit(EXIT_INVALID)
    try:
        if input_file is not None:
            return json.loads(input_file.read_text(encoding="utf-8"))
        return json.loads(input_json) if input_json is not None else None
    except (OSError, ValueError, RecursionError) as exc:
        where = "--input-file" if input_file is not None else "--input"
        err.print(f"[red]error[/red] {where}: not valid JSON: {escape(str(exc))}")
        raise typer.Exit(EXIT_INVALID) from None


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="Workflow file (.yaml, .yml or .json)")],
    input_json: Annotated[
        str | None, typer.Option("--input", help="The run's input, as JSON")
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", help="A JSON file with the input")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a workflow to its end, showing each node live; print its result."""
    registry = builtin_registry()
    workflow = _load(file, as_json, registry)
    payload = _parse_input(input_json, input_file)
    with _store(db) as store:
        try:
            outcome = asyncio.run(_run(store, registry, workflow, payload, file.resolve(), as_json))
        except FlowForgeError as exc:
            err.print(f"[red]error[/red] {escape(str(exc))}")
            raise typer.Exit(EXIT_FAILED) from None
        except KeyboardInterrupt:
            err.print("interrupted: the run stays in the journal; `flowforge resume` finishes it")
            raise typer.Exit(EXIT_INTERRUPTED) from None
    _report(outcome, as_json)
    raise typer.Exit(EXIT_OK if outcome.ok else EXIT_FAILED)


async def _run(
    store: ExecutionStore,
    registry: Registry,
    workflow: Workflow,
    payload: Any,
    file: Path,
    as_json: bool,
) -> ExecutionResult:
    settings = Settings()
    async with LocalEngine(store, registry, lease_ttl_s=settings.lease_ttl_s) as engine:
        with _live(engine, len(workflow.nodes), quiet=as_json):
            return await engine.run(workflow, payload, source_path=str(file))


@contextmanager
def _live(engine: LocalEngine, total: int, *, quiet: bool) -> Iterator[None]:
    """A live progress bar of nodes decided, naming the nodes that run now."""
    if quiet:
        yield
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[now]}"),
        console=err,
        transient=False,
    )
    task = progress.add_task("nodes", total=total, now="")
    running: dict[str, str] = {}
    top_level: list[str] = []

    def on_frame(frame: ExecutionFrame) -> None:
        if not top_level:
            top_level.append(frame.execution_id)
        if frame.execution_id != top_level[0]:
            return  # sub-workflow frames
        if frame.status == FrameStatus.STARTED:
            running[frame.node_id] = f"attempt {frame.attempt}" if frame.attempt > 1 else ""
        elif frame.status == FrameStatus.RETRYING:
            running[frame.node_id] = "retrying"
        elif frame.status == FrameStatus.WAITING:
            running[frame.node_id] = (
                f"waiting until {frame.wake_at:%H:%M:%S}" if frame.wake_at else "waiting"
            )
        elif frame.item is None and frame.status in (
            FrameStatus.COMPLETED,
            FrameStatus.FAILED,
            FrameStatus.SKIPPED,
        ):
            running.pop(frame.node_id, None)
            progress.advance(task)
            if frame.status == FrameStatus.FAILED:
                err.print(
                    f"[red]✗[/red] {escape(frame.node_id)}: {escape(str((frame.error or {}).get('message')))}"
                )
        elif frame.item is not None and frame.status == FrameStatus.COMPLETED:
            running[frame.node_id] = f"item {frame.item + 1} done"
        shown = [f"{n} {s}".strip() for n, s in list(running.items())[:4]]
        progress.update(task, now=escape(", ".join(shown)))

    engine.listeners.append(on_frame)
    with progress:
        yield
    engine.listeners.remove(on_frame)


def _report(outcome: ExecutionResult, as_json: bool) -> None:
    if as_json:
        _print_json(
            {
                "execution_id": outcome.execution_id,
                "status": outcome.status.value,
                "result": outcome.result,
                "error": outcome.error,
            }
        )
        return
    style = _STATUS_STYLE.get(outcome.status.value, "white")
    err.print(
        f"execution [bold]{outcome.execution_id}[/bold] [{style}]{outcome.status.value}[/{style}]"
    )
    if outcome.ok:
        _print_json(outcome.result)
    elif outcome.error:
        node = outcome.error.get("node")
        where = f" in node {node!r}" if node else ""
        err.print(f"[red]error{escape(where)}:[/red] {escape(str(outcome.error.get('message')))}")


@app.command("validate")
def validate_command(
    files: Annotated[list[Path], typer.Argument(help="Workflow files")],
    as_json: JsonOption = False,
) -> None:
    """Check workflow files; exit 2 if any has an error (warnings are printed, not fatal)."""
    registry = builtin_registry()
    reports = []
    failed = False
    for file in files:
        try:
            problems = validate(load_workflow(file), registry)
        except DefinitionError as exc:
            problems = exc.problems
        errors = [p for p in problems if p.severity == "error"]
        failed = failed or bool(errors)
        reports.append(
            {
                "file": str(file),
                "valid": not errors,
                "problems": [_problem_json(p) for p in problems],
            }
        )
        _print_problems(problems, str(file), as_json)
        if not as_json and not errors:
            out.print(f"[green]ok[/green] {escape(str(file))}")
    if as_json:
        _print_json(reports)
    raise typer.Exit(EXIT_INVALID if failed else EXIT_OK)


@app.command()
def schema() -> None:
    """Print the JSON Schema of workflow files."""
    _print_json(Workflow.model_json_schema())


@app.command()
def resume(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Take over runs whose owner process is gone and drive them to the end."""
    with _store(db) as store:
        outcomes = asyncio.run(_resume(store))
    if as_json:
        _print_json(
            [
                {
                    "execution_id": o.execution_id,
                    "status": o.status.value,
                    "result": o.result,
                    "error": o.error,
                }
                for o in outcomes
            ]
        )
    else:
        if not outcomes:
            err.print("nothing to resume")
        for o in outcomes:
            style = _STATUS_STYLE.get(o.status.value, "white")
            out.print(f"{o.execution_id} [{style}]{o.status.value}[/{style}]")
    raise typer.Exit(EXIT_OK if all(o.ok for o in outcomes) else EXIT_FAILED)


async def _resume(store: ExecutionStore) -> list[ExecutionResult]:
    settings = Settings()
    async with LocalEngine(store, builtin_registry(), lease_ttl_s=settings.lease_ttl_s) as engine:
        ids = await engine.resume_all()
        results = await asyncio.gather(*(engine.wait(i) for i in ids), return_exceptions=True)
    outcomes = []
    for execution_id, r in zip(ids, results, strict=True):
        if isinstance(r, BaseException):
            outcomes.append(
                ExecutionResult(execution_id, ExecutionStatus.RUNNING, error={"message": str(r)})
            )
        else:
            outcomes.append(r)
    return outcomes


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


@executions_app.command("list")
def executions_list(
    status: Annotated[ExecutionStatus | None, typer.Option(help="Only runs in this status")] = None,
    workflow: Annotated[str | None, typer.Option(help="Only runs of this workflow name")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many")] = 20,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List executions, newest first."""
    with _store(db) as store:
        records = store.list_executions(status=status, workflow_name=workflow, limit=limit)
    if as_json:
        _print_json([_record_json(r) for r in records])
        return
    table = Table("id", "workflow", "status", "started", "finished")
    for r in records:
        style = _STATUS_STYLE.get(r.status.value, "white")
        table.add_row(
            r.id,
            escape(r.workflow_name),
            f"[{style}]{r.status.value}[/{style}]",
            _when(r.started_at),
            _when(r.finished_at),
        )
    out.print(table)


def _record_json(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "workflow": r.workflow_name,
        "workflow_version_id": r.workflow_version_id,
        "status": r.status.value,
        "input": r.input,
        "result": r.result,
        "error": r.error,
        "created_at": r.created_at.isoformat(),
        "started_at": r.started_at.isoformat() if r.started_at else None,
        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
        "parent_id": r.parent_id,
    }


def _frame_json(f: ExecutionFrame) -> dict[str, Any]:
    return {
        "seq": f.seq,
        "node": f.node_id,
        "status": f.status.value,
        "attempt": f.attempt,
        "item": f.item,
        "port": f.port,
        "input": f.input,
        "output": f.output,
        "error": f.error,
        "wake_at": f.wake_at.isoformat() if f.wake_at else None,
        "started_at": f.started_at.isoformat(),
        "ended_at": f.ended_at.isoformat() if f.ended_at else None,
        "duration_ms": f.duration_ms,
    }


@executions_app.command("show")
def executions_show(
    execution_id: Annotated[str, typer.Argument(help="Execution id")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show an execution and its frames."""
    with _store(db) as store:
        try:
            record = store.get_execution(execution_id)
        except NotFound:
            err.print(f"[red]error[/red] no execution {escape(execution_id)}")
            raise typer.Exit(EXIT_FAILED) from None
        frames = store.get_frames(execution_id)
    if as_json:
        _print_json({**_record_json(record), "frames": [_frame_json(f) for f in frames]})
        return
    style = _STATUS_STYLE.get(record.status.value, "white")
    out.print(
        f"[bold]{record.id}[/bold] {escape(record.workflow_name)} [{style}]{record.status.value}[/{style}]"
    )
    table = Table("seq", "node", "status", "attempt", "item", "port", "duration", "output / error")
    for f in frames:
        fs = _STATUS_STYLE.get(f.status.value, "white")
        detail = f.error.get("message") if f.error else f.output
        text = json.dumps(detail, default=str, ensure_ascii=False) if detail is not None else ""
        table.add_row(
            str(f.seq),
            escape(f.node_id),
            f"[{fs}]{f.status.value}[/{fs}]",
            str(f.attempt or ""),
            "" if f.item is None else str(f.item),
            f.port or "",
            f"{f.duration_ms:.1f} ms" if f.duration_ms is not None else "",
            escape(text if len(text) <= 80 else text[:77] + "..."),
        )
    out.print(table)
    if record.error:
        out.print(f"[red]error:[/red] {escape(str(record.error.get('message')))}")
    elif record.status == ExecutionStatus.COMPLETED:
        out.print("result:")
        _print_json(record.result)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [default: 127.0.0.1]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [default: 8989]")] = None,
    db: DbOption = None,
    no_examples: Annotated[
        bool, typer.Option("--no-examples", help="Do not add the examples on first start")
    ] = False,
) -> None:
    """Run the server: API, webhooks, schedules and engine in one process."""
    import uvicorn

    from flowforge.api import create_app
    from flowforge.logs import configure_logging

    settings = Settings()
    if no_examples:
        settings.load_examples = False
    configure_logging(settings.log_level, json_lines=settings.log_format == "json")
    application = create_app(settings, database_url=db)
    config = uvicorn.Config(
        application,
        host=host or settings.host,
        port=settings.port if port is None else port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    err.print(
        f"FlowForge {__version__} on http://{config.host}:{config.port}  "
        f"(data in {settings.home}, API docs at /docs)",
        highlight=False,
    )
    server.run()
    if not server.started:
        raise typer.Exit(1)


@app.command()
def version() -> None:
    """Print the version."""
    out.print(__version__)


def main() -> None:
    """Entry point of the console script."""
    app()
