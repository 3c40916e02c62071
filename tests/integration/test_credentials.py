"""Stored credentials end to end: sealed in the database by the CLI, opened just in time for a
node on the server and locally, bound to their row, and still there after a key rotation."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import echo_server, running, workflow
from sqlalchemy import update

from flowforge.connectors import builtin_registry
from flowforge.credentials import Credentials
from flowforge.errors import FlowForgeError
from flowforge.security.vault import KEY_FILE_NAME, Vault, parse_keyring
from flowforge.store import SqlStore
from flowforge.store._tables import credentials as credential_rows

ROOT = Path(__file__).parents[2]
TOKEN = "tok-7a6b5c4d3e2f"


@pytest.fixture
def echo() -> Iterator[str]:
    """The URL of a loopback server that answers with the Authorization header it received."""
    with echo_server() as server:
        yield server.url.rstrip("/")


def flowforge(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLOWFORGE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "flowforge", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )


def test_the_cli_stores_checks_lists_rotates_and_deletes(database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    secret = json.dumps({"type": "bearer", "token": TOKEN})
    stored = flowforge(
        "credentials", "set", "api", "--connector", "http", "--data", secret, "--db",
        database_url, home=home,
    )  # fmt: skip
    assert stored.returncode == 0, stored.stderr
    assert (home / KEY_FILE_NAME).stat().st_mode & 0o777 == 0o600
    wrong = flowforge(
        "credentials", "set", "bad", "--connector", "http", "--data",
        json.dumps({"type": "basic", "username": "u", "password": 12345678}), "--db",
        database_url, home=home,
    )  # fmt: skip
    assert wrong.returncode == 2 and "basic.password" in wrong.stderr
    assert "12345678" not in wrong.stderr + wrong.stdout
    listed = flowforge("credentials", "list", "--json", "--db", database_url, home=home)
    (entry,) = json.loads(listed.stdout)
    assert (entry["id"], entry["connector"]) == ("api", "http") and TOKEN not in listed.stdout
    old_keyring = parse_keyring((home / KEY_FILE_NAME).read_text())

    rotated = flowforge("keys", "rotate", "--db", database_url, home=home)
    assert rotated.returncode == 0, rotated.stderr
    assert "1 credential(s) re-wrapped" in rotated.stdout
    new_keyring = parse_keyring((home / KEY_FILE_NAME).read_text())
    assert new_keyring.key_ids == (new_keyring.current.key_id,)  # the old key is gone
    store = SqlStore(database_url)
    try:
        row = Credentials(store, home).rows.get("default", "api")
        assert row is not None and row.key_id == new_keyring.current.key_id
        assert Vault(new_keyring).open("default", "api", row)["token"] == TOKEN
        with pytest.raises(FlowForgeError):
            Vault(old_keyring).open("default", "api", row)
    finally:
        store.close()

    deleted = flowforge("credentials", "delete", "api", "--db", database_url, home=home)
    assert deleted.returncode == 0
    again = flowforge("credentials", "delete", "api", "--db", database_url, home=home)
    assert again.returncode == 1 and "no credential api" in again.stderr


def test_a_sealed_value_copied_to_another_row_does_not_open(
    database_url: str, tmp_path: Path
) -> None:
    store = SqlStore(database_url)
    try:
        credentials = Credentials(store, tmp_path)
        registry = builtin_registry()
        credentials.set(registry, "one", "http", {"type": "bearer", "token": "first-token"})
        credentials.set(registry, "two", "http", {"type": "bearer", "token": "second-token"})
        one = credentials.rows.get("default", "one")
        assert one is not None
        with store._write() as conn:
            conn.execute(
                update(credential_rows)
                .where(credential_rows.c.id == "two")
                .values(wrapped_key=one.wrapped_key, nonce=one.nonce, ciphertext=one.ciphertext)
            )
        assert credentials.credential("one")["token"] == "first-token"
        with pytest.raises(ValueError, match="two") as refused:
            credentials.credential("two")
        assert "first-token" not in str(refused.value)
        with pytest.raises(FlowForgeError, match="no connector"):
            credentials.set(registry, "x", "nope", {})
    finally:
        store.close()


async def test_a_node_gets_its_stored_credential_just_in_time(
    database_url: str, tmp_path: Path, echo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWFORGE_HTTP_ALLOW", "127.0.0.1")
    store = SqlStore(database_url)
    try:
        Credentials(store, tmp_path).set(
            builtin_registry(), "api", "http", {"type": "bearer", "token": TOKEN}
        )
    finally:
        store.close()
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        flow = workflow(
            "call",
            {"id": "start", "type": "flow.start"},
            {
                "id": "call",
                "type": "http.request",
                "credential": "api",
                "params": {"url": f"{echo}/"},
            },
        )
        flow["output"] = "{{ nodes.call.output.body }}"
        await client.post("/api/v1/workflows", json=flow)
        run = (await client.post("/api/v1/executions?wait=10", json={"workflowId": "call"})).json()
        assert run["status"] == "COMPLETED", run
        # the server received the real token; the run keeps only its redacted form
        assert run["result"] == {"authorization": "Bearer [REDACTED]"}
        frames = (await client.get(f"/api/v1/executions/{run['id']}")).text
        assert TOKEN not in frames


async def test_rotating_the_master_key_while_the_server_serves_loses_nothing(
    database_url: str, tmp_path: Path, echo: str
) -> None:
    """`flowforge keys rotate` runs while API callers use credentials and sessions: every call
    keeps working, every credential (and the access tokens' signing key, sealed alike) is
    re-wrapped under the new key, and the old key opens nothing afterwards."""
    home = tmp_path / "home"
    count = 20
    async with running(database_url, home, load_examples=False, http_allow="127.0.0.1") as (
        client,
        server,
    ):
        for n in range(count):
            stored = await client.put(
                f"/api/v1/credentials/api-{n}",
                json={"connector": "http", "data": {"type": "bearer", "token": f"{TOKEN}-{n}"}},
            )
            assert stored.status_code == 201, stored.text
        old_keyring = parse_keyring((home / KEY_FILE_NAME).read_text())
        owner = await asyncio.to_thread(server.auth.directory.create_user, "o@example.org")
        await asyncio.to_thread(server.auth.directory.add_member, "default", owner.id, "owner")
        signed = await asyncio.to_thread(server.auth.start_session, owner)
        session = {"authorization": f"Bearer {signed.tokens.access_token}"}

        answers: list[int] = []
        seen: set[str] = set()
        rotating = asyncio.create_task(
            asyncio.to_thread(flowforge, "keys", "rotate", "--db", database_url, home=home)
        )
        n = 0
        while not rotating.done() or n < count:  # under load until the rotation is over
            call = await client.post(
                "/api/v1/http/request",
                json={"url": f"{echo}/"},
                headers={"x-flowforge-credential": f"api-{n % count}"},
            )
            answers.append(call.status_code)
            seen.add(call.json()["body"]["authorization"])
            me = await client.get("/api/v1/auth/me", headers=session)
            answers.append(me.status_code)
            n += 1
        rotated = await rotating
        assert rotated.returncode == 0, rotated.stderr
        assert set(answers) == {200}
        assert seen == {"Bearer [REDACTED]"}  # the echo got each token; the answers hide it

        new_keyring = parse_keyring((home / KEY_FILE_NAME).read_text())
        assert new_keyring.key_ids == (new_keyring.current.key_id,)
        rows = list(server.credentials.rows.rows())
        assert len(rows) == count + 1  # and the signing key of the access tokens
        for row in rows:
            assert row.sealed.key_id == new_keyring.current.key_id
            assert Vault(new_keyring).open(row.org_id, row.credential_id, row.sealed)
            with pytest.raises(FlowForgeError):
                Vault(old_keyring).open(row.org_id, row.credential_id, row.sealed)
        # the server picks up the re-wrapped signing key, and its sessions go on
        await asyncio.to_thread(server.auth.reload_signing_keys)
        assert (await client.get("/api/v1/auth/me", headers=session)).status_code == 200
        fresh = await asyncio.to_thread(server.auth.start_session, owner)
        again = {"authorization": f"Bearer {fresh.tokens.access_token}"}
        assert (await client.get("/api/v1/auth/me", headers=again)).status_code == 200
