"""The credential vault: microseconds to open (decrypt) one credential, to seal one, and to
re-wrap one under a new master key (what `flowforge keys rotate` does per row).

Each figure is the time of one operation, averaged over a batch; the summary is over batches.
Two secrets: a typical API credential (~100 bytes of JSON) and a 4 KiB one (a PEM key).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from _common import arguments, summary

from flowforge.security.vault import Keyring, MasterKey, Vault

BATCH = 2000

SECRETS: dict[str, dict[str, Any]] = {
    "api credential": {"api_key": "sk-live-" + "7f" * 24, "user": "ops@example.org", "port": 443},
    "4 KiB PEM key": {"pem": "-----BEGIN PRIVATE KEY-----\n" + "A" * 4040 + "\n-----END-----"},
}


def per_op(operation: Callable[[int], object], repeat: int) -> list[float]:
    """Seconds per call of ``operation``, one sample per batch of BATCH calls."""
    for i in range(200):  # warm-up
        operation(i)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        for i in range(BATCH):
            operation(i)
        samples.append((time.perf_counter() - started) / BATCH)
    return samples


def measure(name: str, secret: dict[str, Any], repeat: int) -> None:
    old, new = MasterKey.generate("bench-old"), MasterKey.generate("bench-new")
    vault = Vault(Keyring(new, [old]))
    ids = [f"cred-{i}" for i in range(BATCH)]
    sealed = [Vault(Keyring(old)).seal("org-1", cred, secret) for cred in ids]
    assert vault.open("org-1", ids[0], sealed[0]) == secret
    opened = per_op(lambda i: vault.open("org-1", ids[i], sealed[i]), repeat)
    sealing = per_op(lambda i: vault.seal("org-1", ids[i], secret), repeat)
    rewrapping = per_op(lambda i: vault.rewrap("org-1", ids[i], sealed[i], new), repeat)
    print(f"  {name} ({len(sealed[0].ciphertext)} bytes sealed)")
    print(f"    open (decrypt): {summary(opened, 'µs', 1e6)}")
    print(f"    seal (encrypt): {summary(sealing, 'µs', 1e6)}")
    print(f"    rewrap:         {summary(rewrapping, 'µs', 1e6)}")


def main() -> None:
    args = arguments(__doc__ or "")
    print(
        f"vault: AES-256-GCM, a data key per credential wrapped by the master key; {BATCH} ops/batch"
    )
    for name, secret in SECRETS.items():
        measure(name, secret, args.repeat)


if __name__ == "__main__":
    main()
