"""Organisations meeting over HTTP: shares give exactly their level and end at once, the audit
log records every kind of change for its own organisation's admins only and never a secret,
credentials stay sealed and within their organisation, and error triggers stay within theirs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import Echo, assert_error, echo_server, running, workflow
from sqlalchemy import select, update

from flowforge.engine.frames import ExecutionStatus
from flowforge.security.passwords import hash_password
from flowforge.server import Server
from flowforge.store._tables import audit_log, credentials

TOKEN_A = "tok-org-a-51c4e9b2d7"
TOKEN_B = "tok-org-b-0f8a3d6e19"
ENV_TOKEN = "tok-env-77d21c0b4a"
PASSWORD = "correct horse battery"
LOOPBACK = {"load_examples": False, "http_allow": "127.0.0.1"}  # nodes may call the echo server


@pytest.fixture
def echo() -> Iterator[Echo]:
    with echo_server() as server:
        yield server


@dataclass
class Member:
    """A user of an organisation and the API key they call with."""

    user_id: str
    email: str
    key_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def org(server: Server, org_id: str) -> None:
    server.auth.directory.create_org(org_id.replace("_", " ").title(), "pro", org_id=org_id)


def member(server: Server, org_id: str, role: str, email: str) -> Member:
    directory = server.auth.directory
    user = directory.user_by_email(email) or directory.create_user(email, email.split("@")[0])
    directory.add_member(org_id, user.id, role)
    issued = server.auth.api_keys.create(
        subject=user.id, scopes=["*"], org=org_id, role=role, name=email
    )
    return Member(user.id, user.email, issued.record.key_id, issued.key)


def calling(url: str, credential: str = "api", name: str = "shared") -> dict[str, Any]:
    """A workflow that fails when asked to, else waits ``input.wait`` seconds and then calls
    ``url`` with ``credential``."""
    flow = workflow(
        name,
        {"id": "start", "type": "flow.start"},
        {"id": "check", "type": "flow.if", "params": {"condition": "{{ input.fail }}"}},
        {"id": "boom", "type": "flow.fail", "params": {"message": "asked to fail"}},
        {"id": "nap", "type": "flow.wait", "params": {"seconds": "{{ input.wait }}"}},
        {"id": "call", "type": "http.request", "credential": credential, "params": {"url": url}},
        edges=[("start", "check"), ("check", "boom"), ("check", "nap"), ("nap", "call")],
    )
    flow["edges"][1]["source_port"] = "true"
    flow["edges"][2]["source_port"] = "false"
    return flow


GO = {"fail": False, "wait": 0}
FAIL = {"fail": True, "wait": 0}
HOLD = {"fail": False, "wait": 60}


async def start(
    client: httpx.AsyncClient, who: Member | None, workflow_id: str, input: Any, wait: float = 10
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/executions?wait={wait}",
        json={"workflowId": workflow_id, "input": input},
        headers=who.headers if who else None,
    )
    assert response.status_code in (200, 202), response.text
    run: dict[str, Any] = response.json()
    return run


async def put_credential(
    client: httpx.AsyncClient, who: Member | None, credential_id: str, token: str
) -> httpx.Response:
    return await client.put(
        f"/api/v1/credentials/{credential_id}",
        json={"connector": "http", "data": {"type": "bearer", "token": token}},
        headers=who.headers if who else None,
    )


async def create(client: httpx.AsyncClient, who: Member | None, flow: dict[str, Any]) -> str:
    """The id of a new workflow of the caller's organisation."""
    response = await client.post(
        "/api/v1/workflows", json=flow, headers=who.headers if who else None
    )
    assert response.status_code == 201, response.text
    workflow_id: str = response.json()["id"]
    return workflow_id


async def listed(client: httpx.AsyncClient, who: Member) -> dict[str, str]:
    """The workflows a caller's list shows: id -> orgId."""
    page = (await client.get("/api/v1/workflows", headers=who.headers)).json()
    return {item["id"]: item["orgId"] for item in page["items"]}


# -- shares


