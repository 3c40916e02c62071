"""The connector SDK end to end: the worked example of docs/connectors.md is pip-installed,
found through its entry point, and used as node types, as services and in a workflow."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import assert_error, running, workflow

from flowforge.api import create_app
from flowforge.config import Settings
from flowforge.connectors import Connector, Registry, RegistryError, builtin_registry
from flowforge.server import Server

EXAMPLE = Path(__file__).parents[2] / "docs" / "connector-example"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example package installed with pip into a folder on sys.path."""
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("source") / "connector-example"
    shutil.copytree(EXAMPLE, source)  # setuptools builds in the source tree: keep docs/ clean
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        sys.modules.pop("flowforge_textkit", None)
        importlib.invalidate_caches()


def test_an_installed_connector_is_found_by_its_entry_point(installed: Path) -> None:
    registry = builtin_registry()
    assert registry.get("textkit.stats") is not None
    connector = registry.connector_of("textkit.sign")
    assert connector.version == "1.0.0" and connector.credential is not None


def test_a_taken_connector_id_is_refused(installed: Path) -> None:
    registry = Registry([Connector("textkit", name="Mine")])
    with pytest.raises(RegistryError, match="entry point 'textkit' of flowforge-textkit"):
        registry.load_entry_points()
    with pytest.raises(RegistryError, match="registered twice"):
        Registry([Connector("same", name="A"), Connector("same", name="B")])


def test_a_connector_cannot_take_a_path_of_the_api(tmp_path: Path) -> None:
    workflows = Connector("workflows", name="Shadow")

    @workflows.action("list")
    def shadow(params: Any, ctx: Any) -> Any:
        """Would answer in place of the workflow list."""
        return []

    with pytest.raises(RegistryError, match="a path the API uses itself"):
        create_app(
            Settings(home=tmp_path),
            server=Server(Settings(home=tmp_path), registry=Registry([workflows])),
        )


async def test_the_example_connector_runs_in_a_server(
    installed: Path, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWFORGE_CREDENTIAL_TEXT_KEY", json.dumps({"secret": "x" * 32}))
    async with running(database_url, tmp_path, builtin_registry(), load_examples=False) as (
        client,
        _,
    ):
        types = {t["type"] for t in (await client.get("/api/v1/node-types")).json()}
        assert {"textkit.stats", "textkit.slugify", "textkit.sign"} <= types
        stats = await client.post("/api/v1/textkit/stats", json={"text": "two words\nand more"})
        assert stats.json() == {"characters": 18, "words": 4, "lines": 2}
        empty = await client.post("/api/v1/textkit/slugify", json={"text": "!!!"})
        assert "nothing left" in assert_error(empty, 422, "ACTION_FAILED")["message"]
        unsigned = await client.post("/api/v1/textkit/sign", json={"text": "a"})
        assert_error(unsigned, 422, "ACTION_FAILED")

        flow = workflow(
            "publish",
            {"id": "start", "type": "flow.start"},
            {"id": "slug", "type": "textkit.slugify", "params": {"text": "{{ input.title }}"}},
            {
                "id": "sig",
                "type": "textkit.sign",
                "credential": "text-key",
                "params": {"text": "{{ nodes.slug.output.slug }}"},
            },
        )
        flow["output"] = {"slug": "{{ nodes.slug.output.slug }}", "sig": "{{ nodes.sig.output }}"}
        assert (await client.post("/api/v1/workflows", json=flow)).status_code == 201
        run = await client.post(
            "/api/v1/executions?wait=10",
            json={"workflowId": "publish", "input": {"title": "Crème Brûlée, twice!"}},
        )
        result = run.json()["result"]
        assert result["slug"] == "creme-brulee-twice"
        assert len(result["sig"]["signature"]) == 64
