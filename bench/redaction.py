"""Redacting a 10 MB JSON document with 10 and with 1,000 secrets.

Prints the time to build the redactor and the throughput (MB/s of the serialized document) of
`redact_text` on the serialized text and of `redact` on the parsed value (as frames are
redacted before they are written). A few secrets are planted in the document: echoed, inside
JSON strings and base64-encoded.
"""

from __future__ import annotations

import base64
import json
import random
import string
import time
from typing import Any

from _common import arguments, summary

from flowforge.security.redaction import MARKER, Redactor

TARGET_BYTES = 10_000_000


def make_secrets(rng: random.Random, count: int) -> list[str]:
    alphabet = string.ascii_letters + string.digits + "-_+/"
    return ["".join(rng.choices(alphabet, k=rng.randint(12, 48))) for _ in range(count)]


def make_document(rng: random.Random, secrets: list[str]) -> Any:
    """About 10 MB of JSON records; every 1,000th record carries a secret in three forms."""
    words = [
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 10))) for _ in range(5000)
    ]
    records: list[dict[str, Any]] = []
    size = 2
    while size < TARGET_BYTES:
        record: dict[str, Any] = {
            "id": len(records),
            "name": " ".join(rng.choices(words, k=3)),
            "tags": rng.choices(words, k=4),
            "score": rng.random(),
            "body": {"text": " ".join(rng.choices(words, k=20)), "ok": True},
        }
        if len(records) % 1000 == 0:
            secret = rng.choice(secrets)
            record["echo"] = f"Bearer {secret}"
            record["header"] = base64.b64encode(f"user:{secret}".encode()).decode()
            record["nested"] = json.dumps({"password": secret})
        records.append(record)
        size += len(json.dumps(record)) + 2
    return records


def measure(count: int, repeat: int) -> None:
    rng = random.Random(count)
    secrets = make_secrets(rng, count)
    document = make_document(rng, secrets)
    text = json.dumps(document)
    megabytes = len(text.encode()) / 1e6

    builds = []
    for _ in range(repeat):
        started = time.perf_counter()
        redactor = Redactor(secrets)
        builds.append(time.perf_counter() - started)

    text_samples, value_samples = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        redacted_text = redactor.redact_text(text)
        text_samples.append(time.perf_counter() - started)
        started = time.perf_counter()
        redacted_value = redactor.redact(document)
        value_samples.append(time.perf_counter() - started)
    markers = redacted_text.count(MARKER)
    assert markers > 0 and markers == json.dumps(redacted_value).count(MARKER)
    assert not any(secret in redacted_text for secret in secrets)

    def rate(samples: list[float]) -> str:
        return f"{megabytes / min(samples):.0f} MB/s best, {megabytes / sorted(samples)[len(samples) // 2]:.0f} MB/s median"

    print(f"{count} secrets, {megabytes:.1f} MB document, {markers} occurrences redacted")
    print(f"  build the redactor: {summary(builds)}")
    print(f"  redact_text (serialized): {rate(text_samples)} ({summary(text_samples)})")
    print(f"  redact (parsed value):    {rate(value_samples)} ({summary(value_samples)})")


def main() -> None:
    args = arguments(__doc__ or "")  # --db is accepted for run_all.py and unused here
    for count in (10, 1000):
        measure(count, args.repeat)


if __name__ == "__main__":
    main()