async def may(
    client: httpx.AsyncClient,
    server: Server,
    owner: Member,
    who: Member,
    workflow_id: str,
    failed_id: str,
) -> set[str]:
    """Which of the things one can do to a workflow and its runs ``who`` may do: each is
    tried; a refusal must be 403 (the workflow is visible, the act is not allowed)."""
    h = who.headers
    done = await start(client, owner, workflow_id, GO)
    held = await start(client, owner, workflow_id, HOLD, wait=0)
    versions = (await client.get(f"/api/v1/workflows/{workflow_id}", headers=owner.headers)).json()
    edited = {**versions["definition"], "description": f"saved over {versions['version']}"}
    attempts: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
        "get": lambda: client.get(f"/api/v1/workflows/{workflow_id}", headers=h),
        "export": lambda: client.get(f"/api/v1/workflows/{workflow_id}/export", headers=h),
        "versions": lambda: client.get(f"/api/v1/workflows/{workflow_id}/versions", headers=h),
        "list runs": lambda: client.get(f"/api/v1/executions?workflowId={workflow_id}", headers=h),
        "get run": lambda: client.get(f"/api/v1/executions/{done['id']}", headers=h),
        "start": lambda: client.post(
            "/api/v1/executions?wait=10", json={"workflowId": workflow_id, "input": GO}, headers=h
        ),
        "retry": lambda: client.post(f"/api/v1/executions/{failed_id}/retry?wait=10", headers=h),
        "rerun": lambda: client.post(
            f"/api/v1/executions/{failed_id}/rerun?wait=10",
            json={"node": "check", "input": GO},
            headers=h,
        ),
        "cancel": lambda: client.post(f"/api/v1/executions/{held['id']}/cancel", headers=h),
        "save": lambda: client.put(f"/api/v1/workflows/{workflow_id}", json=edited, headers=h),
        "delete run": lambda: client.delete(f"/api/v1/executions/{done['id']}", headers=h),
        "list shares": lambda: client.get(f"/api/v1/workflows/{workflow_id}/shares", headers=h),
        "share": lambda: client.put(
            f"/api/v1/workflows/{workflow_id}/shares",
            json={"granteeKind": "org", "grantee": "org_c", "access": "view"},
            headers=h,
        ),
        "delete": lambda: client.delete(f"/api/v1/workflows/{workflow_id}", headers=h),
    }
    allowed = set()
    for what, call in attempts.items():
        response = await call()
        if response.status_code < 300:
            allowed.add(what)
            if what in ("start", "retry", "rerun"):  # the grantee's runs are the owner's
                run = response.json()
                assert server.store.get_execution(run["id"]).org_id == "org_a"
                assert run["status"] in ("COMPLETED", "FAILED"), run
        else:
            assert_error(response, 403, "FORBIDDEN")
    if "cancel" not in allowed:
        await client.post(f"/api/v1/executions/{held['id']}/cancel", headers=owner.headers)
    return allowed


VIEW = {"get", "export", "versions", "list runs", "get run"}
RUN = VIEW | {"start", "retry", "rerun", "cancel"}
EDIT = RUN | {"save"}


async def test_each_share_level_gives_exactly_its_permissions(
    database_url: str, tmp_path: Path, echo: Echo
) -> None:
    async with running(database_url, tmp_path, **LOOPBACK) as (client, server):
        org(server, "org_a")
        org(server, "org_b")
        org(server, "org_c")
        editor = member(server, "org_a", "editor", "ed@a.test")
        guest = member(server, "org_b", "editor", "guest@b.test")
        assert (await put_credential(client, editor, "api", TOKEN_A)).status_code == 201
        assert (await put_credential(client, guest, "api", TOKEN_B)).status_code == 201
        wf = await create(client, editor, calling(echo.url))
        failed = await start(client, editor, wf, FAIL)
        assert failed["status"] == "FAILED"

        # not shared: it does not exist for org B, by id or by name
        for path in (
            f"/api/v1/workflows/{wf}",
            "/api/v1/workflows/shared",
            f"/api/v1/executions/{failed['id']}",
            f"/api/v1/executions?workflowId={wf}",
        ):
            assert_error(await client.get(path, headers=guest.headers), 404, "NOT_FOUND")
        assert wf not in await listed(client, guest)

        for level, expected in (("view", VIEW), ("run", RUN), ("edit", EDIT)):
            granted = await client.put(
                f"/api/v1/workflows/{wf}/shares",
                json={"granteeKind": "user", "grantee": guest.email.upper(), "access": level},
                headers=editor.headers,
            )
            assert granted.status_code == 200, granted.text
            share = granted.json()
            assert (share["granteeKind"], share["granteeId"], share["access"]) == (
                "user",
                guest.user_id,
                level,
            )
            assert share["grantedBy"] == editor.key_id
            echo.received.clear()
            assert await may(client, server, editor, guest, wf, failed["id"]) == expected, level
            # every call went out with org A's credential, whoever started the run
            assert set(echo.received) <= {f"Bearer {TOKEN_A}"} and echo.received
        shares = (await client.get(f"/api/v1/workflows/{wf}/shares", headers=editor.headers)).json()
        assert [(s["granteeKind"], s["granteeId"], s["access"]) for s in shares] == [
            ("user", guest.user_id, "edit")
        ]
        assert (await listed(client, guest))[wf] == "org_a"
        # runs the guest started are org A's: in its list, not in org B's
        mine = (await client.get("/api/v1/executions?limit=200", headers=guest.headers)).json()
        theirs = (await client.get("/api/v1/executions?limit=200", headers=editor.headers)).json()
        assert mine["items"] == [] and len(theirs["items"]) > 10
        assert f"Bearer {TOKEN_B}" not in echo.received

        # revoked: gone at once, the runs with it
        revoked = await client.delete(
            f"/api/v1/workflows/{wf}/shares/user/{guest.user_id}", headers=editor.headers
        )
        assert revoked.status_code == 204
        for path in (f"/api/v1/workflows/{wf}", f"/api/v1/executions/{failed['id']}"):
            assert_error(await client.get(path, headers=guest.headers), 404, "NOT_FOUND")
        gone = await client.post(
            "/api/v1/executions", json={"workflowId": wf, "input": GO}, headers=guest.headers
        )
        assert_error(gone, 404, "NOT_FOUND")
        assert wf not in await listed(client, guest)
        again = await client.delete(
            f"/api/v1/workflows/{wf}/shares/user/{guest.user_id}", headers=editor.headers
        )
        assert_error(again, 404, "NOT_FOUND")


