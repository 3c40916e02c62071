"""The connector faces on a real server: node types, one endpoint per action (JSON and
multipart, files back), credentials by id, failures in the error shape, and the same action
run as a workflow node."""

from __future__ import annotations

import asyncio
import base64
import json
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from api_support import assert_error, running, workflow
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from flowforge.connectors import ActionError, Connector, Context, Registry
from flowforge.connectors import flow as flow_connector
from flowforge.connectors.sdk import Blob
from flowforge.security.redaction import RedactingFilter

kit = Connector("kit", name="Kit", category="Test", credential=None)


class Text(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=1000, description="Some text")
    times: int = Field(1, ge=1, le=10, description="How often")


class Repeated(BaseModel):
    text: str
    length: int


scratch_dirs: list[Path] = []


@kit.action("repeat", input=Text, output=Repeated)
def repeat(params: Text, ctx: Context) -> Repeated:
    """Repeat a text."""
    (ctx.tmp_dir / "scratch").write_text(params.text)  # the folder exists for the call
    scratch_dirs.append(ctx.tmp_dir)
    text = params.text * params.times
    return Repeated(text=text, length=len(text))


class FileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: Blob
    suffix: str = Field("", max_length=100)


class FileOut(BaseModel):
    file: Blob
    size: int


@kit.action("upper", input=FileIn, output=FileOut)
def upper(params: FileIn, ctx: Context) -> FileOut:
    """Upper-case a text file."""
    data = ctx.read_blob(params.file).upper() + params.suffix.encode()
    return FileOut(file=ctx.put_blob(data, "text/plain", "upper.txt"), size=len(data))


class Nothing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(0, ge=0, le=60)
    retryable: bool = False


@kit.action("fail", input=Nothing)
def fail(params: Nothing, ctx: Context) -> Any:
    """Always fails."""
    raise ActionError("it cannot work", retryable=params.retryable, type="KitError")


@kit.action("sleep", input=Nothing)
async def sleep(params: Nothing, ctx: Context) -> Any:
    """Sleeps."""
    await asyncio.sleep(params.seconds)
    return {"slept": params.seconds}


gate = asyncio.Event()


@kit.action("steps", input=Nothing)
async def steps(params: Nothing, ctx: Context) -> Any:
    """Reports progress, then waits for the test to open the gate."""
    ctx.progress(1, 3, "first of three")
    await gate.wait()
    ctx.progress(3, 3, "done")
    return {"steps": 3}


class Token(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=8)


locked = Connector("locked", name="Locked", credential=Token)


@locked.action("whoami")
def whoami(params: Any, ctx: Context) -> Any:
    """Tells the credential's length, never the credential."""
    assert isinstance(ctx.credential, Token)
    return {"length": len(ctx.credential.token)}


@locked.action("leak")
def leak(params: Any, ctx: Context) -> Any:
    """Echoes its credential every way it can: the engine must not let any of it out."""
    assert isinstance(ctx.credential, Token)
    token = ctx.credential.token
    ctx.logger.warning("the token is %s", token)
    if ctx.input == {"fail": True}:
        raise ActionError(f"refused token {token}", retryable=False)
    return {
        "plain": token,
        "base64": base64.b64encode(token.encode()).decode(),
        "json": json.dumps({"auth": f"Bearer {token}"}),
        "input_was": ctx.input,
    }


def _registry() -> Registry:
    return Registry([flow_connector.connector, kit, locked])


async def test_node_types_describe_every_action(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, _registry(), load_examples=False) as (client, _):
        types = {t["type"]: t for t in (await client.get("/api/v1/node-types")).json()}
    assert {"flow.if", "kit.repeat", "kit.upper", "locked.whoami"} <= set(types)
    repeat_type = types["kit.repeat"]
    assert repeat_type["inputSchema"]["properties"]["times"]["maximum"] == 10
    assert repeat_type["outputSchema"]["required"] == ["text", "length"]
    assert repeat_type["service"] == "/api/v1/kit/repeat"
    assert repeat_type["category"] == "Test" and repeat_type["description"] == "Repeat a text."
    assert types["flow.if"]["service"] is None and types["flow.if"]["ports"] == ["true", "false"]
    assert types["locked.whoami"]["credentialSchema"]["required"] == ["token"]


