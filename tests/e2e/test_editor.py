"""The web editor in a real browser: Playwright drives Debian's chromium (headless) against a
real ``flowforge serve``, as a user would: sign in, build a workflow by dragging and connecting,
fill a form with an expression, save, run, watch, open the execution, travel back in time and
re-run from a node. Each step leaves a screenshot in ``artifacts/editor/`` (or
``$FLOWFORGE_TEST_ARTIFACTS/editor``)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from conftest import ADMIN_KEY, AUTH, serve

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# a loaded machine (CI runs the whole suite on 2 cores) is slower than a desk: wait patiently
expect.set_options(timeout=15_000)
ARTIFACTS = Path(os.environ.get("FLOWFORGE_TEST_ARTIFACTS", "artifacts")) / "editor"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    with serve(database_url, tmp_path / "home") as url:
        yield url


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"the page threw: {errors}"


class Shots:
    """Numbered screenshots of one test's steps."""

    def __init__(self, page: Page, name: str) -> None:
        self.page = page
        self.folder = ARTIFACTS / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def __call__(self, step: str) -> None:
        self.count += 1
        self.page.screenshot(path=str(self.folder / f"{self.count:02d}-{step}.png"))


def sign_in(page: Page, server: str) -> None:
    page.goto(server)
    expect(page).to_have_url(re.compile(r"/signin"))
    page.get_by_role("tab", name="API key").click()
    page.get_by_label("API key").fill(ADMIN_KEY)
    page.get_by_role("button", name="Sign in with API key").click()
    expect(page).to_have_url(re.compile(r"/workflows$"))


def node(page: Page, node_id: str):  # type: ignore[no-untyped-def]
    return page.locator(f'.react-flow__node[data-id="{node_id}"]')


def drag_to_canvas(page: Page, node_type: str, x: float, y: float) -> None:
    """Drags a palette entry onto the canvas at (x, y) of the pane."""
    page.get_by_label("Search node types").fill(node_type)
    entry = page.get_by_role("button", name=f"Add {node_type}", exact=True)
    entry.drag_to(page.locator(".react-flow__pane"), target_position={"x": x, "y": y})
    page.get_by_label("Search node types").fill("")


def connect(page: Page, source: str, port: str, target: str) -> None:
    """Draws an edge from a node's output port to another node's input with the mouse."""
    start = page.get_by_label(f"Output port {port} of {source}").bounding_box()
    end = page.get_by_label(f"Input of {target}").bounding_box()
    assert start and end
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=12)
    page.mouse.up()


def test_build_run_watch_and_travel_back(server: str, page: Page) -> None:
    shot = Shots(page, "build-run-travel")
    sign_in(page, server)
    shot("signed-in")

    # a new workflow starts with its Start node
    page.get_by_role("button", name="New workflow").click()
    page.get_by_label("Workflow name").fill("e2e-three")
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(re.compile(r"/workflows/[^/]+$"))
    expect(node(page, "start")).to_be_visible()
    workflow_id = page.url.rsplit("/", 1)[1]

    # two more nodes dragged from the palette, connected port to port
    pane = page.locator(".react-flow__pane").bounding_box()
    start = node(page, "start").bounding_box()
    assert pane and start
    # below the start node (the inspector opens on the right once a node is added)
    x, below = start["x"] - pane["x"] + 20, start["y"] + start["height"] - pane["y"]
    drag_to_canvas(page, "math.evaluate", x, below + 40)
    drag_to_canvas(page, "flow.noop", x, below + 200)
    expect(node(page, "evaluate")).to_be_visible()
    expect(node(page, "noop")).to_be_visible()
    connect(page, "start", "main", "evaluate")
    connect(page, "evaluate", "main", "noop")
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    page.get_by_role("button", name="Auto-layout").click()
    # left to right: each node right of the one before it
    page.wait_for_function(
        """() => {
            const x = (id) => document.querySelector(`.react-flow__node[data-id="${id}"]`)
                .getBoundingClientRect().left;
            return x("start") < x("evaluate") && x("evaluate") < x("noop");
        }"""
    )
    page.wait_for_timeout(400)  # the view's fit animation
    shot("built")

    # a form field with an expression: completions offer the names in scope
    node(page, "evaluate").click()
    field = page.get_by_role("combobox", name="Expression", exact=True)
    field.fill("{{ tri")
    expect(page.get_by_role("option", name=re.compile(r"^trigger"))).to_be_visible()
    field.fill("{{ input.n }} * 7")
    shot("expression")

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved version 2")).to_be_visible()
    saved = httpx.get(f"{server}/api/v1/workflows/{workflow_id}", headers=AUTH).json()
    assert saved["version"] == 2
    nodes = {n["id"]: n for n in saved["definition"]["nodes"]}
    assert set(nodes) == {"start", "evaluate", "noop"}
    assert nodes["evaluate"]["params"]["expression"] == "{{ input.n }} * 7"
    edges = {(e["source"], e["target"]) for e in saved["definition"]["edges"]}
    assert edges == {("start", "evaluate"), ("evaluate", "noop")}
    shot("saved")

    # run it: every node turns green, the result appears
    page.get_by_role("button", name="Run workflow").click()
    page.get_by_label("Input (JSON)").fill(json.dumps({"n": 3}))
    page.get_by_role("button", name="Start run").click()
    for node_id in ("start", "evaluate", "noop"):
        expect(node(page, node_id).locator(".step-node")).to_have_class(
            re.compile(r"status-completed"), timeout=30_000
        )
    result = page.get_by_role("region", name="Run result")
    expect(result).to_contain_text("21")
    [run] = httpx.get(f"{server}/api/v1/executions", headers=AUTH).json()["items"]
    assert run["result"] == {"noop": {"result": 21}}
    shot("run-completed")

    # the execution: step the scrubber back to before evaluate finished
    result.get_by_role("link", name="Open execution").click()
    expect(page).to_have_url(re.compile(r"/executions/[^/]+$"))
    first_run = page.url.rsplit("/", 1)[1]
    scrubber = page.get_by_label("Time travel: frame")
    expect(node(page, "noop").locator(".step-node")).to_have_class(re.compile("status-completed"))
    shot("execution")
    frames = int(scrubber.get_attribute("max") or "0")
    assert frames == 6  # started and completed, for three nodes
    for _ in range(3):
        page.get_by_role("button", name="Step back").click()
    expect(scrubber).to_have_value("3")
    expect(node(page, "evaluate").locator(".step-node")).to_have_class(re.compile("status-running"))
    expect(node(page, "noop").locator(".step-node")).not_to_have_class(re.compile("status-"))
    shot("scrubbed-back")

    # re-run from evaluate with an edited input
    node(page, "evaluate").click()
    page.get_by_role("button", name="Re-run from this node").click()
    page.get_by_label("Input for evaluate").fill(json.dumps({"n": 5}))
    page.get_by_role("button", name="Start re-run").click()
    expect(page).not_to_have_url(re.compile(first_run))
    expect(page.get_by_text("COMPLETED").first).to_be_visible(timeout=30_000)
    shot("rerun")
    rerun_id = page.url.rsplit("/", 1)[1]
    rerun = httpx.get(f"{server}/api/v1/executions/{rerun_id}", headers=AUTH).json()
    assert rerun["status"] == "COMPLETED"
    assert rerun["retryOf"] == first_run
    assert rerun["result"] == {"noop": {"result": 35}}  # the edited input reached evaluate


