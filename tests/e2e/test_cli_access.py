"""Signing in and the operator's commands as a user runs them: a real ``flowforge serve`` and
the real CLI in subprocesses, each CLI with a FLOWFORGE_HOME of its own (so its own
``logins.json``). The setup token of a first start, every way of ``flowforge login``, saved
logins refreshed behind the user's back, ``logout``, ``whoami``, ``keys``, ``orgs``, signing key
rotation and ``--insecure-no-auth``."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.messages import encode_defunct

from conftest import free_port
from conftest import serve as served
from flowforge.security.apikeys import generate_api_key

ROOT = Path(__file__).parents[2]
PASSWORD = "correct horse battery staple"
SETUP = re.compile(r"flowforge login --server (\S+) --setup-token (\S+)")
API_KEY = re.compile(r"^ffk_[A-Za-z0-9]{12}_\S+$")
# changes made by the CLI (another process) reach a server's caches within this many seconds
QUICK_CACHE = {"FLOWFORGE_AUTH_CACHE_S": "1"}


# -- a server and the CLI, each in its own process


@dataclass
class Served:
    """A running ``flowforge serve``: its URL, its data folder and what it wrote to stderr."""

    url: str
    home: Path
    log: Path

    def said(self) -> str:
        return self.log.read_text()


@contextmanager
def serve(
    database_url: str,
    home: Path,
    *extra: str,
    admin_key: str | None = None,
    port: int | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Served]:
    """``conftest.serve``, without an admin API key unless ``admin_key`` is given (one hides
    the setup token), and with what the server said."""
    with served(database_url, home, *extra, admin_key=admin_key, port=port, env=env) as url:
        yield Served(url, home, home / "server.log")


def cli(
    home: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``flowforge ARGS`` with FLOWFORGE_HOME=home and no FLOWFORGE_API_KEY unless ``env``
    sets it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("FLOWFORGE_")}
    return subprocess.run(
        [sys.executable, "-m", "flowforge", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, "FLOWFORGE_HOME": str(home), "COLUMNS": "300", **(env or {})},
        cwd=ROOT,
    )


def said(done: subprocess.CompletedProcess[str]) -> str:
    """What a command printed, on one line (Rich wraps long messages)."""
    return " ".join((done.stdout + done.stderr).split())


def saved(home: Path) -> dict[str, Any]:
    logins: dict[str, Any] = json.loads((home / "logins.json").read_text())
    return logins


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def invite(url: str, admin_key: str, email: str, role: str) -> str:
    """Add a member with this address and role to the default organisation; their invite."""
    answer = httpx.post(
        f"{url}/api/v1/orgs/default/members",
        json={"email": email, "role": role},
        headers=bearer(admin_key),
    )
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["inviteToken"]
    return token


def wait_for(check: Callable[[], bool], seconds: float = 15) -> None:
    """Until ``check`` holds (a change another process made reaching a server's caches)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


# -- the owner's first sign-in, saved logins, logout


@pytest.mark.slow
def test_first_start_setup_token_password_login_refresh_and_logout(
    database_url: str, tmp_path: Path
) -> None:
    ada, bo, eve = tmp_path / "ada", tmp_path / "bo", tmp_path / "eve"
    with serve(database_url, tmp_path / "server") as server:
        url = server.url
        [(printed_url, token)] = SETUP.findall(server.said())
        assert printed_url == url

        # the owner chooses an address and a password with the setup token
        done = cli(
            ada,
            *("login", "--server", url, "--setup-token", token, "--email", "ada@example.com"),
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        assert done.returncode == 0, done.stderr
        assert f"signed in to {url} as ada@example.com (owner of default)" in said(done)
        logins = ada / "logins.json"
        assert stat.S_IMODE(logins.stat().st_mode) == 0o600
        assert PASSWORD not in logins.read_text()
        login = saved(ada)[url]
        assert set(login) == {"access_token", "refresh_token", "access_expires_at", "org", "email"}
        assert login["org"] == "default" and login["email"] == "ada@example.com"

        # the setup token works once
        again = cli(
            eve, "login", "--server", url, "--setup-token", token, "--email", "eve@example.com",
            "--password-stdin", stdin="x" * 9,
        )  # fmt: skip
        assert again.returncode == 2
        assert "this invite or setup token is unknown, used or expired" in said(again)
        assert not (eve / "logins.json").exists()

        # --server commands use the saved login
        done = cli(ada, "whoami", "--server", url, "--json")
        assert done.returncode == 0, done.stderr
        me = json.loads(done.stdout)
        assert me["user"]["email"] == "ada@example.com"
        assert (me["orgId"], me["role"], me["keyId"]) == ("default", "owner", None)
        assert cli(ada, "whoami", "--server", url).stdout.split() == [
            "ada@example.com:",
            "owner",
            "of",
            "default",
        ]
        ran = cli(ada, "run", "order-alert", "--server", url, "--json", "--input", '{"id": "A"}')
        assert ran.returncode == 0, ran.stderr
        run_id = json.loads(ran.stdout)["execution_id"]
        listed = cli(ada, "executions", "list", "--server", url, "--json")
        assert listed.returncode == 0, listed.stderr
        assert [r["id"] for r in json.loads(listed.stdout)] == [run_id]
        # without a login, the same command is refused and says how to sign in
        refused = cli(eve, "executions", "list", "--server", url)
        assert refused.returncode == 2
        assert f"sign in with flowforge login --server {url}" in said(refused)

        # e-mail and password, in another home; a wrong password saves nothing
        done = cli(
            bo, "login", "--server", url, "--email", "ADA@example.com", "--password-stdin",
            stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "as ada@example.com (owner of default)" in said(done)
        wrong = cli(
            eve, "login", "--server", url, "--email", "ada@example.com", "--password-stdin",
            stdin="not the password\n",
        )  # fmt: skip
        assert wrong.returncode == 2
        assert "wrong e-mail address or password" in said(wrong)
        assert not (eve / "logins.json").exists()
        unknown = cli(
            eve, "login", "--server", url, "--email", "nobody@example.com", "--password-stdin",
            stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert unknown.returncode == 2 and "wrong e-mail address or password" in said(unknown)

        # a saved access token that is no longer good is refreshed, and the new tokens saved
        first = saved(bo)[url]
        data = saved(bo)
        data[url]["access_token"] = "not.a.token"
        (bo / "logins.json").write_text(json.dumps(data))
        done = cli(bo, "whoami", "--server", url, "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["user"]["email"] == "ada@example.com"
        second = saved(bo)[url]
        assert second["access_token"] not in (first["access_token"], "not.a.token")
        assert second["refresh_token"] != first["refresh_token"]
        assert stat.S_IMODE((bo / "logins.json").stat().st_mode) == 0o600
        # one about to expire is refreshed before it is sent
        data = saved(bo)
        data[url]["access_expires_at"] = "2000-01-01T00:00:00+00:00"
        (bo / "logins.json").write_text(json.dumps(data))
        assert cli(bo, "whoami", "--server", url).returncode == 0
        third = saved(bo)[url]
        assert third["refresh_token"] != second["refresh_token"]
        assert datetime.fromisoformat(third["access_expires_at"]) > datetime.now(UTC)
        # each refresh token works once: the used ones no longer refresh
        used = httpx.post(
            f"{url}/api/v1/auth/refresh", json={"refreshToken": first["refresh_token"]}
        )
        assert used.status_code == 401

        # logout ends the session at the server, not only in the file
        refresh = saved(ada)[url]["refresh_token"]
        done = cli(ada, "logout", "--server", url)
        assert done.returncode == 0, done.stderr
        assert f"signed out of {url}" in said(done)
        assert url not in saved(ada)
        answer = httpx.post(f"{url}/api/v1/auth/refresh", json={"refreshToken": refresh})
        assert answer.status_code == 401, answer.text
        done = cli(ada, "whoami", "--server", url)
        assert done.returncode == 2 and f"flowforge login --server {url}" in said(done)
        done = cli(ada, "logout", "--server", url)
        assert done.returncode == 1 and f"not signed in to {url}" in said(done)
        # the other session goes on
        assert cli(bo, "whoami", "--server", url).returncode == 0

    # once the owner has a password, a restart prints no setup token; sessions outlive it
    port = int(url.rsplit(":", 1)[1])
    with serve(database_url, tmp_path / "server", port=port) as server:
        assert len(SETUP.findall(server.said())) == 1  # the first start's
        done = cli(bo, "whoami", "--server", url)
        assert done.returncode == 0, done.stderr


# -- signing in with a key


def _pem_key(path: Path, curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
    private = ec.generate_private_key(curve)
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return private


def _register(url: str, access_token: str, account: str, sign: Callable[[str], str]) -> str:
    """Register a key for the signed-in user, as a web page would: a challenge, its signature;
    give the account as the server names it."""
    challenge = httpx.post(f"{url}/api/v1/auth/challenge", json={"account": account})
    assert challenge.status_code == 200, challenge.text
    issued = challenge.json()
    answer = httpx.post(
        f"{url}/api/v1/auth/me/accounts",
        json={
            "account": issued["account"],
            "message": issued["message"],
            "signature": sign(issued["message"]),
            "label": "laptop",
        },
        headers=bearer(access_token),
    )
    assert answer.status_code == 201, answer.text
    registered: str = answer.json()["account"]
    assert registered == issued["account"]
    return registered


@pytest.mark.slow
def test_invite_then_key_file_login_with_pem_and_ethereum_keys(
    database_url: str, tmp_path: Path
) -> None:
    admin = generate_api_key()
    bo = tmp_path / "bo"
    with serve(database_url, tmp_path / "server", admin_key=admin) as server:
        url = server.url
        assert SETUP.search(server.said()) is None  # an admin key is configured
        # an invite is accepted like the setup token; it knows the address already, and with
        # --password-stdin nothing else is asked
        token = invite(url, admin, "bo@example.com", "editor")
        done = cli(
            bo, "login", "--server", url, "--setup-token", token, "--password-stdin",
            stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "as bo@example.com (editor of default)" in said(done)
        session = saved(bo)[url]["access_token"]

        keys: dict[str, Path] = {}
        for name, curve in (("p256", ec.SECP256R1()), ("k256", ec.SECP256K1())):
            keys[name] = tmp_path / f"{name}.pem"
            private = _pem_key(keys[name], curve)
            public = (
                private.public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                .decode()
            )
            _register(
                url,
                session,
                public,
                lambda m, k=private: k.sign(m.encode(), ec.ECDSA(hashes.SHA256())).hex(),
            )
        wallet = Account.create()
        keys["ethereum"] = tmp_path / "ethereum.key"
        keys["ethereum"].write_text(bytes(wallet.key).hex() + "\n")
        registered = _register(
            url,
            session,
            wallet.address,
            lambda m: "0x" + bytes(wallet.sign_message(encode_defunct(text=m)).signature).hex(),
        )
        assert registered.lower().endswith(wallet.address.lower()[2:])
        listed = httpx.get(f"{url}/api/v1/auth/me/accounts", headers=bearer(session)).json()
        assert len(listed) == 3 and {a["label"] for a in listed} == {"laptop"}

        for name, key_file in keys.items():
            home = tmp_path / f"by-{name}"
            done = cli(home, "login", "--server", url, "--key-file", str(key_file))
            assert done.returncode == 0, (name, done.stderr)
            assert "as bo@example.com (editor of default)" in said(done)
            login = saved(home)[url]
            assert login["refresh_token"] and "email" not in login
            me = cli(home, "whoami", "--server", url, "--json")
            assert me.returncode == 0, me.stderr
            assert json.loads(me.stdout)["user"]["email"] == "bo@example.com", name

        # a key nobody registered signs in nobody; a file that is no key is refused
        stranger = tmp_path / "stranger.pem"
        _pem_key(stranger, ec.SECP256R1())
        done = cli(tmp_path / "x", "login", "--server", url, "--key-file", str(stranger))
        assert done.returncode == 2 and "no user signs in with this key" in said(done)
        junk = tmp_path / "junk.key"
        junk.write_text("hello")
        done = cli(tmp_path / "x", "login", "--server", url, "--key-file", str(junk))
        assert done.returncode == 2
        assert "--key-file: not a PEM key nor an Ethereum key" in said(done)
        assert not (tmp_path / "x" / "logins.json").exists()


# -- API keys


@pytest.mark.slow
def test_admin_key_from_keys_generate_login_api_key_and_keys_create_list_revoke(
    database_url: str, tmp_path: Path
) -> None:
    operator = tmp_path / "server"  # the operator's commands run where the server's data is
    db = ("--db", database_url)
    generated = cli(operator, "keys", "generate")
    assert generated.returncode == 0, generated.stderr
    admin = generated.stdout.strip()
    assert API_KEY.match(admin) and generated.stdout == admin + "\n"
    assert cli(operator, "keys", "generate").stdout.strip() != admin

    with serve(database_url, operator, admin_key=admin, env=QUICK_CACHE) as server:
        url = server.url
        assert SETUP.search(server.said()) is None
        me = httpx.get(f"{url}/api/v1/auth/me", headers=bearer(admin)).json()
        assert (me["user"], me["orgId"], me["role"], me["keyId"]) == (
            None,
            "default",
            "owner",
            admin[4:16],
        )

        # login --api-key (as an argument, or from stdin)
        cy = tmp_path / "cy"
        done = cli(cy, "login", "--server", url, "--api-key", admin)
        assert done.returncode == 0, done.stderr
        assert f"as API key {admin[4:16]} (owner of default)" in said(done)
        assert saved(cy) == {url: {"api_key": admin}}
        assert stat.S_IMODE((cy / "logins.json").stat().st_mode) == 0o600
        done = cli(cy, "whoami", "--server", url)
        assert f"service API key {admin[4:16]}: owner of default" in said(done)
        piped = tmp_path / "piped"
        done = cli(piped, "login", "--server", url, "--api-key", "-", stdin=admin + "\n")
        assert done.returncode == 0, done.stderr
        assert saved(piped)[url]["api_key"] == admin
        bad = cli(tmp_path / "x", "login", "--server", url, "--api-key", "ffk_nonsense")
        assert bad.returncode == 2 and "an API key is" in said(bad)
        assert not (tmp_path / "x" / "logins.json").exists()

        # keys create prints the key alone, for $(...)
        made = cli(operator, "keys", "create", "--role", "editor", "--name", "ci", *db)
        assert made.returncode == 0, made.stderr
        editor = made.stdout.strip()
        assert API_KEY.match(editor) and made.stdout == editor + "\n"
        key_id = editor[4:16]
        assert f"API key {key_id} (editor of default)" in said(made)
        made = cli(operator, "keys", "create", "--role", "editor", "--scope", "workflows:read", *db)
        assert made.returncode == 0, made.stderr
        scoped = made.stdout.strip()

        with httpx.Client(base_url=url, headers=bearer(editor)) as as_editor:
            assert as_editor.get("/api/v1/workflows").status_code == 200
            assert as_editor.get("/api/v1/credentials").status_code == 200
            refused = as_editor.get("/api/v1/audit")
            assert refused.status_code == 403, refused.text
            assert "audit:read" in refused.json()["error"]["message"]
            assert as_editor.get("/metrics").status_code == 403
        assert httpx.get(f"{url}/api/v1/workflows", headers=bearer(scoped)).status_code == 200
        assert httpx.get(f"{url}/api/v1/credentials", headers=bearer(scoped)).status_code == 403
        # FLOWFORGE_API_KEY wins over the saved login
        done = cli(cy, "whoami", "--server", url, "--json", env={"FLOWFORGE_API_KEY": editor})
        assert (json.loads(done.stdout)["role"], json.loads(done.stdout)["keyId"]) == (
            "editor",
            key_id,
        )

        # keys list: ids, roles and scopes, never a secret
        listed = cli(operator, "keys", "list", *db, "--json")
        assert listed.returncode == 0, listed.stderr
        rows = {r["id"]: r for r in json.loads(listed.stdout)}
        assert set(rows) == {admin[4:16], key_id, scoped[4:16]}
        assert rows[key_id]["role"] == "editor" and rows[key_id]["name"] == "ci"
        assert rows[key_id]["scopes"] == ["*"] and rows[key_id]["subject"] == "service"
        assert rows[scoped[4:16]]["scopes"] == ["workflows:read"]
        assert rows[admin[4:16]]["role"] == "owner"
        assert rows[key_id]["revoked"] is False
        table = cli(operator, "keys", "list", *db)
        assert table.returncode == 0 and key_id in table.stdout
        for secret in (admin, editor, scoped):
            assert secret.rsplit("_", 1)[1] not in listed.stdout + table.stdout

        # keys revoke: the server refuses the key within FLOWFORGE_AUTH_CACHE_S
        done = cli(operator, "keys", "revoke", key_id, *db)
        assert done.returncode == 0, done.stderr
        assert f"revoked API key {key_id}" in said(done)
        wait_for(
            lambda: httpx.get(f"{url}/api/v1/workflows", headers=bearer(editor)).status_code == 401
        )
        rows = {r["id"]: r for r in json.loads(cli(operator, "keys", "list", *db, "--json").stdout)}
        assert rows[key_id]["revoked"] is True and rows[scoped[4:16]]["revoked"] is False
        assert httpx.get(f"{url}/api/v1/workflows", headers=bearer(scoped)).status_code == 200
        missing = cli(operator, "keys", "revoke", "nosuchkey123", *db)
        assert missing.returncode == 2 and "nosuchkey123" in said(missing)

        # the operator's commands leave their trace in the audit log
        audit = httpx.get(
            f"{url}/api/v1/audit", params={"action": "apikey."}, headers=bearer(admin)
        ).json()["items"]
        assert {(e["action"], e["targetId"]) for e in audit} >= {
            ("apikey.created", key_id),
            ("apikey.revoked", key_id),
        }


def test_keys_create_refuses_bad_input(database_url: str, tmp_path: Path) -> None:
    db = ("--db", database_url)
    for args, message in [
        (("--role", "wizard"), "--role/--scope: 'wizard' is not a valid Role"),
        (("--role", "editor", "--scope", "BAD SCOPE"), "invalid scope 'BAD SCOPE'"),
        (("--role", "editor", "--org", "no-such-org"), "no organisation 'no-such-org'"),
    ]:
        done = cli(tmp_path, "keys", "create", *args, *db)
        assert done.returncode == 2, (args, done.stderr)
        assert message in said(done), args
        assert done.stdout == ""  # no key
    listed = cli(tmp_path, "keys", "list", *db, "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    done = cli(tmp_path, "keys", "revoke", "nosuchkey123", *db)
    assert done.returncode == 2 and "no API key 'nosuchkey123'" in said(done)


# -- organisations


@pytest.mark.slow
def test_orgs_plan_and_list(database_url: str, tmp_path: Path) -> None:
    admin = generate_api_key()
    operator = tmp_path / "server"
    db = ("--db", database_url)
    with (
        serve(database_url, operator, admin_key=admin, env=QUICK_CACHE) as server,
        httpx.Client(base_url=server.url, headers=bearer(admin)) as client,
    ):

        def policy() -> str | None:
            answer = client.get("/api/v1/orgs/default")
            assert answer.status_code == 200, answer.text
            return answer.headers.get("ratelimit-policy")

        org = client.get("/api/v1/orgs/default").json()
        assert org["plan"] == "pro"  # FLOWFORGE_DEFAULT_PLAN
        assert policy() == "2000;w=60, 50000;w=86400"

        listed = cli(operator, "orgs", "list", *db, "--json")
        assert listed.returncode == 0, listed.stderr
        [row] = json.loads(listed.stdout)
        assert (row["id"], row["plan"], row["members"]) == ("default", "pro", 1)

        done = cli(operator, "orgs", "plan", "default", "free", *db)
        assert done.returncode == 0, done.stderr
        assert "default is on the free plan (was pro)" in said(done)
        assert client.get("/api/v1/orgs/default").json()["plan"] == "free"
        # the server's own cache of plans catches up within FLOWFORGE_AUTH_CACHE_S
        wait_for(lambda: policy() == "100;w=60, 1000;w=86400")

        assert cli(operator, "orgs", "plan", "default", "enterprise", *db).returncode == 0
        wait_for(lambda: policy() is None)  # unlimited: no RateLimit headers
        assert client.get("/api/v1/orgs/default").json()["plan"] == "enterprise"
        [row] = json.loads(cli(operator, "orgs", "list", *db, "--json").stdout)
        assert row["plan"] == "enterprise"
        table = cli(operator, "orgs", "list", *db)
        assert table.returncode == 0 and "enterprise" in table.stdout

        changes = client.get("/api/v1/audit", params={"action": "org.plan_changed"})
        assert [e["details"]["plan"] for e in changes.json()["items"]] == [
            {"from": "free", "to": "enterprise"},
            {"from": "pro", "to": "free"},
        ]

    done = cli(operator, "orgs", "plan", "default", "gold", *db)
    assert done.returncode == 2
    assert "plan: 'gold' is not one of free, basic, pro, enterprise" in said(done)
    done = cli(operator, "orgs", "plan", "no-such-org", "free", *db)
    assert done.returncode == 2 and "no organisation 'no-such-org'" in said(done)


# -- signing keys


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


@pytest.mark.slow
def test_rotate_signing_key_while_the_server_runs(database_url: str, tmp_path: Path) -> None:
    admin = generate_api_key()
    home = tmp_path / "server"  # the vault's master key is here: the CLI must use it too

    def sign_in(url: str) -> str:
        answer = httpx.post(
            f"{url}/api/v1/auth/login", json={"email": "di@example.com", "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["accessToken"]
        return token

    def works(url: str, token: str) -> bool:
        return httpx.get(f"{url}/api/v1/auth/me", headers=bearer(token)).status_code == 200

    with serve(database_url, home, admin_key=admin) as server:
        url = server.url
        token = invite(url, admin, "di@example.com", "viewer")
        accepted = httpx.post(
            f"{url}/api/v1/auth/accept", json={"token": token, "password": PASSWORD}
        )
        assert accepted.status_code == 200, accepted.text
        old = accepted.json()["accessToken"]
        [old_kid] = [k["kid"] for k in httpx.get(f"{url}/.well-known/jwks.json").json()["keys"]]
        assert _kid(old) == old_kid

        # from a home without the server's master key it cannot open the keys: it writes nothing
        elsewhere = cli(tmp_path / "elsewhere", "keys", "rotate-signing", "--db", database_url)
        assert elsewhere.returncode == 2 and "master key" in said(elsewhere)
        assert len(httpx.get(f"{url}/.well-known/jwks.json").json()["keys"]) == 1

        done = cli(home, "keys", "rotate-signing", "--db", database_url)
        assert done.returncode == 0, done.stderr
        [new_kid] = re.findall(r"signing key (\S+) is current", said(done))
        assert new_kid != old_kid
        # tokens signed before go on working
        assert works(url, old)
        assert works(url, sign_in(url))

    # a restart (on the same address: it is the tokens' issuer) signs with the new key at
    # once; the old one still verifies
    port = int(url.rsplit(":", 1)[1])
    with serve(database_url, home, admin_key=admin, port=port) as server:
        url = server.url
        kids = [k["kid"] for k in httpx.get(f"{url}/.well-known/jwks.json").json()["keys"]]
        assert kids == [new_kid, old_kid]  # the current one first
        fresh = sign_in(url)
        assert _kid(fresh) == new_kid
        assert works(url, fresh) and works(url, old)


# -- --insecure-no-auth


def test_insecure_no_auth_only_on_loopback(database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "server"
    for args, env in [
        (("--host", "0.0.0.0", "--insecure-no-auth"), {}),
        (("--host", "::"), {"FLOWFORGE_INSECURE_NO_AUTH": "true"}),
    ]:
        port = str(free_port())
        done = cli(home, "serve", *args, "--port", port, "--db", database_url, env=env)
        assert done.returncode == 2, done.stderr
        host = args[1]
        assert f"--insecure-no-auth is refused on {host}" in said(done)
        assert "listen on 127.0.0.1 (or ::1) to use it" in said(done)

    with serve(database_url, home, "--insecure-no-auth") as server:
        assert "authentication is OFF" in server.said()
        assert SETUP.search(server.said()) is None
        me = httpx.get(f"{server.url}/api/v1/auth/me")
        assert me.status_code == 200, me.text
        assert (me.json()["role"], me.json()["orgId"]) == ("owner", "default")
        assert httpx.get(f"{server.url}/api/v1/workflows").status_code == 200
        done = cli(tmp_path / "anyone", "executions", "list", "--server", server.url, "--json")
        assert done.returncode == 0 and json.loads(done.stdout) == []
