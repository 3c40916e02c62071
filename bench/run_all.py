"""Run every benchmark and print its figures: ``make bench`` (pass --db URL for PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
BENCHMARKS = [
    "chain_fibo.py",
    "fan_out.py",
    "plan_scale.py",
    "journal_throughput.py",
    "webhook_rps.py",
    "list_executions.py",
    "connector_overhead.py",
    "sha256_throughput.py",
    "code_node.py",
    "ocr_page.py",
    "vault_decrypt.py",
    "auth_overhead.py",
    "request_guard.py",
    "ratelimit_overhead.py",
    "redaction.py",
    "temporal_chain.py",
    "temporal_throughput.py",
    "editor.py",
]


def main() -> int:
    status = 0
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        status |= subprocess.call([sys.executable, str(HERE / name), *sys.argv[1:]], cwd=HERE)
    return status


if __name__ == "__main__":
    sys.exit(main())
