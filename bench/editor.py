"""The web editor's figures: the size of its first load, the time to first render of a 500-node
workflow, and the frame rate while panning it, in headless Debian chromium (Playwright).

Goal: under 400 KB gzipped for the first load (the HTML, its entry script and stylesheet, and
the chunks it preloads; the canvas pages load on demand). The 500-node workflow is 20 chains of
25 nodes, opened in the editor at 1280x800 from a real ``flowforge serve``.
"""

from __future__ import annotations

import argparse
import gzip
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _common import serve
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from flowforge.security.apikeys import generate_api_key

DIST = Path(__file__).resolve().parents[1] / "src" / "flowforge" / "web" / "dist"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
GOAL_KB = 400
ROWS, COLUMNS = 20, 25  # 500 nodes
PAN_SECONDS = 3.0


def _gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=6))


def bundle_size() -> tuple[int, int, int]:
    """(first load gzipped, first load raw, every file gzipped) in bytes."""
    index = DIST / "index.html"
    html = index.read_text()
    first = {index}
    for ref in re.findall(r'(?:src|href)="/([^"]+\.(?:js|css))"', html):
        first.add(DIST / ref)
    every = [p for p in DIST.rglob("*") if p.is_file()]
    return (
        sum(_gz(p) for p in first),
        sum(p.stat().st_size for p in first),
        sum(_gz(p) for p in every),
    )


def big_workflow() -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "flow.start", "position": [0, 0]}]
    edges: list[dict[str, str]] = []
    for row in range(ROWS):
        for column in range(COLUMNS):
            if row == 0 and column == 0:
                continue
            node_id = f"n{row}_{column}"
            nodes.append(
                {"id": node_id, "type": "flow.noop", "position": [column * 220, row * 110]}
            )
            # each row is a chain from the start node (which takes row 0's first place)
            first = column == 0 or (row == 0 and column == 1)
            edges.append(
                {"source": "start" if first else f"n{row}_{column - 1}", "target": node_id}
            )
    return {"name": "five-hundred", "nodes": nodes, "edges": edges}


def _session(key: str) -> str:
    """The editor's stored session (zustand's persist format) signed in with an API key."""
    return (
        "localStorage.setItem('flowforge.session', JSON.stringify({state: {apiKey: '"
        + key
        + "', accessToken: null, refreshToken: null, orgId: null, me: null, theme: 'light',"
        " expiredAt: null}, version: 0}));"
    )


def _open(browser: Browser, base: str, key: str, workflow_id: str) -> tuple[BrowserContext, Page]:
    """A new browser context signed in with ``key``, its page showing the workflow's 500 nodes."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(_session(key))
    page = context.new_page()
    page.goto(f"{base}/workflows/{workflow_id}")
    page.wait_for_function(
        f"() => document.querySelectorAll('.react-flow__node').length >= {ROWS * COLUMNS}",
        timeout=120_000,
    )
    return context, page


def first_render(browser: Browser, base: str, key: str, workflow_id: str) -> float:
    """Milliseconds from navigation start until all 500 nodes are on the canvas."""
    context, page = _open(browser, base, key, workflow_id)
    elapsed: float = page.evaluate("performance.now()")
    context.close()
    return elapsed


def pan_fps(browser: Browser, base: str, key: str, workflow_id: str) -> float:
    """Frames per second while the canvas is dragged across for PAN_SECONDS."""
    context, page = _open(browser, base, key, workflow_id)
    page.wait_for_timeout(1000)  # the steady state: after React Flow has measured the nodes
    pane = page.locator(".react-flow__pane").bounding_box()
    assert pane is not None, "no canvas pane"
    page.evaluate(
        "window.__frames = 0; (function tick() { window.__frames++; requestAnimationFrame(tick); })()"
    )
    x, y = pane["x"] + pane["width"] / 2, pane["y"] + pane["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    began = time.perf_counter()
    frames_before: int = page.evaluate("window.__frames")
    step = 0
    while time.perf_counter() - began < PAN_SECONDS:
        step += 1
        dx = 300 * ((step // 60) % 2 * -2 + 1)  # back and forth, 60 moves each way
        page.mouse.move(x + dx * (step % 60) / 60, y + 40 * ((step % 60) / 60), steps=1)
    frames: int = page.evaluate("window.__frames") - frames_before
    seconds = time.perf_counter() - began
    page.mouse.up()
    context.close()
    return frames / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="measured page loads")
    args = parser.parse_args()

    first_gz, first_raw, every_gz = bundle_size()
    verdict = "under" if first_gz < GOAL_KB * 1024 else "OVER"
    print(
        f"bundle: first load {first_gz / 1024:.1f} KB gzipped ({first_raw / 1024:.1f} KB raw), "
        f"{verdict} the {GOAL_KB} KB goal; every file {every_gz / 1024:.1f} KB gzipped"
    )

    key = generate_api_key()
    with (
        tempfile.TemporaryDirectory(prefix="flowforge-bench-") as home,
        serve(Path(home), env={"FLOWFORGE_ADMIN_API_KEY": key}) as base,
    ):
        answer = httpx.post(
            f"{base}/api/v1/workflows",
            json=big_workflow(),
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        answer.raise_for_status()
        workflow_id = answer.json()["id"]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            first_render(browser, base, key, workflow_id)  # warm the server and the cache
            renders = [first_render(browser, base, key, workflow_id) for _ in range(args.repeat)]
            fps = [pan_fps(browser, base, key, workflow_id) for _ in range(3)]
            browser.close()
    print(
        f"500-node workflow, first render: median {statistics.median(renders):.0f} ms, "
        f"best {min(renders):.0f} ms, worst {max(renders):.0f} ms over {len(renders)} loads"
    )
    print(
        f"panning it: median {statistics.median(fps):.1f} frames/s "
        f"(runs: {', '.join(f'{f:.1f}' for f in fps)}), headless chromium at 1280x800"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
