"""Webhook requests per second through a real ``flowforge serve``, driven by wrk.

n8n's benchmark scenario: a webhook trigger and one node, answered with the run's result once
it finishes, each run and its frames saved. ``POST /hooks/echo`` (examples/webhook-echo.yaml)
for 10 s at 10 and at 50 concurrent connections, with one server process and with
``--workers 2``. Reference: n8n reports up to 220 requests/s
on 2 vCPUs. Goal here: at least 1,000 executions/s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx
from _common import serve

WRK = shutil.which("wrk") or "/usr/bin/wrk"
CONNECTIONS = (10, 50)
WORKERS = (1, 2)  # one process (the default), and flowforge serve --workers 2
GOAL = 1000.0


@dataclass
class Load:
    connections: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, script: Path, connections: int, seconds: int) -> Load:
    command = [WRK, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    done = re.search(r"(\d+) requests in ([\d.]+)(\w+),", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if not (done and rps and p50 and p99):
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return Load(
        connections=connections,
        requests=int(done.group(1)),
        seconds=_ms(done.group(2) + done.group(3)) / 1000,
        rps=float(rps.group(1)),
        p50_ms=_ms(p50.group(1)),
        p99_ms=_ms(p99.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def count_rows(db: Path) -> tuple[int, int, dict[str, int]]:
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT count(*) FROM executions").fetchone()[0]
        frames = conn.execute("SELECT count(*) FROM execution_frames").fetchone()[0]
        statuses = dict(conn.execute("SELECT status, count(*) FROM executions GROUP BY status"))
    conn.close()
    return runs, frames, statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--repeat", type=int, help="ignored (wrk runs for a fixed time)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    args = parser.parse_args()
    if not Path(WRK).exists():
        print("wrk is not installed: skipped")
        return 0
    results: list[tuple[int, list[Load], tuple[int, int, dict[str, int]] | None, int]] = []
    for workers in WORKERS:
        with tempfile.TemporaryDirectory(prefix="flowforge-bench-") as folder:
            home = Path(folder)
            script = home / "post.lua"
            body = json.dumps({"name": "Ada"})
            script.write_text(
                'wrk.method = "POST"\n'
                f"wrk.body = {json.dumps(body)}\n"
                'wrk.headers["Content-Type"] = "application/json"\n'
            )
            extra = [*(["--db", args.db] if args.db else []), "--workers", str(workers)]
            loads: list[Load] = []
            with serve(home, *extra) as base:
                url = f"{base}/hooks/echo"
                answer = httpx.post(url, json={"name": "Ada"}, timeout=10)
                answer.raise_for_status()
                if not results:
                    print(f"POST /hooks/echo answers {answer.status_code} {answer.text}")
                warm = wrk(url, script, 10, 3)  # warm-up
                for connections in CONNECTIONS:
                    loads.append(wrk(url, script, connections, args.duration))
            sent = 1 + warm.requests + sum(load.requests for load in loads)
            stored = None if args.db else count_rows(home / "flowforge.db")
            results.append((workers, loads, stored, sent))

    print(f"wrk -t2 -cN -d{args.duration}s --latency, POST /hooks/echo, after a 3 s warm-up")
    print(
        f"  {'workers':>7} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'requests':>9} {'non-2xx':>8}"
    )
    for workers, loads, _, _ in results:
        for load in loads:
            print(
                f"  {workers:>7} {load.connections:>5} {load.rps:>9.1f} {load.p50_ms:>8.2f} "
                f"{load.p99_ms:>8.2f} {load.requests:>9} {load.non_2xx:>8}"
                + (f"  ({load.socket_errors} socket errors)" if load.socket_errors else "")
            )
    for workers, _, stored, sent in results:
        if stored is not None:
            runs, frames, statuses = stored
            done = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
            print(
                f"  {workers} worker(s) stored {runs} executions ({done}) and {frames} frames "
                f"for {sent} requests wrk counted (warm-up included; wrk does not count the "
                "ones in flight when it stops)"
            )
    for workers, loads, _, _ in results:
        best = max(load.rps for load in loads)
        print(f"  {workers} worker(s): best {best:.0f} executions/s")
    print(f"  goal >= {GOAL:,.0f}/s on 2 cores; n8n reports up to 220/s on 2 vCPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
