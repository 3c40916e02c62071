"""The ``flowforge`` command."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flowforge import __version__
from flowforge.cli_access import login, logout, orgs_app, whoami
from flowforge.cli_credentials import credentials_app, keys_app
from flowforge.cli_serve import serve
from flowforge.cli_temporal import temporal_dev, worker
from flowforge.client import Client, ServerError, ServerUnreachable
from flowforge.config import Settings
from flowforge.connectors import Registry, builtin_registry
from flowforge.credentials import credential_source
from flowforge.engine.frames import (
    TERMINAL_EXECUTION_STATUSES,
    ExecutionFrame,
    ExecutionRecord,
    ExecutionStatus,
    FrameStatus,
)
from flowforge.engine.local import KEEP_INPUT, ExecutionResult, LocalEngine
from flowforge.engine.validate import check, validate
from flowforge.errors import DefinitionError, FlowForgeError, Problem, StateConflict
from flowforge.logins import login_auth
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
app.add_typer(credentials_app, name="credentials")
app.add_typer(keys_app, name="keys")
app.add_typer(orgs_app, name="orgs")
app.command()(serve)
app.command("temporal-dev")(temporal_dev)
app.command()(worker)
app.command()(login)
app.command()(logout)
app.command()(whoami)

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


ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="FLOWFORGE_SERVER",
        help="URL of a running server (e.g. http://127.0.0.1:8989): use its API, not a database",
    ),
]


@app.command()
def run(
    workflow: Annotated[
        str,
        typer.Argument(
            metavar="WORKFLOW",
            help="Workflow file (.yaml, .yml or .json); with --server also a stored "
            "workflow's id or name",
        ),
    ],
    input_json: Annotated[
        str | None, typer.Option("--input", help="The run's input, as JSON")
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", help="A JSON file with the input")
    ] = None,
    db: DbOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a workflow to its end, showing each node live; print its result."""
    file = Path(workflow)
    if server is not None:
        payload = _parse_input(input_json, input_file)
        with _remote(server, db) as client:
            if file.is_file():
                # parsed here so file errors read as they do locally; the server validates
                loaded = _load(file, as_json)
                definition = loaded.model_dump(mode="json", exclude_defaults=True)
                started = client.start(workflow=definition, input=payload)
                total: int | None = len(loaded.nodes)
            else:
                entry = _stored_workflow(client, workflow)
                started = client.start(workflow_id=entry["id"], input=payload)
                total = len(entry["definition"]["nodes"])
            summary = _follow_remote(client, started["id"], total, as_json)
        _report(summary, as_json)
        raise typer.Exit(_exit_for(summary))
    registry = builtin_registry()
    loaded = _load(file, as_json, registry)
    payload = _parse_input(input_json, input_file)
    with _store(db) as store:
        outcome = _drive_locally(
            store,
            lambda engine: engine.submit(loaded, payload, source_path=str(file.resolve())),
            len(loaded.nodes),
            as_json,
        )
    _report(outcome, as_json)
    raise typer.Exit(_exit_for(outcome))


