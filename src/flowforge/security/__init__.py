"""Security: the SSRF guard every outgoing HTTP request of a connector goes through."""

from flowforge.security.ssrf import SsrfRefused, async_client, check_address, sync_client

__all__ = ["SsrfRefused", "async_client", "check_address", "sync_client"]
