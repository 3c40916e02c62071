"""``flowforge login|logout|whoami``, ``flowforge keys create|generate|list|revoke|
rotate-signing`` and ``flowforge orgs list|plan``: signing in to servers, and the operator's
commands that act on the database directly (for scripts and containers: no browser, no
server needed)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flowforge.cli_credentials import DbOption, keys_app
from flowforge.client import Client, ServerError, ServerUnreachable
from flowforge.config import Settings
from flowforge.engine.frames import DEFAULT_ORG
from flowforge.errors import FlowForgeError
from flowforge.logins import Login, LoginAuth, Logins, login_auth

__all__ = ["login", "logout", "operator_auth", "orgs_app", "whoami"]

orgs_app = typer.Typer(help="Organisations (the operator's commands).", no_args_is_help=True)

out = Console()
err = Console(stderr=True)

ServerOption = Annotated[
    str,
    typer.Option("--server", envvar="FLOWFORGE_SERVER", help="The server's URL", show_default=True),
]
_DEFAULT_SERVER = "http://127.0.0.1:8989"


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error[/red] {escape(message)}")
    raise typer.Exit(code)


@contextmanager
def _client(server: str, *, signed_in: bool = False) -> Iterator[Client]:
    auth = login_auth(server, Settings().home) if signed_in else None
    try:
        with Client(server, auth=auth) as client:
            yield client
    except ServerUnreachable as exc:
        _fail(str(exc))
    except ServerError as exc:
        signing_in = exc.status == 401 and signed_in
        hint = f" (sign in: flowforge login --server {server})" if signing_in else ""
        _fail(exc.message + hint, 2 if 400 <= exc.status < 500 else 1)


# -- signing in to a server


def login(
    server: ServerOption = _DEFAULT_SERVER,
    email: Annotated[
        str | None, typer.Option(help="Sign in with this address and a password")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin")
    ] = False,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", help="Use an API key (ffk_..., or - to read it from stdin)"),
    ] = None,
    setup_token: Annotated[
        str | None,
        typer.Option(
            "--setup-token",
            help="The token the first start printed (or an invite): choose a password",
        ),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file",
            help="Sign a challenge with this private key: a P-256 or secp256k1 PEM file, or "
            "an Ethereum key (64 hex digits)",
        ),
    ] = None,
    org: Annotated[str | None, typer.Option(help="The organisation to act in")] = None,
) -> None:
    """Sign in to a server and remember it in FLOWFORGE_HOME/logins.json (mode 0600), so
    that --server commands (and FLOWFORGE_SERVER) use it."""
    # --email goes with --setup-token too: the owner's address
    ways = [w for w in (api_key, setup_token, key_file) if w is not None]
    if len(ways) > 1 or (not ways and email is None):
        _fail("give one of --email, --api-key, --setup-token and --key-file", 2)
    logins = Logins(Settings().home)
    with _client(server) as client:
        if api_key is not None:
            key = sys.stdin.readline().strip() if api_key == "-" else api_key.strip()
            saved = Login(api_key=key)
        elif setup_token is not None:
            address = email
            if address is None and not password_stdin:  # stdin holds the password
                address = typer.prompt("Your e-mail address", default="", show_default=False)
            password = _new_password(password_stdin)
            answer = client.accept(setup_token, password, address or None)
            saved = Login.of_tokens(answer, address or None)
        elif key_file is not None:
            answer = _signature_login(client, key_file, org)
            saved = Login.of_tokens(answer)
        else:
            assert email is not None
            password = _password(password_stdin)
            answer = client.login(email, password, org)
            saved = Login.of_tokens(answer, email)
        with Client(server, auth=LoginAuth(server, saved, None)) as signed:
            me = signed.me()
    logins.put(server, saved)
    who = (me.get("user") or {}).get("email") or f"API key {me.get('keyId')}"
    out.print(f"signed in to {escape(server)} as {escape(who)} ({me['role']} of {me['orgId']})")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True))


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(
        typer.prompt(
            "Choose a password (8 characters or more)", hide_input=True, confirmation_prompt=True
        )
    )


def _signature_login(client: Client, key_file: Path, org: str | None) -> dict[str, Any]:
    """Sign in with a private key: ECDSA (SHA-256) for a PEM key, SIWE for an Ethereum key."""
    try:
        raw = key_file.read_bytes()
    except OSError as exc:
        _fail(f"--key-file: {exc}", 2)
    text = raw.decode("ascii", "replace").strip()
    if "PRIVATE KEY" in text:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        try:
            private = serialization.load_pem_private_key(raw, password=None)
        except (ValueError, TypeError) as exc:
            _fail(f"--key-file: not an unencrypted PEM private key: {exc}", 2)
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            _fail("--key-file: an elliptic-curve key (P-256 or secp256k1) is needed", 2)
        account = (
            private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        challenge = client.challenge(account)
        signature = private.sign(challenge["message"].encode(), ec.ECDSA(hashes.SHA256())).hex()
    else:
        from flowforge.security.signatures import ethereum_signer

        try:
            account, sign = ethereum_signer(text)
        except ValueError as exc:
            _fail(f"--key-file: not a PEM key nor an Ethereum key: {exc}", 2)
        challenge = client.challenge(account)
        signature = sign(challenge["message"])
    return client.signature_login(challenge["account"], challenge["message"], signature, org)


def logout(server: ServerOption = _DEFAULT_SERVER) -> None:
    """End the session saved for a server and forget it (an API key is only forgotten)."""
    logins = Logins(Settings().home)
    saved = logins.get(server)
    if saved is None:
        _fail(f"not signed in to {server}")
    if saved.refresh_token:
        with _client(server) as client:
            client.logout(saved.refresh_token)
    logins.remove(server)
    out.print(f"signed out of {escape(server)}")


def whoami(
    server: ServerOption = _DEFAULT_SERVER,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Who the CLI is signed in to a server as."""
    with _client(server, signed_in=True) as client:
        me = client.me()
    if as_json:
        sys.stdout.write(json.dumps(me, indent=2) + "\n")
        return
    who = (me.get("user") or {}).get("email") or f"service API key {me.get('keyId')}"
    out.print(f"{escape(who)}: {me['role']} of {me['orgId']}")