def _drive_locally(
    store: ExecutionStore,
    start: Callable[[LocalEngine], Awaitable[str]],
    total: int | None,
    as_json: bool,
) -> dict[str, Any]:
    """Start a run in an engine in this process and drive it to its end with a live bar;
    give its outcome. Ctrl-C leaves it in the journal for ``flowforge resume``."""

    async def drive() -> ExecutionResult:
        settings = Settings()
        async with LocalEngine(
            store,
            builtin_registry(),
            lease_ttl_s=settings.lease_ttl_s,
            credentials=credential_source(store, settings.home),
            http_allow=settings.http_allow_list(),
        ) as engine:
            with _Progress(total, quiet=as_json) as bar:
                top: list[str] = []
                early: list[ExecutionFrame] = []
                shown = [0]

                def show(frame: ExecutionFrame) -> None:
                    if frame.seq <= shown[0]:
                        return
                    shown[0] = frame.seq
                    bar.frame(
                        frame.node_id,
                        frame.status,
                        frame.attempt,
                        frame.item,
                        frame.wake_at,
                        (frame.error or {}).get("message"),
                    )

                def on_frame(frame: ExecutionFrame) -> None:
                    if not top:
                        early.append(frame)
                    elif frame.execution_id == top[0]:  # not sub-workflow frames
                        show(frame)

                engine.listeners.append(on_frame)
                try:
                    try:
                        execution_id = await start(engine)
                    except NotFound:
                        raise
                    except FlowForgeError as exc:  # refused before anything ran
                        raise _Refused(str(exc)) from None
                    # a re-run's copied frames are in the store, not seen by listeners
                    stored = await engine.journal.call(store.get_frames, execution_id)
                    top.append(execution_id)
                    mine = [f for f in early if f.execution_id == execution_id]
                    for frame in sorted([*stored, *mine], key=lambda f: f.seq):
                        show(frame)
                    return await engine.wait(execution_id)
                finally:
                    engine.listeners.remove(on_frame)

    try:
        return _outcome_json(asyncio.run(drive()))
    except NotFound as exc:
        _fail(str(exc), EXIT_FAILED)
    except _Refused as exc:
        _fail(str(exc), EXIT_INVALID)
    except FlowForgeError as exc:
        _fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        _fail("interrupted: the run stays in the journal; `flowforge resume` finishes it", 130)


class _Refused(Exception):
    """A run that could not start as asked (a re-run from a node the workflow lacks)."""


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[red]error[/red] {escape(message)}" if code != EXIT_INTERRUPTED else message)
    raise typer.Exit(code)


@contextmanager
def _remote(server: str, db: str | None) -> Iterator[Client]:
    """A client of the server's API; its errors end the command with a clear message: exit 1
    for a missing execution, an unreachable or failing server, 2 for a request it refused."""
    if db is not None:
        _fail("give --db or --server, not both", EXIT_INVALID)
    try:
        with Client(server, auth=login_auth(server, Settings().home)) as client:
            yield client
    except ServerUnreachable as exc:
        _fail(str(exc), EXIT_FAILED)
    except ServerError as exc:
        err.print(f"[red]error[/red] {escape(exc.message)}")
        for detail in exc.details:
            err.print(f"  {escape(str(detail.get('field')))}: {escape(str(detail.get('message')))}")
        if exc.request_id:
            err.print(f"[dim]  (HTTP {exc.status}, request id {escape(exc.request_id)})[/dim]")
        if exc.status == 401:
            err.print(
                f"  sign in with [bold]flowforge login --server {escape(server)}[/bold], "
                "or set FLOWFORGE_API_KEY"
            )
        code = EXIT_INVALID if 400 <= exc.status < 500 and exc.status != 404 else EXIT_FAILED
        raise typer.Exit(code) from None
    except KeyboardInterrupt:
        _fail("interrupted: the run goes on at the server", EXIT_INTERRUPTED)


def _stored_workflow(client: Client, ref: str) -> dict[str, Any]:
    try:
        return client.get_workflow(ref)
    except ServerError as exc:
        if exc.status != 404:
            raise
        _fail(f"{ref}: no such file, and the server has no workflow with this id or name", 2)


