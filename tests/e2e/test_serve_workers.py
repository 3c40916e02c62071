"""``flowforge serve --workers 2``: several server processes on one port and one database."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from conftest import AUTH, serve


def test_workers_share_the_port_the_database_and_their_metrics(
    database_url: str, tmp_path: Path
) -> None:
    with serve(database_url, tmp_path / "home", "--workers", "2") as url:
        # both workers started on a new database: the examples are there once
        names = [
            w["name"] for w in httpx.get(f"{url}/api/v1/workflows", headers=AUTH).json()["items"]
        ]
        assert len(names) == len(set(names)) == 8

        def call(n: int) -> httpx.Response:
            with httpx.Client(base_url=url) as client:  # a new connection each time
                return client.post("/hooks/echo", json={"name": f"n{n}"})

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(call, range(40)))
        assert [a.status_code for a in answers] == [200] * 40
        assert {a.json()["greeting"] for a in answers} == {f"Hello, n{n}" for n in range(40)}
        ids = {a.headers["x-execution-id"] for a in answers}
        assert len(ids) == 40

        # whichever worker answers /metrics counts the runs of both
        for _ in range(4):
            text = httpx.get(f"{url}/metrics", headers=AUTH).text
            started = re.search(r"^flowforge_executions_started_total (\S+)$", text, re.M)
            assert started is not None and float(started.group(1)) == 40.0
            hooks = re.search(
                r'^flowforge_http_requests_total\{method="POST",route="/hooks/\{path:path\}",'
                r'status="200"\} (\S+)$',
                text,
                re.M,
            )
            assert hooks is not None and float(hooks.group(1)) == 40.0
        listed = httpx.get(f"{url}/api/v1/executions", params={"limit": 200}, headers=AUTH).json()[
            "items"
        ]
        assert {r["id"] for r in listed} == ids
        assert {r["status"] for r in listed} == {"COMPLETED"}
