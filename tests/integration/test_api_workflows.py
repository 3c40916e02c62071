"""The workflow catalogue over HTTP: versions, import and export, locking, bad input."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml
from api_support import assert_error, running, workflow

HELLO = workflow(
    "hello",
    {"id": "start", "type": "flow.start"},
    {"id": "greet", "type": "flow.set", "params": {"values": {"text": "Hi {{ input.name }}"}}},
)


async def test_create_get_update_versions_diff_export_import_delete(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        created = await client.post("/api/v1/workflows", json=HELLO)
        assert created.status_code == 201, created.text
        wf = created.json()
        assert wf["version"] == 1 and len(wf["versionId"]) == 64 and not wf["active"]
        assert created.headers["location"] == f"/api/v1/workflows/{wf['id']}"

        got = await client.get(f"/api/v1/workflows/{wf['id']}")
        assert got.json()["definition"]["nodes"][1]["id"] == "greet"
        assert got.headers["etag"] == '"1"'
        by_name = await client.get("/api/v1/workflows/hello")
        assert by_name.json()["id"] == wf["id"]

        changed = {**HELLO, "nodes": [*HELLO["nodes"], {"id": "done", "type": "flow.noop"}]}
        changed["edges"] = [*HELLO["edges"], {"source": "greet", "target": "done"}]
        updated = await client.put(
            f"/api/v1/workflows/{wf['id']}", json=changed, headers={"If-Match": '"1"'}
        )
        assert updated.status_code == 200, updated.text
        assert updated.json()["version"] == 2
        same = await client.put(f"/api/v1/workflows/{wf['id']}", json=changed)
        assert same.json()["version"] == 2  # saving the same definition adds no version

        versions = (await client.get(f"/api/v1/workflows/{wf['id']}/versions")).json()
        assert [v["number"] for v in versions["items"]] == [2, 1]
        first = (await client.get(f"/api/v1/workflows/{wf['id']}/versions/1")).json()
        assert len(first["definition"]["nodes"]) == 2
        diff = (await client.get(f"/api/v1/workflows/{wf['id']}/diff?from=1&to=2")).json()
        assert diff["nodes"] == {"added": ["done"], "removed": [], "changed": []}
        assert diff["edges"]["added"] == ["greet:main -> done"]
        assert "+- id: done" in diff["unified"].replace("  ", "")

        exported = await client.get(f"/api/v1/workflows/{wf['id']}/export?format=yaml&version=1")
        assert exported.headers["content-type"].startswith("application/yaml")
        as_yaml = yaml.safe_load(exported.text)
        assert as_yaml["name"] == "hello" and len(as_yaml["nodes"]) == 2
        as_yaml["name"] = "hello-copy"
        imported = await client.post(
            "/api/v1/workflows/import",
            content=yaml.safe_dump(as_yaml),
            headers={"content-type": "application/yaml"},
        )
        assert imported.status_code == 201, imported.text
        assert imported.json()["versionId"] != wf["versionId"]  # the name is part of it

        listed = (await client.get("/api/v1/workflows?search=copy")).json()
        assert [w["name"] for w in listed["items"]] == ["hello-copy"]
        for bad in ("search=a%00b", "tag=%00"):  # PostgreSQL cannot hold NUL: a 422, not a 500
            refused = await client.get(f"/api/v1/workflows?{bad}")
            assert_error(refused, 422, "VALIDATION_ERROR")
            assert refused.json()["error"]["details"][0]["field"] == f"query.{bad.split('=')[0]}"

        deleted = await client.delete(f"/api/v1/workflows/{wf['id']}")
        assert deleted.status_code == 204
        assert_error(await client.get(f"/api/v1/workflows/{wf['id']}"), 404, "NOT_FOUND")


async def test_an_invalid_definition_lists_every_problem_and_stores_nothing(
    database_url: str, tmp_path: Path
) -> None:
    bad = workflow(
        "bad",
        {"id": "start", "type": "flow.start"},
        {"id": "a", "type": "flow.sett"},
        {"id": "b", "type": "flow.set", "params": {"values": "{{ nope.x }}"}},
        {"id": "c", "type": "trigger.schedule", "params": {"cron": "61 * * * *"}},
    )
    bad["edges"].append({"source": "ghost", "target": "a"})
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        error = assert_error(
            await client.post("/api/v1/workflows", json=bad), 422, "VALIDATION_ERROR"
        )
        fields = {d["field"] for d in error["details"]}
        assert {"nodes[1].type", "edges[3].source", "nodes[3].params"} <= fields, fields
        assert any("nope" in d["message"] for d in error["details"])
        assert (await client.get("/api/v1/workflows")).json()["items"] == []


async def test_bad_requests_get_clear_errors(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, load_examples=False, max_body_bytes=10_000) as (
        client,
        _,
    ):
        malformed = await client.post(
            "/api/v1/workflows", content=b'{"name": ', headers={"content-type": "application/json"}
        )
        error = assert_error(malformed, 422, "VALIDATION_ERROR")
        assert error["details"][0]["field"] == "body"
        assert "malformed JSON" in error["details"][0]["message"]

        unknown = await client.post("/api/v1/workflows", json={**HELLO, "colour": "red"})
        error = assert_error(unknown, 422, "VALIDATION_ERROR")
        assert error["details"][0]["field"] == "body.colour"

        wrong_type = await client.post(
            "/api/v1/workflows/import", content=b"name: x", headers={"content-type": "text/plain"}
        )
        assert_error(wrong_type, 415, "UNSUPPORTED_MEDIA_TYPE")
        broken_yaml = await client.post(
            "/api/v1/workflows/import",
            content=b"name: [x",
            headers={"content-type": "application/yaml"},
        )
        assert_error(broken_yaml, 422, "VALIDATION_ERROR")
        aliases = await client.post(
            "/api/v1/workflows/import",
            content=b"a: &a [1]\nb: *a\n",
            headers={"content-type": "application/yaml"},
        )
        assert_error(aliases, 422, "VALIDATION_ERROR")

        huge = await client.post(
            "/api/v1/workflows",
            content=b'{"name": "' + b"x" * 20_000 + b'"}',
            headers={"content-type": "application/json"},
        )
        assert_error(huge, 413, "PAYLOAD_TOO_LARGE")

        async def chunks():  # no Content-Length: the limit applies to the bytes received
            for _ in range(30):
                yield b"x" * 1000

        streamed = await client.post(
            "/api/v1/workflows/import",
            content=chunks(),
            headers={"content-type": "application/yaml"},
        )
        assert_error(streamed, 413, "PAYLOAD_TOO_LARGE")

        cursor = await client.get("/api/v1/workflows?cursor=not-a-cursor")
        assert_error(cursor, 400, "INVALID_CURSOR")
        forged = await client.get("/api/v1/workflows?cursor=WzEsMiwzXQ")  # [1,2,3]
        assert_error(forged, 400, "INVALID_CURSOR")
        assert_error(await client.get("/api/v1/workflows/nope"), 404, "NOT_FOUND")
        assert_error(await client.get("/api/v1/nothing-here"), 404, "NOT_FOUND")
        assert_error(await client.delete("/health"), 405, "METHOD_NOT_ALLOWED")
        assert (await client.get("/api/v1/workflows")).json()["items"] == []


async def test_request_ids_are_echoed_or_made(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        given = await client.get("/health", headers={"X-Request-ID": "abc-123"})
        assert given.headers["x-request-id"] == "abc-123"
        hostile = await client.get("/health", headers={"X-Request-ID": "a b\tc" + "x" * 300})
        assert hostile.headers["x-request-id"] != "a b\tc" + "x" * 300
        assert len(hostile.headers["x-request-id"]) == 32


async def test_stale_and_concurrent_updates_conflict(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        wf = (await client.post("/api/v1/workflows", json=HELLO)).json()
        url = f"/api/v1/workflows/{wf['id']}"

        def edit(text: str) -> dict[str, object]:
            nodes = [HELLO["nodes"][0], {**HELLO["nodes"][1], "params": {"values": {"t": text}}}]
            return {**HELLO, "nodes": nodes}

        results = await asyncio.gather(
            *(client.put(url, json=edit(f"v{i}"), headers={"If-Match": '"1"'}) for i in range(4))
        )
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200, 409, 409, 409], [r.text for r in results]
        for r in results:
            if r.status_code == 409:
                error = assert_error(r, 409, "CONFLICT")
                assert error["details"][0]["field"] == "version"
        final = (await client.get(url)).json()
        assert final["version"] == 2
        versions = (await client.get(f"{url}/versions")).json()["items"]
        assert [v["number"] for v in versions] == [2, 1]
        stale = await client.put(url, json=edit("late"), headers={"If-Match": '"1"'})
        assert_error(stale, 409, "CONFLICT")
        assert_error(
            await client.put(url, json=edit("x"), headers={"If-Match": "soon"}), 400, "BAD_REQUEST"
        )
        taken = await client.post("/api/v1/workflows", json=HELLO)
        assert_error(taken, 409, "CONFLICT")


async def test_activation_registers_webhooks_and_refuses_a_taken_path(
    database_url: str, tmp_path: Path
) -> None:
    def hook(name: str) -> dict[str, object]:
        return workflow(
            name,
            {"id": "in", "type": "trigger.webhook", "params": {"path": "/shared/path/"}},
            {"id": "out", "type": "flow.noop"},
        )

    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        first = (await client.post("/api/v1/workflows?active=true", json=hook("one"))).json()
        second = (await client.post("/api/v1/workflows", json=hook("two"))).json()
        assert first["active"] and not second["active"]
        error = assert_error(
            await client.post(f"/api/v1/workflows/{second['id']}/activate"), 409, "CONFLICT"
        )
        assert "shared/path" in error["message"]
        assert (await client.post("/hooks/shared/path", json={})).status_code == 202
        await client.post(f"/api/v1/workflows/{first['id']}/deactivate")
        assert_error(await client.post("/hooks/shared/path", json={}), 404, "WEBHOOK_NOT_FOUND")
        moved = await client.post(f"/api/v1/workflows/{second['id']}/activate")
        assert moved.status_code == 200 and moved.json()["active"]

        with_expression = hook("three")
        with_expression["nodes"][0]["params"] = {"path": "{{ vars.p }}"}  # type: ignore[index]
        error = assert_error(
            await client.post("/api/v1/workflows", json=with_expression), 422, "VALIDATION_ERROR"
        )
        assert error["details"][0]["field"] == "nodes[0].params.path"


async def test_the_examples_are_loaded_once_on_first_start(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path) as (client, _):
        names = {
            w["name"] for w in (await client.get("/api/v1/workflows?limit=200")).json()["items"]
        }
        assert {"order-alert", "webhook-echo", "nightly-report"} <= names
        active = (await client.get("/api/v1/workflows?active=true")).json()["items"]
        assert [w["name"] for w in active] == ["webhook-echo"]
        await client.delete("/api/v1/workflows/order-alert")
    async with running(database_url, tmp_path) as (client, _):
        names = {
            w["name"] for w in (await client.get("/api/v1/workflows?limit=200")).json()["items"]
        }
        assert "order-alert" not in names  # not loaded again


async def test_list_pages_with_a_cursor_and_filters(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        for i in range(5):
            body = {**HELLO, "name": f"w{i}", "tags": ["even"] if i % 2 == 0 else ["odd"]}
            assert (await client.post("/api/v1/workflows", json=body)).status_code == 201
        seen: list[str] = []
        cursor = None
        while True:
            query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
            page = (await client.get(f"/api/v1/workflows{query}")).json()
            seen += [w["name"] for w in page["items"]]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert seen == ["w4", "w3", "w2", "w1", "w0"]
        even = (await client.get("/api/v1/workflows?tag=even")).json()["items"]
        assert [w["name"] for w in even] == ["w4", "w2", "w0"]
        odd_pattern = (await client.get("/api/v1/workflows?tag=%25")).json()["items"]
        assert odd_pattern == []  # LIKE wildcards in a tag match themselves only


async def test_lists_and_details_show_the_last_run(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, server):
        ran = (await client.post("/api/v1/workflows", json=HELLO)).json()
        idle = (await client.post("/api/v1/workflows", json={**HELLO, "name": "idle"})).json()
        assert ran["lastRun"] is None
        runs = []
        for name in ("Ada", "Grace"):
            started = await client.post(
                "/api/v1/executions?wait=10",
                json={"workflowId": ran["id"], "input": {"name": name}},
            )
            runs.append(started.json())
        newest = runs[-1]
        expected = {
            "id": newest["id"],
            "status": "COMPLETED",
            "createdAt": newest["createdAt"],
            "finishedAt": newest["finishedAt"],
        }
        assert newest["finishedAt"] is not None

        listed = {w["name"]: w for w in (await client.get("/api/v1/workflows")).json()["items"]}
        assert listed["hello"]["lastRun"] == expected
        assert listed["idle"]["lastRun"] is None
        assert (await client.get(f"/api/v1/workflows/{ran['id']}")).json()["lastRun"] == expected
        assert (await client.get(f"/api/v1/workflows/{idle['id']}")).json()["lastRun"] is None
        activated = await client.post(f"/api/v1/workflows/{ran['id']}/activate")
        assert activated.json()["lastRun"] == expected

        # a key that may read workflows but not runs sees no run
        narrow = server.auth.api_keys.create(
            subject="service", scopes=["workflows:read"], org="default", role="owner", name="n"
        )
        headers = {"Authorization": f"Bearer {narrow.key}"}
        for item in (await client.get("/api/v1/workflows", headers=headers)).json()["items"]:
            assert item["lastRun"] is None
        one = await client.get(f"/api/v1/workflows/{ran['id']}", headers=headers)
        assert one.json()["lastRun"] is None