async def test_an_org_share_gives_each_member_at_most_their_role(
    database_url: str, tmp_path: Path, echo: Echo
) -> None:
    async with running(database_url, tmp_path, **LOOPBACK) as (client, server):
        for org_id in ("org_a", "org_b", "org_c"):
            org(server, org_id)
        editor = member(server, "org_a", "editor", "ed@a.test")
        viewer = member(server, "org_b", "viewer", "viewer@b.test")
        colleague = member(server, "org_b", "editor", "colleague@b.test")
        outsider = member(server, "org_c", "owner", "owner@c.test")
        await put_credential(client, editor, "api", TOKEN_A)
        wf = await create(client, editor, calling(echo.url))
        failed = await start(client, editor, wf, FAIL)

        granted = await client.put(
            f"/api/v1/workflows/{wf}/shares",
            json={"granteeKind": "org", "grantee": "org_b", "access": "edit"},
            headers=editor.headers,
        )
        assert granted.status_code == 200 and granted.json()["granteeId"] == "org_b"
        assert await may(client, server, editor, viewer, wf, failed["id"]) == VIEW
        assert await may(client, server, editor, colleague, wf, failed["id"]) == EDIT
        assert (await listed(client, viewer))[wf] == "org_a"
        assert_error(
            await client.get(f"/api/v1/workflows/{wf}", headers=outsider.headers), 404, "NOT_FOUND"
        )

        # lowered to view: the colleague loses what the share no longer gives, at once
        lowered = await client.put(
            f"/api/v1/workflows/{wf}/shares",
            json={"granteeKind": "org", "grantee": "org_b", "access": "view"},
            headers=editor.headers,
        )
        assert lowered.json()["access"] == "view"
        assert await may(client, server, editor, colleague, wf, failed["id"]) == VIEW

        # a share to the viewer in person is theirs whatever their role
        await client.put(
            f"/api/v1/workflows/{wf}/shares",
            json={"granteeKind": "user", "grantee": viewer.user_id, "access": "run"},
            headers=editor.headers,
        )
        assert await may(client, server, editor, viewer, wf, failed["id"]) == RUN

        revoked = await client.delete(
            f"/api/v1/workflows/{wf}/shares/org/org_b", headers=editor.headers
        )
        assert revoked.status_code == 204
        assert_error(
            await client.get(f"/api/v1/workflows/{wf}", headers=colleague.headers), 404, "NOT_FOUND"
        )
        assert wf not in await listed(client, colleague)
        still = await client.get(f"/api/v1/workflows/{wf}", headers=viewer.headers)
        assert still.status_code == 200  # by the share in person


