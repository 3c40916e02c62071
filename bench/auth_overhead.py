"""Authentication cost per request: verifying an API key against the in-memory store (with and
without a scope check), verifying an access token (EdDSA and ES256), a refresh, and an argon2id
password check for contrast.

Prints microseconds per call (each sample is the mean over a batch). Issue #5's goal covers
authentication plus permission check plus rate limit under 0.3 ms for an API key with the
in-memory store; the API key figure here is the authentication share of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from _common import arguments, summary

from flowforge.security.apikeys import ApiKeys, InMemoryKeyStore
from flowforge.security.passwords import InMemoryFailureStore, PasswordLogin, hash_password
from flowforge.security.tokens import InMemoryRefreshStore, Principal, Sessions, SigningKeys

BATCH = 5000
ISSUER = "https://flowforge.bench"
AUDIENCE = "flowforge-api"
PRINCIPAL = Principal("user-1", org="org-1", role="editor", scopes=frozenset({"workflows:read"}))


def per_call(call: Callable[[], object], repeat: int, batch: int = BATCH) -> list[float]:
    """Seconds per call, one sample per batch, after one warm-up batch."""
    for _ in range(min(batch, 100)):
        call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(batch):
            call()
        samples.append((time.perf_counter() - started) / batch)
    return samples


def micro(samples: list[float]) -> str:
    return summary(samples, unit="µs", scale=1e6)


def show(label: str, figures: str) -> None:
    print(f"  {label + ':':<44} {figures}")


def main() -> None:
    args = arguments(__doc__ or "")
    repeat = args.repeat
    print(f"authentication overhead, {repeat} samples of {BATCH} calls each")

    api_keys = ApiKeys(InMemoryKeyStore())
    for i in range(1000):  # a store that is not trivially small
        api_keys.create(subject=f"user-{i}", scopes=["workflows:read"])
    key = api_keys.create(subject="user-1", scopes=["workflows:read", "services:*"]).key
    show("API key verify (in-memory store)", micro(per_call(partial(api_keys.verify, key), repeat)))

    def key_and_scope() -> bool:
        return api_keys.verify(key).allows("services:slack:send")

    show("API key verify + scope check", micro(per_call(key_and_scope, repeat)))

    for algorithm in ("EdDSA", "ES256"):
        keys = SigningKeys.generate(algorithm)
        sessions = Sessions(keys, InMemoryRefreshStore(), issuer=ISSUER, audience=AUDIENCE)
        uncached = Sessions(
            keys, InMemoryRefreshStore(), issuer=ISSUER, audience=AUDIENCE, cache_size=0
        )
        token, _ = sessions.issue_access(PRINCIPAL)
        full = per_call(partial(uncached.verify_access, token), repeat)
        hit = per_call(partial(sessions.verify_access, token), repeat)
        issue = per_call(partial(sessions.issue_access, PRINCIPAL), repeat)
        show(f"access token verify ({algorithm}, full)", micro(full))
        show(f"access token verify ({algorithm}, cache hit)", micro(hit))
        show(f"access token issue ({algorithm})", micro(issue))

    pair = [sessions.start(PRINCIPAL)]

    def refresh() -> None:
        pair[0] = sessions.refresh(pair[0].refresh_token)

    show("refresh (rotate, ES256 access)", micro(per_call(refresh, repeat, 1000)))

    login = PasswordLogin(InMemoryFailureStore())
    stored = hash_password("correct horse battery staple")
    check = per_call(lambda: login.check("alice", "correct horse battery staple", stored), 3, 5)
    show("password check (argon2id, t=3, m=64 MiB)", summary(check))


if __name__ == "__main__":
    main()
