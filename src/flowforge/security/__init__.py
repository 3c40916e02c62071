"""Security: each concern in its own module, imported where it is used.

- ``ssrf``: the guard every outgoing HTTP request of a connector goes through (re-exported here);
- ``vault``: credentials sealed under per-credential data keys wrapped by the master key;
- ``tokens``, ``passwords``, ``apikeys``, ``signatures``: the ways a caller proves who it is;
- ``ratelimit``: limits per identity, route group and plan;
- ``redaction``: secret values kept out of frames, logs and answers;
- ``rbac``: roles, permissions and shares, the one place that decides who may do what;
- ``auth``: the server's authentication, on its database: callers from credentials, sign-in,
  signing keys, the first start (the audit log it writes is ``store.AuditLog``).
"""

from flowforge.security.ssrf import SsrfRefused, async_client, check_address, sync_client

__all__ = ["SsrfRefused", "async_client", "check_address", "sync_client"]