async def test_shares_go_outside_the_organisation_to_someone_who_exists(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, server):
        org(server, "org_a")
        org(server, "org_b")
        editor = member(server, "org_a", "editor", "ed@a.test")
        colleague = member(server, "org_a", "viewer", "colleague@a.test")
        guest = member(server, "org_b", "editor", "guest@b.test")
        wf = await create(client, editor, workflow("mine", {"id": "start", "type": "flow.start"}))
        url = f"/api/v1/workflows/{wf}/shares"

        for grantee_kind, grantee in (
            ("user", colleague.email),
            ("user", colleague.user_id),
            ("org", "org_a"),
            ("user", "nobody@nowhere.test"),
            ("user", "usr_0000000000000000"),
            ("org", "org_nowhere"),
        ):
            refused = await client.put(
                url,
                json={"granteeKind": grantee_kind, "grantee": grantee, "access": "view"},
                headers=editor.headers,
            )
            error = assert_error(refused, 422, "VALIDATION_ERROR")
            assert error["details"][0]["field"] == "body.grantee", grantee
        bad_level = await client.put(
            url,
            json={"granteeKind": "user", "grantee": guest.email, "access": "admin"},
            headers=editor.headers,
        )
        assert_error(bad_level, 422, "VALIDATION_ERROR")
        assert (await client.get(url, headers=editor.headers)).json() == []

        # a viewer may not share; an editor may, with a user of another organisation
        to_guest = {"granteeKind": "user", "grantee": guest.user_id, "access": "view"}
        by_viewer = await client.put(url, json=to_guest, headers=colleague.headers)
        assert_error(by_viewer, 403, "FORBIDDEN")
        assert (await client.put(url, json=to_guest, headers=editor.headers)).status_code == 200
        assert [s.grantee_id for s in server.shares.of_workflow(wf)] == [guest.user_id]
        # the workflow's shares go with it
        deleted = await client.delete(f"/api/v1/workflows/{wf}", headers=editor.headers)
        assert deleted.status_code == 204
        assert server.shares.of_workflow(wf) == []


# -- the audit log