async def test_an_action_as_a_service(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, _registry(), load_examples=False) as (client, _):
        ok = await client.post("/api/v1/kit/repeat", json={"text": "ab", "times": 3})
        assert ok.status_code == 200 and ok.json() == {"text": "ababab", "length": 6}
        assert scratch_dirs and not scratch_dirs[-1].exists()  # removed after the call

        bad = await client.post("/api/v1/kit/repeat", json={"text": "ab", "times": 11, "x": 1})
        error = assert_error(bad, 422, "VALIDATION_ERROR")
        fields = {d["field"] for d in error["details"]}
        assert fields == {"body.times", "body.x"}
        malformed = await client.post(
            "/api/v1/kit/repeat",
            content=b'{"text": ',
            headers={"content-type": "application/json"},
        )
        assert_error(malformed, 422, "VALIDATION_ERROR")
        wrong_type = await client.post(
            "/api/v1/kit/repeat", content=b"text=ab", headers={"content-type": "text/plain"}
        )
        assert_error(wrong_type, 415, "UNSUPPORTED_MEDIA_TYPE")
        huge = await client.post("/api/v1/kit/repeat", json={"text": "x" * 1001})
        assert_error(huge, 422, "VALIDATION_ERROR")
        assert_error(await client.post("/api/v1/kit/nothing", json={}), 404, "NOT_FOUND")
        assert_error(await client.post("/api/v1/flow/if", json={}), 404, "NOT_FOUND")

        failed = await client.post("/api/v1/kit/fail", json={})
        assert assert_error(failed, 422, "ACTION_FAILED")["details"][0]["type"] == "KitError"
        later = await client.post("/api/v1/kit/fail", json={"retryable": True})
        assert_error(later, 502, "ACTION_FAILED")


async def test_a_service_call_has_a_time_limit(database_url: str, tmp_path: Path) -> None:
    async with running(
        database_url, tmp_path, _registry(), load_examples=False, service_timeout_s=0.2
    ) as (client, _):
        slow = await client.post("/api/v1/kit/sleep", json={"seconds": 5})
        assert_error(slow, 504, "ACTION_TIMED_OUT")
        quick = await client.post("/api/v1/kit/sleep", json={"seconds": 0})
        assert quick.json() == {"slept": 0}


async def test_files_go_in_as_uploads_and_come_back_as_files(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, _registry(), load_examples=False) as (client, _):
        uploaded = await client.post(
            "/api/v1/kit/upper",
            files={"file": ("note.txt", b"hello", "text/plain")},
            data={"params": json.dumps({"suffix": "!"})},
        )
        assert uploaded.status_code == 200, uploaded.text
        out = uploaded.json()
        assert out["size"] == 6 and out["file"]["media_type"] == "text/plain"
        ref = out["file"]
        fetched = await client.get(
            f"/api/v1/blobs/{ref['blob']}", params={"mediaType": "text/plain"}
        )
        assert fetched.content == b"HELLO!" and fetched.headers["content-type"].startswith("text/")

        # the reference feeds the next call as JSON; the file itself comes back when asked
        again = await client.post(
            "/api/v1/kit/upper",
            json={"file": ref, "suffix": "?"},
            headers={"accept": "application/octet-stream"},
        )
        assert again.content == b"HELLO!?"
        assert again.headers["content-disposition"] == 'attachment; filename="upper.txt"'

        bad_params = await client.post(
            "/api/v1/kit/upper",
            files={"file": ("a.txt", b"a", "text/plain")},
            data={"params": "{not json"},
        )
        assert_error(bad_params, 422, "VALIDATION_ERROR")
        missing = await client.post("/api/v1/kit/upper", json={"file": {**ref, "blob": "0" * 64}})
        assert "no blob" in assert_error(missing, 422, "ACTION_FAILED")["message"]
        assert_error(await client.get("/api/v1/blobs/" + "0" * 64), 404, "NOT_FOUND")
        assert_error(await client.get("/api/v1/blobs/..%2Fetc"), 404, "NOT_FOUND")