# -- the operator's commands on the database


@contextmanager
def operator_auth(db: str | None, settings: Settings | None = None) -> Iterator[Any]:
    """The server's authentication on its database, made ready as a first start would (the
    default organisation, its owner, the admin API key), for commands that act on the
    database directly; their errors end the command with exit code 2 (1: no database)."""
    from flowforge.credentials import Credentials
    from flowforge.security.auth import Auth
    from flowforge.store import SqlStore

    settings = settings or Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    try:
        store = SqlStore(settings.database(db))
    except Exception as exc:
        _fail(f"cannot open the database: {exc}")
    try:
        auth = Auth(store, Credentials(store, settings.home), settings)
        auth.bootstrap()
        yield auth
    except (FlowForgeError, ValueError) as exc:
        _fail(str(exc), 2)
    except KeyError as exc:  # its str() quotes the key
        _fail(str(exc.args[0]) if exc.args else "not found", 2)
    finally:
        store.close()


def _audit(
    auth: Any, action: str, org: str | None, target_kind: str, target_id: str, **details: Any
) -> None:
    from flowforge.store import AuditEntry, AuditLog

    entry = AuditEntry(
        action=action,
        org_id=org,
        actor=f"cli:{os.environ.get('USER', 'unknown')}"[:64],
        actor_kind="system",
        target_kind=target_kind,
        target_id=target_id,
        details=details,
    )
    AuditLog(auth.store).append(entry)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option("--role", help="owner, admin, editor or viewer")],
    org: Annotated[str, typer.Option("--org", help="The organisation's id")] = DEFAULT_ORG,
    name: Annotated[str, typer.Option("--name", help="What it is for")] = "cli",
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="Allow only this (repeatable): e.g. workflows:read"),
    ] = None,
    expires_in_days: Annotated[
        int | None, typer.Option("--expires-in-days", min=1, max=3650)
    ] = None,
    db: DbOption = None,
) -> None:
    """Make a service API key and print it (only the key, for $(...)): it acts with ROLE in
    ORG, not as any user. It is stored as a hash and shown this once."""
    from flowforge.security.apikeys import validate_scope
    from flowforge.security.auth import SERVICE_SUBJECT
    from flowforge.security.rbac import Role

    try:
        chosen = Role(role)
        scopes = [validate_scope(s) for s in scope or ["*"]]
    except ValueError as exc:
        _fail(f"--role/--scope: {exc}", 2)
    with operator_auth(db) as auth:
        auth.directory.get_org(org)
        issued = auth.api_keys.create(
            subject=SERVICE_SUBJECT,
            scopes=scopes,
            org=org,
            name=name,
            role=chosen,
            expires_in=timedelta(days=expires_in_days) if expires_in_days else None,
        )
        _audit(
            auth, "apikey.created", org, "apikey", issued.record.key_id, role=chosen, scopes=scopes
        )
    sys.stdout.write(issued.key + "\n")
    err.print(
        f"API key {issued.record.key_id} ({chosen} of {org}): keep it now, it is not shown again"
    )


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new API key without storing it, for FLOWFORGE_ADMIN_API_KEY: the server
    stores it as an owner key of the default organisation when it starts."""
    from flowforge.security.apikeys import generate_api_key

    sys.stdout.write(generate_api_key() + "\n")


@keys_app.command("list")
def keys_list(
    org: Annotated[str, typer.Option("--org", help="The organisation's id")] = DEFAULT_ORG,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """The organisation's API keys: ids, names, roles, scopes and dates, never a secret."""
    with operator_auth(db) as auth:
        keys = auth.api_keys.store.list_keys(org=org)
    rows = [
        {
            "id": k.key_id,
            "name": k.name,
            "subject": k.subject,
            "role": k.role,
            "scopes": sorted(k.scopes),
            "created_at": k.created_at.isoformat(),
            "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
            "revoked": k.revoked_at is not None,
        }
        for k in keys
    ]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table("id", "name", "for", "role", "scopes", "last used", "state")
    for r in rows:
        table.add_row(
            r["id"],
            escape(r["name"]),
            r["subject"],
            r["role"] or "",
            ", ".join(r["scopes"]),
            (r["last_used_at"] or "never")[:16],
            "revoked" if r["revoked"] else "live",
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (the 12 characters after ffk_)")],
    db: DbOption = None,
) -> None:
    """Revoke an API key: servers refuse it within FLOWFORGE_AUTH_CACHE_S seconds."""
    with operator_auth(db) as auth:
        if auth.api_keys.store.get(key_id) is None:
            _fail(f"no API key {key_id!r}", 2)
        record = auth.api_keys.revoke(key_id)
        _audit(auth, "apikey.revoked", record.org, "apikey", key_id)
    out.print(f"revoked API key {escape(key_id)}")