async def test_the_audit_log_records_every_kind_of_change(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, server):
        org(server, "org_b")
        me = (await client.get("/api/v1/auth/me")).json()
        tests_key = me["keyId"]
        # (action, actor, target, request id) of every change made below
        expected: list[tuple[str, str | None, str | None, str]] = []

        def saw(
            response: httpx.Response, action: str, target: str | None, actor: str | None = None
        ) -> Any:
            assert response.status_code < 300, response.text
            expected.append(
                (
                    action,
                    tests_key if actor is None else actor,
                    target,
                    response.headers["x-request-id"],
                )
            )
            return response.json() if response.content else None

        flow = calling("http://127.0.0.1:9/", name="audited")
        response = await client.post("/api/v1/workflows", json=flow)
        wf = saw(response, "workflow.created", response.json()["id"])["id"]
        saw(
            await client.put(f"/api/v1/workflows/{wf}", json={**flow, "description": "v2"}),
            "workflow.updated",
            wf,
        )
        saw(await client.post(f"/api/v1/workflows/{wf}/activate"), "workflow.activated", wf)

        response = await client.post(
            "/api/v1/executions?wait=10", json={"workflowId": wf, "input": FAIL}
        )
        failed = saw(response, "execution.started", response.json()["id"])
        response = await client.post(f"/api/v1/executions/{failed['id']}/retry?wait=10")
        saw(response, "execution.retried", response.json()["id"])
        response = await client.post(
            f"/api/v1/executions/{failed['id']}/rerun?wait=10",
            json={"node": "check", "input": FAIL},
        )
        saw(response, "execution.rerun", response.json()["id"])
        response = await client.post("/api/v1/executions", json={"workflowId": wf, "input": HOLD})
        held = saw(response, "execution.started", response.json()["id"])
        saw(
            await client.post(f"/api/v1/executions/{held['id']}/cancel"),
            "execution.cancelled",
            held["id"],
        )
        saw(
            await client.delete(f"/api/v1/executions/{failed['id']}"),
            "execution.deleted",
            failed["id"],
        )

        response = await client.post("/api/v1/api-keys", json={"name": "ci", "role": "viewer"})
        made = saw(response, "apikey.created", response.json()["id"])
        rotated = saw(
            await client.post(f"/api/v1/api-keys/{made['id']}/rotate", json={}),
            "apikey.rotated",
            made["id"],
        )
        saw(await client.delete(f"/api/v1/api-keys/{made['id']}"), "apikey.revoked", made["id"])

        saw(
            await put_credential(client, None, "vault-me", TOKEN_A),
            "credential.created",
            "vault-me",
        )
        saw(
            await put_credential(client, None, "vault-me", TOKEN_B),
            "credential.replaced",
            "vault-me",
        )
        saw(await client.delete("/api/v1/credentials/vault-me"), "credential.deleted", "vault-me")

        response = await client.post(
            "/api/v1/orgs/default/members", json={"email": "new@d.test", "role": "viewer"}
        )
        added = saw(response, "member.added", response.json()["userId"])
        newcomer = added["userId"]
        saw(
            await client.patch(f"/api/v1/orgs/default/members/{newcomer}", json={"role": "editor"}),
            "member.role_changed",
            newcomer,
        )
        saw(
            await client.delete(f"/api/v1/orgs/default/members/{newcomer}"),
            "member.removed",
            newcomer,
        )

        share = {"granteeKind": "org", "grantee": "org_b", "access": "run"}
        saw(await client.put(f"/api/v1/workflows/{wf}/shares", json=share), "share.granted", wf)
        saw(await client.delete(f"/api/v1/workflows/{wf}/shares/org/org_b"), "share.revoked", wf)
        saw(
            await client.patch("/api/v1/orgs/default", json={"name": "Renamed"}),
            "org.updated",
            "default",
        )

        user = server.auth.directory.create_user(
            "ada@d.test", "Ada", password_hash=hash_password(PASSWORD)
        )
        server.auth.directory.add_member("default", user.id, "viewer")
        wrong = await client.post(
            "/api/v1/auth/login", json={"email": "ada@d.test", "password": "not it at all"}
        )
        assert_error(wrong, 401, "UNAUTHORIZED")
        expected.append(("auth.login_failed", None, user.id, wrong.headers["x-request-id"]))
        tokens = saw(
            await client.post(
                "/api/v1/auth/login", json={"email": "ADA@d.test", "password": PASSWORD}
            ),
            "auth.login",
            user.id,
            actor=user.id,
        )
        saw(
            await client.post("/api/v1/auth/logout", json={"refreshToken": tokens["refreshToken"]}),
            "auth.logout",
            user.id,
            actor=user.id,
        )
        before_delete = datetime.now(UTC)
        saw(await client.delete(f"/api/v1/workflows/{wf}"), "workflow.deleted", wf)

        # a failed sign-in is recorded after its answer (so that its time tells nothing)
        for _ in range(100):
            failed = await client.get("/api/v1/audit", params={"action": "auth.login_failed"})
            if failed.json()["items"]:
                break
            await asyncio.sleep(0.05)
        everything = (await client.get("/api/v1/audit?limit=200")).json()
        entries = everything["items"]
        assert everything["nextCursor"] is None
        for action, actor, target, request_id in expected:
            found = [e for e in entries if e["requestId"] == request_id and e["action"] == action]
            assert len(found) == 1, (action, request_id)
            entry = found[0]
            assert (entry["actor"], entry["targetId"], entry["orgId"], entry["ip"]) == (
                actor,
                target,
                "default",
                "127.0.0.1",
            ), entry
            assert entry["actorKind"] == (
                "key" if actor == tests_key else "user" if actor else "anonymous"
            )
        assert len(entries) == len(expected)  # and nothing else
        ids = [e["id"] for e in entries]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
        renamed = next(e for e in entries if e["action"] == "org.updated")
        assert renamed["details"] == {"name": {"from": "Default", "to": "Renamed"}}
        granted = next(e for e in entries if e["action"] == "share.granted")
        assert granted["details"]["access"] == {"from": None, "to": "run"}

        # filters
        async def audit(**params: Any) -> list[dict[str, Any]]:
            response = await client.get("/api/v1/audit", params={"limit": 200, **params})
            assert response.status_code == 200, response.text
            items: list[dict[str, Any]] = response.json()["items"]
            return items

        assert [e["id"] for e in await audit(action="workflow.updated")] == [
            e["id"] for e in entries if e["action"] == "workflow.updated"
        ]
        prefixed = await audit(action="workflow.")
        assert {e["action"] for e in prefixed} == {
            "workflow.created",
            "workflow.updated",
            "workflow.activated",
            "workflow.deleted",
        }
        assert await audit(action="workflow") == []  # no prefix without its dot
        assert await audit(action="%.") == []  # a wildcard is a character like any other
        assert {e["action"] for e in await audit(actor=user.id)} == {"auth.login", "auth.logout"}
        assert {e["action"] for e in await audit(targetId=made["id"])} == {
            "apikey.created",
            "apikey.rotated",
            "apikey.revoked",
        }
        assert [e["action"] for e in await audit(since=before_delete.isoformat())] == [
            "workflow.deleted"
        ]
        assert "workflow.deleted" not in {
            e["action"] for e in await audit(until=before_delete.isoformat())
        }
        assert len(await audit(until=before_delete.isoformat())) == len(entries) - 1
        paged: list[int] = []
        params: dict[str, Any] = {"limit": 4}
        while True:
            page = (await client.get("/api/v1/audit", params=params)).json()
            paged += [e["id"] for e in page["items"]]
            if page["nextCursor"] is None:
                break
            params["cursor"] = page["nextCursor"]
        assert paged == ids
        assert_error(await client.get("/api/v1/audit?cursor=bm9wZQ"), 400, "INVALID_CURSOR")
        assert_error(
            await client.get("/api/v1/audit", params={"since": "2026-01-01T00:00:00"}),
            422,
            "VALIDATION_ERROR",
        )

        # another organisation's admin sees their own entries only
        admin_b = member(server, "org_b", "admin", "admin@b.test")
        made_b = await create(
            client, admin_b, workflow("b-flow", {"id": "s", "type": "flow.start"})
        )
        seen_b = (await client.get("/api/v1/audit", headers=admin_b.headers)).json()["items"]
        assert [(e["action"], e["targetId"], e["orgId"]) for e in seen_b] == [
            ("workflow.created", made_b, "org_b")
        ]
        theirs = await client.get(f"/api/v1/audit?targetId={wf}", headers=admin_b.headers)
        assert theirs.json()["items"] == []
        assert made_b not in {e["targetId"] for e in await audit()}
        for role in ("viewer", "editor"):
            someone = member(server, "default", role, f"{role}@d.test")
            assert_error(
                await client.get("/api/v1/audit", headers=someone.headers), 403, "FORBIDDEN"
            )

        # nothing secret was ever written to the log
        with server.store.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(audit_log))]
        stored = json.dumps(rows, default=str)
        service_key = client.headers["authorization"].removeprefix("Bearer ")
        for secret in (
            TOKEN_A,
            TOKEN_B,
            PASSWORD,
            "not it at all",
            service_key,
            admin_b.key,
            made["key"],
            rotated["key"],
            added["inviteToken"],
            tokens["refreshToken"],
            tokens["accessToken"],
        ):
            assert secret and secret not in stored