def test_first_start_list_triggers_and_dark_theme(
    database_url: str, tmp_path: Path, page: Page
) -> None:
    """The owner follows the link the first start prints, chooses a password, and finds the
    examples; a webhook workflow is switched on from the list and answers its test call; a
    schedule reads in words with its next times; the dark theme holds."""
    shot = Shots(page, "first-start")
    home = tmp_path / "home"
    with serve(database_url, home, admin_key=None) as server:
        link = re.search(r"(http://\S+/signin\?invite=\S+)", (home / "server.log").read_text())
        assert link, "the first start prints the editor's sign-in link"
        page.goto(link.group(1).replace("http://127.0.0.1:8989", server))
        page.get_by_label("Your e-mail (optional)").fill("ada@example.com")
        page.get_by_label("New password").fill("correct horse battery staple")
        page.get_by_role("button", name="Set password and sign in").click()
        expect(page).to_have_url(re.compile(r"/workflows$"))
        table = page.get_by_role("table", name="Workflows")
        expect(table.get_by_role("link", name="webhook-echo", exact=True)).to_be_visible()
        shot("workflows")

        page.get_by_label("Search workflows").fill("webhook")
        expect(table.get_by_role("row")).to_have_count(2)  # the header and webhook-echo
        switch = page.get_by_role("switch", name="Active: webhook-echo")
        expect(switch).to_be_checked()  # the examples start active
        switch.click()
        expect(switch).not_to_be_checked()
        page.get_by_role("link", name="Settings of webhook-echo").click()
        hook = page.get_by_role("region", name="Webhook echo")
        expect(hook).to_contain_text(f"{server}/hooks/echo")
        hook.get_by_label("Test body (JSON)").fill(json.dumps({"name": "Ada"}))
        hook.get_by_role("button", name="Send test request").click()
        answer = hook.get_by_role("status", name="Test answer")
        expect(answer).to_contain_text("404")  # switched off: nobody listens
        hook.get_by_role("button", name="Activate workflow").click()
        hook.get_by_role("button", name="Send test request").click()
        expect(answer).to_contain_text("200")
        expect(answer).to_contain_text("Ada")
        shot("webhook-test")

        page.goto(f"{server}/workflows")
        page.get_by_role("link", name="Settings of nightly-report").click()
        schedule = page.get_by_role("region", name="Schedule 30 7 * * *")
        expect(schedule).to_contain_text("07:30")
        preview = page.get_by_role("region", name="Cron preview")
        preview.get_by_label("Cron expression").fill("*/15 * * * *")
        expect(preview).to_contain_text("Every 15 minutes")
        preview.get_by_label("Cron expression").fill("61 * * * *")
        expect(preview.get_by_role("alert")).to_contain_text("cron")
        shot("schedule")

        page.get_by_role("button", name="Use the dark theme").click()
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(20, 23, 28)", background
        page.goto(f"{server}/workflows")
        shot("dark-reloaded")
        expect(page.get_by_role("button", name="Use the light theme")).to_be_visible()
        shot("dark")