def _follow_remote(
    client: Client, execution_id: str, total: int | None, as_json: bool
) -> dict[str, Any]:
    """Follow a run on the server to its end with a live bar; give its outcome."""
    with _Progress(total, quiet=as_json) as bar:
        for kind, data in client.follow(execution_id):
            if kind == "frame":
                bar.frame(
                    data["nodeId"],
                    FrameStatus(data["status"]),
                    data["attempt"],
                    data["item"],
                    _parse_time(data.get("wakeAt")),
                    (data.get("error") or {}).get("message"),
                )
            else:
                return {
                    "execution_id": data["id"],
                    "status": data["status"],
                    "result": data["result"],
                    "error": data["error"],
                }
    raise ServerUnreachable(f"the stream of {execution_id} ended before the run did")


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class _Progress:
    """A live bar of nodes decided, naming the nodes that run now; fed frames from an engine
    in this process or from a server's stream. ``total`` None shows a count without a bar."""

    def __init__(self, total: int | None, *, quiet: bool) -> None:
        self.quiet = quiet
        self.running: dict[str, str] = {}
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[now]}"),
            console=err,
            transient=False,
            disable=quiet,
        )
        self.task = self.progress.add_task("nodes", total=total, now="")

    def __enter__(self) -> _Progress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def frame(
        self,
        node: str,
        status: FrameStatus,
        attempt: int,
        item: int | None,
        wake_at: datetime | None,
        error: str | None,
    ) -> None:
        if status == FrameStatus.STARTED:
            self.running[node] = f"attempt {attempt}" if attempt > 1 else ""
        elif status == FrameStatus.RETRYING:
            self.running[node] = "retrying"
        elif status == FrameStatus.WAITING:
            self.running[node] = (
                f"waiting until {wake_at.astimezone():%H:%M:%S}" if wake_at else "waiting"
            )
        elif item is None and status in (
            FrameStatus.COMPLETED,
            FrameStatus.FAILED,
            FrameStatus.SKIPPED,
        ):
            self.running.pop(node, None)
            self.progress.advance(self.task)
            if status == FrameStatus.FAILED and not self.quiet:
                err.print(f"[red]✗[/red] {escape(node)}: {escape(str(error))}")
        elif item is not None and status == FrameStatus.COMPLETED:
            self.running[node] = f"item {item + 1} done"
        shown = [f"{n} {s}".strip() for n, s in list(self.running.items())[:4]]
        self.progress.update(self.task, now=escape(", ".join(shown)))


def _outcome_json(outcome: ExecutionResult) -> dict[str, Any]:
    return {
        "execution_id": outcome.execution_id,
        "status": outcome.status.value,
        "result": outcome.result,
        "error": outcome.error,
    }


def _exit_for(outcome: dict[str, Any]) -> int:
    return EXIT_OK if outcome["status"] == ExecutionStatus.COMPLETED.value else EXIT_FAILED