# -- credentials


def refused_field(response: httpx.Response) -> str:
    """The field a 422 answer names first."""
    field: str = assert_error(response, 422, "VALIDATION_ERROR")["details"][0]["field"]
    return field


async def test_credentials_are_sealed_and_never_shown(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, server):
        created = await put_credential(client, None, "api", TOKEN_A)
        assert created.status_code == 201, created.text
        shown = created.json()
        assert set(shown) == {"id", "connector", "keyId", "createdAt", "updatedAt"}
        assert (shown["id"], shown["connector"]) == ("api", "http")
        replaced = await put_credential(client, None, "api", TOKEN_B)
        assert replaced.status_code == 200 and replaced.json()["createdAt"] == shown["createdAt"]
        assert replaced.json()["updatedAt"] >= shown["updatedAt"]

        with server.store.engine.connect() as conn:
            rows = conn.execute(select(credentials).where(credentials.c.org_id != "_system")).all()
        assert [(r.org_id, r.id, r.connector) for r in rows] == [("default", "api", "http")]
        for value in rows[0]:
            raw = value if isinstance(value, bytes) else str(value).encode()
            for token in (TOKEN_A, TOKEN_B):
                assert token.encode() not in raw and token.encode().hex().encode() not in raw

        listing = await client.get("/api/v1/credentials")
        one = await client.get("/api/v1/credentials/api")
        for response in (listing, one):
            assert response.status_code == 200
            assert TOKEN_A not in response.text and TOKEN_B not in response.text
        assert [set(item) for item in listing.json()] == [set(shown)]
        assert one.json() == listing.json()[0]
        assert_error(await client.get("/api/v1/credentials/nothing"), 404, "NOT_FOUND")

        wrong_type = await client.put(
            "/api/v1/credentials/bad",
            json={
                "connector": "http",
                "data": {"type": "basic", "username": "u", "password": 987654321},
            },
        )
        assert refused_field(wrong_type) == "body.data"
        assert "basic.password" in wrong_type.json()["error"]["message"]
        assert "987654321" not in wrong_type.text
        for connector, data, field in (
            ("http", {"type": "bearer"}, "body.data"),
            ("nope", {}, "body.connector"),
            ("math", {}, "body.connector"),  # it takes no credential
        ):
            refused = await client.put(
                "/api/v1/credentials/bad", json={"connector": connector, "data": data}
            )
            assert refused_field(refused) == field, connector
        for size in (70_000, 150_000):  # over the vault's limit, then over the schema's
            huge = await put_credential(client, None, "bad", "x" * size)
            assert refused_field(huge) == "body.data"
            assert assert_error(huge, 422, "VALIDATION_ERROR")["details"][0]["message"]
            assert "x" * 100 not in huge.text
        assert_error(await client.get("/api/v1/credentials/bad"), 404, "NOT_FOUND")
        bad_id = await put_credential(client, None, "-dash-first", TOKEN_A)
        assert_error(bad_id, 422, "VALIDATION_ERROR")

        deleted = await client.delete("/api/v1/credentials/api")
        assert deleted.status_code == 204
        assert (await client.get("/api/v1/credentials")).json() == []
        assert_error(await client.delete("/api/v1/credentials/api"), 404, "NOT_FOUND")