@keys_app.command("rotate-signing")
def keys_rotate_signing(db: DbOption = None) -> None:
    """Make a new signing key for access tokens current (every server process switches
    within a minute); tokens signed before stay valid until they expire, and keys that
    stopped signing more than a day ago are dropped."""
    with operator_auth(db) as auth:
        kid = auth.rotate_signing_key()
        _audit(auth, "settings.signing_key_rotated", DEFAULT_ORG, "signing_key", kid)
    out.print(f"signing key {kid} is current")


@orgs_app.command("list")
def orgs_list(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Every organisation, its plan and how many members it has."""
    with operator_auth(db) as auth:
        orgs = auth.directory.list_orgs()
    rows = [
        {
            "id": o.id,
            "name": o.name,
            "plan": o.plan,
            "members": n,
            "created_at": o.created_at.isoformat(),
        }
        for o, n in orgs
    ]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table("id", "name", "plan", "members", "created")
    for r in rows:
        table.add_row(
            r["id"], escape(r["name"]), r["plan"], str(r["members"]), r["created_at"][:16]
        )
    out.print(table)


@orgs_app.command("plan")
def orgs_plan(
    org: Annotated[str, typer.Argument(help="The organisation's id")],
    plan: Annotated[str, typer.Argument(help="free, basic, pro or enterprise")],
    db: DbOption = None,
) -> None:
    """Change an organisation's plan, which sets its members' rate limits."""
    from flowforge.security.ratelimit import Plan

    try:
        chosen = Plan(plan)
    except ValueError:
        _fail(f"plan: {plan!r} is not one of free, basic, pro, enterprise", 2)
    with operator_auth(db) as auth:
        before = auth.directory.get_org(org).plan
        auth.directory.update_org(org, plan=chosen)
        _audit(auth, "org.plan_changed", org, "org", org, plan={"from": before, "to": chosen})
    out.print(f"{escape(org)} is on the {chosen} plan (was {before})")