async def test_credentials_are_named_by_id_and_never_shown(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWFORGE_CREDENTIAL_MAIN_TOKEN", json.dumps({"token": "s3cret-value"}))
    monkeypatch.setenv("FLOWFORGE_CREDENTIAL_SHORT", json.dumps({"token": "tiny"}))
    monkeypatch.setenv("FLOWFORGE_CREDENTIAL_BROKEN", '{"token": "s3cret-value"')
    async with running(database_url, tmp_path, _registry(), load_examples=False) as (client, _):
        ok = await client.post(
            "/api/v1/locked/whoami", json={}, headers={"X-FlowForge-Credential": "main-token"}
        )
        assert ok.json() == {"length": 12}
        absent = await client.post(
            "/api/v1/locked/whoami", json={}, headers={"X-FlowForge-Credential": "nope"}
        )
        assert "no credential 'nope'" in assert_error(absent, 422, "ACTION_FAILED")["message"]
        short = await client.post(
            "/api/v1/locked/whoami", json={}, headers={"X-FlowForge-Credential": "short"}
        )
        message = assert_error(short, 422, "ACTION_FAILED")["message"]
        assert "token" in message and "tiny" not in message
        broken = await client.post(
            "/api/v1/locked/whoami", json={}, headers={"X-FlowForge-Credential": "broken"}
        )
        message = assert_error(broken, 422, "ACTION_FAILED")["message"]
        assert "FLOWFORGE_CREDENTIAL_BROKEN does not hold a JSON object" in message
        assert "s3cret" not in message
        needless = await client.post(
            "/api/v1/kit/repeat",
            json={"text": "a"},
            headers={"X-FlowForge-Credential": "main-token"},
        )
        assert "takes no credential" in assert_error(needless, 422, "ACTION_FAILED")["message"]

        flow = workflow(
            "locked",
            {"id": "start", "type": "flow.start"},
            {"id": "who", "type": "locked.whoami", "credential": "main-token"},
        )
        flow["output"] = "{{ nodes.who.output }}"
        await client.post("/api/v1/workflows", json=flow)
        run = await client.post("/api/v1/executions?wait=10", json={"workflowId": "locked"})
        assert run.json()["result"] == {"length": 12}
        frames = (await client.get(f"/api/v1/executions/{run.json()['id']}")).json()["frames"]
        assert "s3cret-value" not in json.dumps(frames)


async def test_the_same_action_runs_as_a_node_with_files(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, _registry(), load_examples=False) as (client, _):
        upload = await client.post(
            "/api/v1/kit/upper", files={"file": ("n.txt", b"abc", "text/plain")}
        )
        ref = upload.json()["file"]
        flow = workflow(
            "files",
            {"id": "start", "type": "flow.start"},
            {"id": "up", "type": "kit.upper", "params": {"file": "{{ input.file }}"}},
            {
                "id": "again",
                "type": "kit.upper",
                "params": {"file": "{{ nodes.up.output.file }}", "suffix": "."},
            },
        )
        flow["output"] = "{{ nodes.again.output }}"
        await client.post("/api/v1/workflows", json=flow)
        run = await client.post(
            "/api/v1/executions?wait=10", json={"workflowId": "files", "input": {"file": ref}}
        )
        result = run.json()["result"]
        assert result["size"] == 4
        fetched = await client.get(f"/api/v1/blobs/{result['file']['blob']}")
        assert fetched.content == b"ABC."


async def test_services_are_in_the_openapi_document(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, _registry(), load_examples=False) as (client, _):
        doc = (await client.get("/openapi.json")).json()
    operation = doc["paths"]["/api/v1/kit/upper"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    ref = body["properties"]["file"]["$ref"]
    assert ref == "#/components/schemas/kit.Blob"
    assert "blob" in doc["components"]["schemas"]["kit.Blob"]["properties"]
    assert "/api/v1/flow/if" not in doc["paths"]
    assert "X-FlowForge-Credential" in doc["paths"]["/api/v1/locked/whoami"]["post"]["description"]


async def test_steps_report_progress_on_the_live_stream(database_url: str, tmp_path: Path) -> None:
    gate.clear()
    async with running(database_url, tmp_path, _registry(), load_examples=False) as (
        client,
        server,
    ):
        flow = workflow(
            "steps", {"id": "start", "type": "flow.start"}, {"id": "s", "type": "kit.steps"}
        )
        await client.post("/api/v1/workflows", json=flow)
        started = (await client.post("/api/v1/executions", json={"workflowId": "steps"})).json()

        async def open_gate_once_followed() -> None:
            # the in-process transport hands the stream over whole, at its end: open the gate
            # once the stream has had time to send the first report
            while not server.hub._waiters.get(started["id"]):  # noqa: ASYNC110 (server state)
                await asyncio.sleep(0.01)
            await asyncio.sleep(1.0)
            gate.set()

        opener = asyncio.create_task(open_gate_once_followed())
        events: list[tuple[str, Any]] = []
        async with client.stream("GET", f"/api/v1/executions/{started['id']}/stream") as stream:
            name = ""
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    events.append((name, json.loads(line[6:])))
        await opener
    progress = [data for name, data in events if name == "progress"]
    assert progress[0] == {
        "nodeId": "s",
        "item": None,
        "done": 1,
        "total": 3,
        "message": "first of three",
    }
    assert events[-1][0] == "end" and events[-1][1]["status"] == "COMPLETED"


async def test_hostile_code_through_the_api_leaves_the_server_serving(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        hostile = [
            ({"code": "while True:\n    pass", "timeout_s": 1}, "Timeout"),
            (
                {"code": "x = [bytearray(2**30) for _ in range(10)]", "memory_mb": 128},
                "MemoryLimit",
            ),
            ({"code": "output = open('/etc/passwd').read()"}, "CodeError"),
            ({"code": "import socket\nsocket.create_connection(('1.1.1.1', 80))"}, "CodeError"),
        ]
        for params, kind in hostile:
            refused = await client.post("/api/v1/code/python", json=params)
            error = assert_error(refused, 422, "ACTION_FAILED")
            assert error["details"][0]["type"] == kind, error
        assert (await client.get("/health")).status_code == 200
        fine = await client.post("/api/v1/code/python", json={"code": "output = sum(range(10))"})
        assert fine.status_code == 200 and fine.json()["output"] == 45


async def test_an_image_uploaded_to_a_service_comes_back_resized(
    database_url: str, tmp_path: Path
) -> None:
    picture = BytesIO()
    Image.new("RGB", (64, 32), "red").save(picture, "PNG")
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        resized = await client.post(
            "/api/v1/image/resize",
            files={"image": ("red.png", picture.getvalue(), "image/png")},
            data={"params": json.dumps({"width": 16})},
            headers={"accept": "image/png"},
        )
        assert resized.status_code == 200, resized.text
        assert resized.headers["content-type"] == "image/png"
        assert Image.open(BytesIO(resized.content)).size == (16, 8)
        corrupt = await client.post(
            "/api/v1/image/resize",
            files={"image": ("bad.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")},
            data={"params": json.dumps({"width": 16})},
        )
        assert_error(corrupt, 422, "ACTION_FAILED")


async def test_credentials_never_reach_frames_results_answers_or_logs(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "tok-9f8e7d6c5b4a"
    caplog.handler.addFilter(RedactingFilter())  # as configure_logging sets up every handler
    monkeypatch.setenv("FLOWFORGE_CREDENTIAL_LEAKY", json.dumps({"token": secret}))
    leaked = [secret, base64.b64encode(secret.encode()).decode()]
    async with running(database_url, tmp_path, _registry(), load_examples=False) as (client, _):
        flow = workflow(
            "leaky",
            {"id": "start", "type": "flow.start"},
            {"id": "leak", "type": "locked.leak", "credential": "leaky"},
            {"id": "after", "type": "flow.set", "params": {"values": {"got": "{{ input }}"}}},
        )
        flow["output"] = {"leak": "{{ nodes.leak.output }}", "after": "{{ nodes.after.output }}"}
        await client.post("/api/v1/workflows", json=flow)
        ok = (await client.post("/api/v1/executions?wait=10", json={"workflowId": "leaky"})).json()
        failed = (
            await client.post(
                "/api/v1/executions?wait=10",
                json={"workflowId": "leaky", "input": {"fail": True}},
            )
        ).json()
        assert ok["status"] == "COMPLETED" and failed["status"] == "FAILED"
        assert ok["result"]["leak"]["plain"] == "[REDACTED]"
        texts = [json.dumps(ok), json.dumps(failed)]
        for run in (ok, failed):
            texts.append((await client.get(f"/api/v1/executions/{run['id']}")).text)
        answer = await client.post(
            "/api/v1/locked/leak", json={}, headers={"X-FlowForge-Credential": "leaky"}
        )
        assert answer.status_code == 200 and answer.json()["plain"] == "[REDACTED]"
        texts.append(answer.text)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "the token is [REDACTED]" in logged
    texts.append(logged)
    for text in texts:
        for value in leaked:
            assert value not in text