async def test_credentials_stay_in_their_organisation(
    database_url: str, tmp_path: Path, echo: Echo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "FLOWFORGE_CREDENTIAL_ENV_API", json.dumps({"type": "bearer", "token": ENV_TOKEN})
    )
    async with running(database_url, tmp_path, **LOOPBACK) as (client, server):
        org(server, "org_a")
        org(server, "org_b")
        alice = member(server, "org_a", "editor", "alice@a.test")
        bob = member(server, "org_b", "owner", "bob@b.test")
        viewer = member(server, "org_a", "viewer", "viewer@a.test")
        await put_credential(client, alice, "api", TOKEN_A)

        # org B cannot see it...
        assert_error(
            await client.get("/api/v1/credentials/api", headers=bob.headers), 404, "NOT_FOUND"
        )
        assert (await client.get("/api/v1/credentials", headers=bob.headers)).json() == []
        assert_error(
            await client.delete("/api/v1/credentials/api", headers=bob.headers), 404, "NOT_FOUND"
        )
        assert_error(
            await client.get("/api/v1/credentials", headers=viewer.headers), 403, "FORBIDDEN"
        )

        # ...nor use it in a service call...
        async def call(who: Member | None, credential: str) -> httpx.Response:
            return await client.post(
                "/api/v1/http/request",
                json={"url": echo.url},
                headers={**(who.headers if who else {}), "X-FlowForge-Credential": credential},
            )

        assert (await call(alice, "api")).status_code == 200
        assert echo.received == [f"Bearer {TOKEN_A}"]
        refused = await call(bob, "api")
        error = assert_error(refused, 422, "ACTION_FAILED")
        assert "no credential 'api'" in error["message"]
        assert_error(await call(viewer, "api"), 403, "FORBIDDEN")
        assert echo.received == [f"Bearer {TOKEN_A}"]

        # ...nor in a run
        run = await start(client, bob, await create(client, bob, calling(echo.url)), GO)
        assert run["status"] == "FAILED"
        assert (run["error"]["node"], run["error"]["type"]) == ("call", "CredentialError")
        assert TOKEN_A not in json.dumps(run)
        assert echo.received == [f"Bearer {TOKEN_A}"]

        # the operator's environment serves the default organisation's runs only
        env_flow = calling(echo.url, credential="env-api", name="env")
        ok = await start(client, None, await create(client, None, env_flow), GO)
        assert ok["status"] == "COMPLETED", ok
        assert echo.received[-1] == f"Bearer {ENV_TOKEN}"
        denied = await start(client, bob, await create(client, bob, env_flow), GO)
        assert (denied["status"], denied["error"]["type"]) == ("FAILED", "CredentialError")
        assert ENV_TOKEN not in json.dumps(denied)
        assert_error(await call(bob, "env-api"), 422, "ACTION_FAILED")
        assert (await call(None, "env-api")).status_code == 200
        assert echo.received.count(f"Bearer {ENV_TOKEN}") == 2 and len(echo.received) == 3


