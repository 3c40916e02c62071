"""Security: each concern in its own module, imported where it is used.

- ``ssrf``: the guard every outgoing HTTP request of a connector goes through (re-exported here);
- ``vault``: credentials sealed under per-credential data keys wrapped by the master key;
- ``tokens``, ``passwords``, ``apikeys``, ``signatures``: the ways a caller proves who it is;
- ``ratelimit``: limits per identity, route group and plan;
- ``redaction``: secret values kept out of frames, logs and answers.
"""

from flowforge.security.ssrf import SsrfRefused, async_client, check_address, sync_client

__all__ = ["SsrfRefused", "async_client", "check_address", "sync_client"]
