"""``flowforge credentials ...`` and ``flowforge keys rotate``: the vault from the terminal."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flowforge.config import Settings
from flowforge.connectors import builtin_registry
from flowforge.credentials import Credentials
from flowforge.engine.frames import DEFAULT_ORG
from flowforge.errors import FlowForgeError
from flowforge.security.vault import (
    KEY_FILE_NAME,
    MASTER_KEY_ENV,
    MASTER_KEY_FILE_ENV,
    MasterKey,
    VaultError,
    write_keyring_file,
)
from flowforge.store import SqlStore

__all__ = ["credentials_app", "keys_app"]

credentials_app = typer.Typer(
    help="Credentials, sealed in the database by the vault.", no_args_is_help=True
)
keys_app = typer.Typer(
    help="API keys, the vault's master keys and the access tokens' signing keys.",
    no_args_is_help=True,
)

out = Console()
err = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: FLOWFORGE_DATABASE_URL or SQLite)"),
]
OrgOption = Annotated[str, typer.Option("--org", help="The organisation's id")]


@contextmanager
def _credentials(db: str | None) -> Iterator[Credentials]:
    settings = Settings()
    try:
        store = SqlStore(settings.database(db))
    except Exception as exc:
        _fail(f"cannot open the database: {exc}", 1)
    try:
        yield Credentials(store, settings.home)
    except (FlowForgeError, OSError) as exc:
        _fail(str(exc), 2 if isinstance(exc, FlowForgeError) else 1)
    finally:
        store.close()


def _fail(message: str, code: int) -> Any:
    err.print(f"[red]error[/red] {escape(message)}")
    raise typer.Exit(code)


@credentials_app.command("set")
def credentials_set(
    credential_id: Annotated[str, typer.Argument(help="The id nodes name it by")],
    connector: Annotated[str, typer.Option("--connector", help="The connector it is for")],
    data: Annotated[
        str | None, typer.Option("--data", help="The secret as a JSON object (visible in ps)")
    ] = None,
    data_file: Annotated[
        Path | None, typer.Option("--data-file", help="A file holding the JSON object")
    ] = None,
    db: DbOption = None,
    org: OrgOption = DEFAULT_ORG,
) -> None:
    """Store a credential (or replace it), checked against the connector's credential schema
    and sealed under the master key. Give the secret with --data-file (or - for stdin)."""
    if (data is None) == (data_file is None):
        _fail("give the secret with exactly one of --data and --data-file", 2)
    try:
        text = data if data is not None else _read(data_file)
        secret = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        _fail(f"--data{'-file' if data is None else ''}: not a JSON object: {exc}", 2)
    if not isinstance(secret, dict):
        _fail("the secret must be a JSON object", 2)
    with _credentials(db) as credentials:
        credentials.set(builtin_registry(), credential_id, connector, secret, org)
    out.print(f"stored credential {escape(credential_id)} for {escape(connector)}")


def _read(path: Path | None) -> str:
    assert path is not None
    return typer.get_text_stream("stdin").read() if str(path) == "-" else path.read_text()


@credentials_app.command("list")
def credentials_list(
    db: DbOption = None,
    org: OrgOption = DEFAULT_ORG,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """The stored credentials: ids, connectors and master key ids, never secrets."""
    with _credentials(db) as credentials:
        entries = credentials.rows.entries(org)
    if as_json:
        rows = [
            {
                "id": e.id,
                "connector": e.connector,
                "key_id": e.key_id,
                "updated_at": e.updated_at.isoformat(),
            }
            for e in entries
        ]
        out.print_json(data=rows)
        return
    table = Table("id", "connector", "master key", "updated")
    for e in entries:
        table.add_row(escape(e.id), e.connector, e.key_id, f"{e.updated_at:%Y-%m-%d %H:%M}")
    out.print(table)


@credentials_app.command("delete")
def credentials_delete(
    credential_id: Annotated[str, typer.Argument(help="The credential's id")],
    db: DbOption = None,
    org: OrgOption = DEFAULT_ORG,
) -> None:
    """Remove a credential."""
    with _credentials(db) as credentials:
        found = credentials.rows.delete(org, credential_id)
    if not found:
        _fail(f"no credential {credential_id}", 1)
    out.print(f"deleted credential {escape(credential_id)}")


@keys_app.command("rotate")
def keys_rotate(db: DbOption = None) -> None:
    """Make a new master key current and re-wrap every credential under it, while servers run:
    the key file keeps the old key until no credential needs it, then drops it."""
    if MASTER_KEY_ENV in os.environ:
        _fail(
            f"the master key comes from {MASTER_KEY_ENV}; to rotate it here, keep the keys in a "
            f"file named by {MASTER_KEY_FILE_ENV}",
            2,
        )
    settings = Settings()
    path = Path(os.environ.get(MASTER_KEY_FILE_ENV) or settings.home / KEY_FILE_NAME)
    with _credentials(db) as credentials:
        vault, rows = credentials.vault, credentials.rows
        new = MasterKey.generate()
        old = vault.keyring.current.key_id
        write_keyring_file(path, vault.keyring.rotated(new))  # durable before any row uses it
        rotation = vault.rotate(rows, new)
        for failure in rotation.failures:
            err.print(
                f"[red]could not re-wrap[/red] {escape(failure.credential_id)}: "
                f"{escape(failure.reason)}"
            )
        if rotation.complete and not rotation.failures:
            try:
                write_keyring_file(path, vault.retire(rows, old))
            except VaultError as exc:  # a credential sealed meanwhile under the old key
                err.print(f"[yellow]kept the old key[/yellow]: {escape(str(exc))}")
    out.print(
        f"master key {new.key_id} is current; {rotation.rewrapped} credential(s) re-wrapped"
        + ("" if rotation.complete else f", {rotation.remaining} left: run it again")
    )
    if rotation.failures:
        raise typer.Exit(1)