async def test_sealed_values_swapped_between_rows_open_for_neither(
    database_url: str, tmp_path: Path, echo: Echo
) -> None:
    async with running(database_url, tmp_path, **LOOPBACK) as (client, server):
        await put_credential(client, None, "one", TOKEN_A)
        await put_credential(client, None, "two", TOKEN_B)
        wf = await create(client, None, calling(echo.url, credential="two", name="uses-two"))
        with server.store.engine.connect() as conn:
            sealed = {
                r.id: {k: getattr(r, k) for k in ("key_id", "wrapped_key", "nonce", "ciphertext")}
                for r in conn.execute(select(credentials).where(credentials.c.org_id == "default"))
            }

        def overwrite(values: dict[str, dict[str, Any]]) -> None:
            with server.store.engine.begin() as conn:
                for credential_id, columns in values.items():
                    conn.execute(
                        update(credentials)
                        .where(credentials.c.org_id == "default", credentials.c.id == credential_id)
                        .values(columns)
                    )

        swapped_ciphertext = {
            "one": {"ciphertext": sealed["two"]["ciphertext"]},
            "two": {"ciphertext": sealed["one"]["ciphertext"]},
        }
        for tampering in (swapped_ciphertext, {"one": sealed["two"], "two": sealed["one"]}):
            overwrite(tampering)
            run = await start(client, None, wf, GO)
            assert run["status"] == "FAILED", run
            assert (run["error"]["node"], run["error"]["type"]) == ("call", "CredentialError")
            journal = (await client.get(f"/api/v1/executions/{run['id']}")).text
            refused = await client.post(
                "/api/v1/http/request",
                json={"url": echo.url},
                headers={"X-FlowForge-Credential": "one"},
            )
            assert_error(refused, 422, "ACTION_FAILED")
            for text in (journal, refused.text):
                assert TOKEN_A not in text and TOKEN_B not in text
            assert echo.received == []

        overwrite(sealed)  # put back as they were, they open again
        run = await start(client, None, wf, GO)
        assert run["status"] == "COMPLETED", run
        assert echo.received == [f"Bearer {TOKEN_B}"]


# -- error triggers


async def test_error_triggers_fire_for_their_own_organisation_only(
    database_url: str, tmp_path: Path
) -> None:
    watcher = workflow(
        "on-failure",
        {"id": "failed", "type": "trigger.error"},  # watches every other workflow
        {
            "id": "note",
            "type": "flow.set",
            "params": {"values": {"run": "{{ trigger.execution.id }}"}},
        },
    )

    failing = workflow(
        "breaks",
        {"id": "start", "type": "flow.start"},
        {"id": "boom", "type": "flow.fail", "params": {"message": "broken"}},
    )
    async with running(database_url, tmp_path, load_examples=False) as (client, server):
        org(server, "org_a")
        org(server, "org_b")
        alice = member(server, "org_a", "editor", "alice@a.test")
        bob = member(server, "org_b", "editor", "bob@b.test")
        watches: dict[str, str] = {}
        breaks: dict[str, str] = {}
        for who, org_id in ((alice, "org_a"), (bob, "org_b")):
            watches[org_id] = await create(client, who, watcher)
            breaks[org_id] = await create(client, who, failing)
            activated = await client.post(
                f"/api/v1/workflows/{watches[org_id]}/activate", headers=who.headers
            )
            assert activated.json()["active"] is True

        async def handled(org_id: str, count: int) -> list[dict[str, Any]]:
            """The runs of an organisation's error workflow, once there are ``count``
            finished ones."""
            for _ in range(200):
                runs = server.store.list_executions(workflow_id=watches[org_id])
                if len(runs) >= count and all(r.status == ExecutionStatus.COMPLETED for r in runs):
                    break
                await asyncio.sleep(0.05)
            return [{"id": r.id, "input": r.input, "org": r.org_id} for r in runs]

        failed_b = await start(client, bob, breaks["org_b"], None)
        assert failed_b["status"] == "FAILED"
        (b_handled,) = await handled("org_b", 1)
        assert b_handled["input"]["execution"]["id"] == failed_b["id"]
        assert b_handled["org"] == "org_b"

        failed_a = await start(client, alice, breaks["org_a"], None)
        assert failed_a["status"] == "FAILED"
        # by now org A's watcher has had all the time it needed to answer either failure
        a_handled = await handled("org_a", 1)
        assert [r["input"]["execution"]["id"] for r in a_handled] == [failed_a["id"]]
        assert a_handled[0]["org"] == "org_a"
        assert len(await handled("org_b", 1)) == 1
        # and the default organisation's own runs stay apart too
        assert server.store.list_executions(org_id="default") == []
