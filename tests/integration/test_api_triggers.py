"""What starts a workflow, as the editor shows it: the triggers of a workflow (a webhook's URL,
a schedule's next ticks) and the preview of a cron expression."""

from __future__ import annotations

import itertools
import zoneinfo
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from api_support import assert_error, running, workflow

from flowforge.model import Workflow

TRIGGERED = workflow(
    "triggered",
    {
        "id": "hook",
        "type": "trigger.webhook",
        "params": {
            "path": "/orders/new/",
            "methods": ["POST"],
            "respond": "when_finished",
            "secret_env": "ORDERS_SECRET",
        },
    },
    {
        "id": "mornings",
        "type": "trigger.schedule",
        "params": {"cron": "30 7 * * MON-FRI", "timezone": "Europe/Berlin", "missed": "skip"},
    },
    {"id": "failures", "type": "trigger.error", "params": {"workflows": ["order-alert"]}},
    {"id": "log", "type": "flow.noop"},
    edges=[("hook", "log"), ("mornings", "log"), ("failures", "log")],
)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _utc(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


async def test_a_workflow_s_triggers(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERS_SECRET", SECRET)
    async with running(
        database_url, tmp_path, load_examples=False, public_url="https://flows.example.com/"
    ) as (client, _):
        created = (await client.post("/api/v1/workflows", json=TRIGGERED)).json()
        before = datetime.now(UTC)
        listed = await client.get(f"/api/v1/workflows/{created['id']}/triggers")
        assert listed.status_code == 200, listed.text
        hook, mornings, failures = listed.json()
        assert hook == {
            "nodeId": "hook",
            "kind": "webhook",
            "active": False,
            "error": None,
            "path": "orders/new",
            "url": "https://flows.example.com/hooks/orders/new",
            "methods": ["POST"],
            "respond": "when_finished",
            "signed": True,
        }
        assert SECRET not in listed.text

        next_times = mornings.pop("nextTimes")
        assert mornings == {
            "nodeId": "mornings",
            "kind": "schedule",
            "active": False,
            "error": None,
            "cron": "30 7 * * MON-FRI",
            "timezone": "Europe/Berlin",
            "missed": "skip",
        }
        ticks = [_utc(t) for t in next_times]
        assert len(ticks) == 5 and ticks == sorted(ticks) and ticks[0] > before
        berlin = zoneinfo.ZoneInfo("Europe/Berlin")
        for tick in ticks:
            local = tick.astimezone(berlin)
            assert (local.hour, local.minute, local.weekday() < 5) == (7, 30, True)

        assert failures == {
            "nodeId": "failures",
            "kind": "error",
            "active": False,
            "error": None,
            "workflows": ["order-alert"],
        }

        await client.post(f"/api/v1/workflows/{created['id']}/activate")
        by_name = (await client.get("/api/v1/workflows/triggered/triggers")).json()
        assert [t["active"] for t in by_name] == [True, True, True]

        plain = workflow("plain", {"id": "start", "type": "flow.start"})
        plain_id = (await client.post("/api/v1/workflows", json=plain)).json()["id"]
        assert (await client.get(f"/api/v1/workflows/{plain_id}/triggers")).json() == []
        assert_error(await client.get("/api/v1/workflows/nope/triggers"), 404, "NOT_FOUND")
        assert_error(await client.get("/api/v1/workflows/a%00b/triggers"), 404, "NOT_FOUND")


async def test_a_trigger_whose_parameters_are_not_valid_says_why(
    database_url: str, tmp_path: Path
) -> None:
    """A stored definition the rules of today refuse (saved before they changed) still lists:
    its broken triggers carry ``error``, the others their details."""
    broken = Workflow.model_validate(
        workflow(
            "broken-triggers",
            {"id": "hook", "type": "trigger.webhook", "params": {"path": "no spaces allowed"}},
            {"id": "feb30", "type": "trigger.schedule", "params": {"cron": "0 0 30 2 *"}},
            {
                "id": "mars",
                "type": "trigger.schedule",
                "params": {"cron": "* * * * *", "timezone": "Mars/Olympus"},
            },
            {"id": "fine", "type": "trigger.schedule", "params": {"cron": "0 12 * * *"}},
            {"id": "log", "type": "flow.noop"},
            edges=[("hook", "log"), ("feb30", "log"), ("mars", "log"), ("fine", "log")],
        )
    )
    async with running(database_url, tmp_path, load_examples=False) as (client, server):
        entry = server.catalog.create(broken)  # as it was stored, unchecked
        listed = await client.get(f"/api/v1/workflows/{entry.id}/triggers")
        assert listed.status_code == 200, listed.text
        hook, feb30, mars, fine = listed.json()
        assert hook["kind"] == "webhook" and "path" in hook["error"]
        assert hook["url"] is None and hook["signed"] is None
        assert feb30["kind"] == "schedule" and "never fires" in feb30["error"]
        assert feb30["nextTimes"] is None
        assert "unknown time zone 'Mars/Olympus'" in mars["error"]
        assert fine["error"] is None and len(fine["nextTimes"]) == 5


def _preview(**query: str | int) -> str:
    return "/api/v1/schedules/preview?" + urlencode(query)


async def test_a_schedule_preview_gives_the_next_ticks(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        before = datetime.now(UTC)
        got = await client.get(_preview(cron="*/15 * * * *", count=3))
        assert got.status_code == 200, got.text
        body = got.json()
        assert (body["cron"], body["timezone"]) == ("*/15 * * * *", "UTC")
        ticks = [_utc(t) for t in body["nextTimes"]]
        assert len(ticks) == 3 and before < ticks[0] <= before + timedelta(minutes=15)
        assert all(t.minute % 15 == 0 and t.second == 0 for t in ticks)
        assert [b - a for a, b in itertools.pairwise(ticks)] == [timedelta(minutes=15)] * 2

        seconds = (await client.get(_preview(cron="*/10 * * * * *", count=4))).json()
        ticks = [_utc(t) for t in seconds["nextTimes"]]
        assert [b - a for a, b in itertools.pairwise(ticks)] == [timedelta(seconds=10)] * 3

        default = (await client.get(_preview(cron="0 9 * * *"))).json()
        assert len(default["nextTimes"]) == 5
        # read in the zone: 09:00 in New York whatever daylight saving does, 20 days running
        in_new_york = _preview(cron="0 9 * * *", timezone="America/New_York", count=20)
        york = (await client.get(in_new_york)).json()
        zone = zoneinfo.ZoneInfo("America/New_York")
        local = [_utc(t).astimezone(zone) for t in york["nextTimes"]]
        assert len(local) == 20 and {(t.hour, t.minute) for t in local} == {(9, 0)}


BAD_SCHEDULES: list[tuple[dict[str, str | int], str, str]] = [
    ({"cron": "61 * * * *"}, "query.cron", "not a valid 5- or 6-field cron expression"),
    ({"cron": "* * * * * * * *"}, "query.cron", "not a valid 5- or 6-field"),
    ({"cron": "@reboot"}, "query.cron", "not a valid"),
    ({"cron": "x7#%" * 50}, "query.cron", "not a valid"),
    ({"cron": "x" * 201}, "query.cron", "at most 200 characters"),
    ({"cron": "0 0 30 2 *"}, "query.cron", "never fires"),
    ({"cron": "  "}, "query.cron", "not a valid"),
    ({"cron": "* * * * *\x00"}, "query.cron", "not a valid"),
    ({"cron": "٣ * * * *"}, "query.cron", "not a valid"),
    ({}, "query.cron", "Field required"),
    ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "query.timezone", "unknown time zone"),
    ({"cron": "* * * * *", "timezone": "America"}, "query.timezone", "unknown time zone"),
    ({"cron": "* * * * *", "timezone": "../../etc/passwd"}, "query.timezone", "unknown"),
    ({"cron": "* * * * *", "timezone": "UTC\x00"}, "query.timezone", "unknown time zone"),
    ({"cron": "* * * * *", "timezone": ""}, "query.timezone", "unknown time zone"),
    ({"cron": "* * * * *", "count": 0}, "query.count", "greater than or equal to 1"),
    ({"cron": "* * * * *", "count": 21}, "query.count", "less than or equal to 20"),
]


async def test_a_bad_schedule_is_a_clear_422(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        for query, field, reason in BAD_SCHEDULES:
            error = assert_error(await client.get(_preview(**query)), 422, "VALIDATION_ERROR")
            assert error["details"][0]["field"] == field, (query, error)
            assert reason in error["details"][0]["message"], (query, error)
            assert field in error["message"], (query, error)
        bad = _preview(cron="* * * * * * * *", timezone="Mars/Olympus")
        error = assert_error(await client.get(bad), 422, "VALIDATION_ERROR")
        assert [d["field"] for d in error["details"]] == ["query.cron", "query.timezone"]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"cron": "0 0 30 2 *"}, "never fires"),
        ({"cron": "0 9 * * *", "timezone": "America"}, "unknown time zone 'America'"),
    ],
)
async def test_a_schedule_trigger_that_cannot_fire_is_refused_when_saved(
    database_url: str, tmp_path: Path, params: dict[str, str], reason: str
) -> None:
    """Once a 500 (the scheduler could not compute the first tick, or the time zone lookup
    hit a folder): now the definition's 422, naming the node's parameters."""
    definition = workflow("never", {"id": "tick", "type": "trigger.schedule", "params": params})
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        created = await client.post("/api/v1/workflows?active=true", json=definition)
        error = assert_error(created, 422, "VALIDATION_ERROR")
        assert error["details"][0]["field"].startswith("nodes[0].params"), error
        assert reason in error["details"][0]["message"]