def _report(outcome: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _print_json(outcome)
        return
    status = outcome["status"]
    style = _STATUS_STYLE.get(status, "white")
    err.print(f"execution [bold]{outcome['execution_id']}[/bold] [{style}]{status}[/{style}]")
    error = outcome.get("error")
    if status == ExecutionStatus.COMPLETED.value:
        _print_json(outcome["result"])
    elif error:
        node = error.get("node")
        where = f" in node {node!r}" if node else ""
        err.print(f"[red]error{escape(where)}:[/red] {escape(str(error.get('message')))}")


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
    async with LocalEngine(
        store,
        builtin_registry(),
        lease_ttl_s=settings.lease_ttl_s,
        credentials=credential_source(store, settings.home),
        http_allow=settings.http_allow_list(),
    ) as engine:
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


def _when(value: str | None) -> str:
    return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _iso(value: datetime | str | None) -> str | None:
    """A time as ISO 8601 with its offset, the same whether it came from a store or the API."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.isoformat() if value else None


@executions_app.command("list")
def executions_list(
    status: Annotated[ExecutionStatus | None, typer.Option(help="Only runs in this status")] = None,
    workflow: Annotated[
        str | None,
        typer.Option(help="Only runs of workflows with this name"),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many")] = 20,
    db: DbOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """List executions, newest first."""
    if server is not None:
        with _remote(server, db) as client:
            found = client.list_executions(
                status=status.value if status else None, workflow_name=workflow, limit=limit
            )
        rows = [_shaped(_RUN_FIELDS, r) for r in found]
    else:
        with _store(db) as store:
            records = store.list_executions(status=status, workflow_name=workflow, limit=limit)
        rows = [_shaped(_RUN_FIELDS, r) for r in records]
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "workflow", "status", "started", "finished")
    for r in rows:
        style = _STATUS_STYLE.get(r["status"], "white")
        table.add_row(
            r["id"],
            escape(r["workflow"]),
            f"[{style}]{r['status']}[/{style}]",
            _when(r["started_at"]),
            _when(r["finished_at"]),
        )
    out.print(table)


# The CLI's JSON names for a run and a frame, with the attribute of the stored object and the
# key of the API's answer each comes from; times print as ISO 8601 either way.
_RUN_FIELDS = (
    ("id", "id", "id"),
    ("workflow", "workflow_name", "workflowName"),
    ("workflow_id", "workflow_id", "workflowId"),
    ("workflow_version_id", "workflow_version_id", "versionId"),
    ("status", "status", "status"),
    ("input", "input", "input"),
    ("result", "result", "result"),
    ("error", "error", "error"),
    ("created_at", "created_at", "createdAt"),
    ("started_at", "started_at", "startedAt"),
    ("finished_at", "finished_at", "finishedAt"),
    ("parent_id", "parent_id", "parentId"),
    ("retry_of", "retry_of", "retryOf"),
)
_FRAME_FIELDS = (
    ("seq", "seq", "seq"),
    ("node", "node_id", "nodeId"),
    ("status", "status", "status"),
    ("attempt", "attempt", "attempt"),
    ("item", "item", "item"),
    ("port", "port", "port"),
    ("input", "input", "input"),
    ("output", "output", "output"),
    ("error", "error", "error"),
    ("wake_at", "wake_at", "wakeAt"),
    ("started_at", "started_at", "startedAt"),
    ("ended_at", "ended_at", "endedAt"),
    ("duration_ms", "duration_ms", "durationMs"),
)


def _shaped(
    fields: tuple[tuple[str, str, str], ...],
    source: ExecutionRecord | ExecutionFrame | dict[str, Any],
) -> dict[str, Any]:
    """A run or a frame, from the store or as the API gives it, in the CLI's JSON shape."""
    shaped: dict[str, Any] = {}
    for name, attribute, key in fields:
        value = source[key] if isinstance(source, dict) else getattr(source, attribute)
        if isinstance(value, Enum):
            value = value.value
        shaped[name] = _iso(value) if name.endswith("_at") else value
    return shaped


ExecutionArg = Annotated[str, typer.Argument(help="Execution id")]


@executions_app.command("show")
def executions_show(
    execution_id: ExecutionArg,
    db: DbOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show an execution and its frames."""
    if server is not None:
        with _remote(server, db) as client:
            found = client.get_execution(execution_id)
        record = _shaped(_RUN_FIELDS, found)
        frames = [_shaped(_FRAME_FIELDS, f) for f in found.get("frames") or []]
    else:
        with _store(db) as store:
            try:
                record = _shaped(_RUN_FIELDS, store.get_execution(execution_id))
            except NotFound:
                _fail(f"no execution {execution_id}", EXIT_FAILED)
            frames = [_shaped(_FRAME_FIELDS, f) for f in store.get_frames(execution_id)]
    if as_json:
        _print_json({**record, "frames": frames})
        return
    style = _STATUS_STYLE.get(record["status"], "white")
    out.print(
        f"[bold]{record['id']}[/bold] {escape(record['workflow'])} "
        f"[{style}]{record['status']}[/{style}]"
    )
    table = Table("seq", "node", "status", "attempt", "item", "port", "duration", "output / error")
    for f in frames:
        fs = _STATUS_STYLE.get(f["status"], "white")
        detail = f["error"].get("message") if f["error"] else f["output"]
        text = json.dumps(detail, default=str, ensure_ascii=False) if detail is not None else ""
        table.add_row(
            str(f["seq"]),
            escape(f["node"]),
            f"[{fs}]{f['status']}[/{fs}]",
            str(f["attempt"] or ""),
            "" if f["item"] is None else str(f["item"]),
            f["port"] or "",
            f"{f['duration_ms']:.1f} ms" if f["duration_ms"] is not None else "",
            escape(text if len(text) <= 80 else text[:77] + "..."),
        )
    out.print(table)
    if record["error"]:
        out.print(f"[red]error:[/red] {escape(str(record['error'].get('message')))}")
    elif record["status"] == ExecutionStatus.COMPLETED.value:
        out.print("result:")
        _print_json(record["result"])


@executions_app.command("cancel")
def executions_cancel(
    execution_id: ExecutionArg,
    db: DbOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel an unfinished execution: its running steps stop and it ends CANCELLED."""
    if server is not None:
        with _remote(server, db) as client:
            record = _shaped(_RUN_FIELDS, client.cancel(execution_id))
    else:
        with _store(db) as store:
            try:
                current = store.get_execution(execution_id)
                if current.status in TERMINAL_EXECUTION_STATUSES:
                    raise StateConflict(
                        f"execution {execution_id} has ended ({current.status.value})"
                    )
                record = _shaped(_RUN_FIELDS, store.request_cancel(execution_id))
            except NotFound:
                _fail(f"no execution {execution_id}", EXIT_FAILED)
            except StateConflict as exc:
                _fail(str(exc), EXIT_INVALID)
    if as_json:
        _print_json(record)
    elif record["status"] in {s.value for s in TERMINAL_EXECUTION_STATUSES}:
        out.print(f"{record['id']} {record['status']}")
    else:
        out.print(f"{record['id']}: cancellation requested; the process driving it stops it")


@executions_app.command("retry")
def executions_retry(
    execution_id: ExecutionArg,
    db: DbOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a failed or cancelled execution again from the node that failed it, keeping the
    steps before it; follow the new run live."""
    if server is not None:
        with _remote(server, db) as client:
            summary = _follow_remote(client, client.retry(execution_id)["id"], None, as_json)
    else:
        with _store(db) as store:
            summary = _drive_locally(
                store, lambda engine: engine.rerun(execution_id), None, as_json
            )
    _report(summary, as_json)
    raise typer.Exit(_exit_for(summary))


@executions_app.command("rerun")
def executions_rerun(
    execution_id: ExecutionArg,
    node: Annotated[str, typer.Option("--from", help="Run again from this node")],
    input_json: Annotated[
        str | None, typer.Option("--input", help="The node's new input, as JSON")
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", help="A JSON file with the node's new input")
    ] = None,
    db: DbOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Time travel: a new run that keeps the recorded outputs of every step NODE does not lead
    to, and runs NODE (with a new input if given) and what follows it again."""
    edited = input_json is not None or input_file is not None
    payload = _parse_input(input_json, input_file)
    if server is not None:
        with _remote(server, db) as client:
            started = client.rerun(execution_id, node, *([payload] if edited else []))
            summary = _follow_remote(client, started["id"], None, as_json)
    else:
        given = payload if edited else KEEP_INPUT
        with _store(db) as store:
            summary = _drive_locally(
                store, lambda engine: engine.rerun(execution_id, node, given), None, as_json
            )
    _report(summary, as_json)
    raise typer.Exit(_exit_for(summary))


@executions_app.command("delete")
def executions_delete(
    execution_id: ExecutionArg, db: DbOption = None, server: ServerOption = None
) -> None:
    """Delete a finished execution with its frames and sub-workflow runs."""
    if server is not None:
        with _remote(server, db) as client:
            client.delete(execution_id)
    else:
        with _store(db) as store:
            try:
                current = store.get_execution(execution_id)
                if current.status not in TERMINAL_EXECUTION_STATUSES:
                    raise StateConflict(
                        f"execution {execution_id} is {current.status.value}: cancel it first"
                    )
                store.delete_execution(execution_id)
            except NotFound:
                _fail(f"no execution {execution_id}", EXIT_FAILED)
            except StateConflict as exc:
                _fail(str(exc), EXIT_INVALID)
    out.print(f"deleted {execution_id}")


@app.command()
def version() -> None:
    """Print the version."""
    out.print(__version__)


def main() -> None:
    """Entry point of the console script."""
    app()
