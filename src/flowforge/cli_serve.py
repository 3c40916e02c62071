"""``flowforge serve``: the server in one process (or several sharing a port), with its
database made ready and the first owner's setup token printed before it starts."""

from __future__ import annotations

import os
from typing import Annotated, Any, NoReturn
from urllib.parse import quote

import typer
from rich.console import Console
from rich.markup import escape

from flowforge import __version__
from flowforge.cli_credentials import DbOption
from flowforge.config import Settings

__all__ = ["serve"]

EXIT_FAILED, EXIT_INVALID = 1, 2

err = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[red]error[/red] {escape(message)}")
    raise typer.Exit(code)


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [default: 127.0.0.1]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [default: 8989]")] = None,
    db: DbOption = None,
    no_examples: Annotated[
        bool, typer.Option("--no-examples", help="Do not add the examples on first start")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Server processes sharing the port and the database [default: 1]",
        ),
    ] = None,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="Let every request act as the owner, unauthenticated: local experiments "
            "only, refused unless listening on a loopback address",
        ),
    ] = False,
) -> None:
    """Run the server: API, webhooks, schedules and engine in one process (or in --workers
    processes that share the port and the database, for more requests per second). Every
    request must authenticate; the first start prints a one-time setup token for the owner."""
    import uvicorn

    from flowforge.api import create_app
    from flowforge.logs import configure_logging

    settings = Settings()
    if no_examples:
        settings.load_examples = False
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    settings.insecure_no_auth = settings.insecure_no_auth or insecure_no_auth
    if settings.insecure_no_auth and not _loopback(settings.host):
        _fail(
            f"--insecure-no-auth is refused on {settings.host}: it would let anybody who can "
            "reach the server act as its owner; listen on 127.0.0.1 (or ::1) to use it",
            EXIT_INVALID,
        )
    count = settings.workers if workers is None else workers
    configure_logging(settings.log_level, json_lines=settings.log_format == "json")
    setup = _bootstrap(settings, db)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 10,
        "lifespan": "on",
    }
    err.print(
        f"FlowForge {__version__} on http://{options['host']}:{options['port']}  "
        f"(the editor at /, data in {settings.home}, API docs at /docs"
        + (f", {count} workers)" if count > 1 else ")"),
        highlight=False,
    )
    if settings.insecure_no_auth:
        err.print(
            "[bold red]authentication is OFF[/bold red]: every request acts as the owner "
            "(--insecure-no-auth)"
        )
    elif setup is not None:
        url = settings.base_url()
        err.print(
            "[bold]First start.[/bold] Choose the owner's password within 24 hours in the "
            f"editor at\n  {url}/signin?invite={quote(setup, safe='')}\nor with\n"
            f"  flowforge login --server {url} --setup-token {setup}\n"
            "or, for scripts, make an API key: flowforge keys create --role owner",
            highlight=False,
            soft_wrap=True,
        )
    if count == 1:
        server = uvicorn.Server(uvicorn.Config(create_app(settings, database_url=db), **options))
        server.run()
        if not server.started:
            raise typer.Exit(1)
        return
    # Each worker is a whole server (engine, schedules, takeover of dead processes' runs) on
    # the shared database, which already coordinates several processes. The workers start as
    # new interpreters and read their settings from the environment; their metrics meet in a
    # folder, so that any worker's /metrics counts them all.
    import shutil
    import tempfile

    metrics = tempfile.mkdtemp(prefix="flowforge-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics
    os.environ["FLOWFORGE_DATABASE_URL"] = settings.database(db)
    os.environ["FLOWFORGE_LOAD_EXAMPLES"] = "true" if settings.load_examples else "false"
    os.environ["FLOWFORGE_HOST"] = settings.host
    os.environ["FLOWFORGE_PORT"] = str(settings.port)
    os.environ["FLOWFORGE_INSECURE_NO_AUTH"] = "true" if settings.insecure_no_auth else "false"
    try:
        uvicorn.run("flowforge.api:worker_app", factory=True, workers=count, **options)
    finally:
        shutil.rmtree(metrics, ignore_errors=True)


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bootstrap(settings: Settings, db: str | None) -> str | None:
    """Before the server starts: the default organisation, its owner and the admin API key;
    give the owner's setup token on a server nobody has set up yet."""
    from flowforge.cli_access import operator_auth

    with operator_auth(db, settings) as auth:
        return None if settings.insecure_no_auth else auth.setup_token()
