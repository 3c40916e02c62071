"""The SSRF guard: HTTP clients that reach public addresses only.

Every connection resolves its host itself, refuses it when any address it resolves to is not
public (loopback, private, link-local, cloud metadata, reserved, and IPv4 addresses hidden in
IPv6 forms), and then connects to the very address it checked: the check and the connection share
one resolution, so DNS rebinding between the two is impossible. TLS still verifies the
certificate against the host name of the URL. The guard sits in the transport, under httpx's
redirect handling, so every redirect hop and every new connection passes through it.

``allow`` names the hosts an operator trusts past the guard: host names (``api.internal``,
``*.corp.example``), addresses (``127.0.0.1``, ``[::1]``) or CIDR ranges (``10.0.0.0/8``),
optionally with a port (``127.0.0.1:8080``, ``api.internal:443``).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias
from urllib.parse import unquote, urlsplit

import anyio
import anyio.to_thread
import httpcore
import httpx

__all__ = ["SsrfRefused", "async_client", "check_address", "sync_client"]

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

_SCHEMES = frozenset({"http", "https"})
# Options that would route requests around the guarded transport.
_BYPASSING_OPTIONS = ("transport", "mounts", "proxy", "proxies", "uds", "app")
_TRANSPORT_OPTIONS = (
    "verify",
    "cert",
    "http1",
    "http2",
    "limits",
    "local_address",
    "retries",
    "socket_options",
)
_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
# Characters of the legacy IPv4 spellings inet_aton and browsers accept: 0x7f000001, 0177.1 ...
_LEGACY_IPV4 = re.compile(r"^[0-9a-fA-FxX.]+$")
_HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")


class SsrfRefused(Exception):
    """A request the SSRF guard refused: the host, the address it resolved to and why."""

    def __init__(self, host: str, reason: str, *, address: IPAddress | None = None) -> None:
        self.host = host
        self.reason = reason
        self.address = address
        if address is None:
            detail = f"{host} is {reason}"
        elif _ip_literal(host) != address:
            detail = f"{host} resolves to {address}, {reason}"
        elif str(address) == host or address.version == 6:
            detail = f"{host} is {reason}"
        else:  # an odd spelling: say which address it is
            detail = f"{host} is {address}, {reason}"
        super().__init__(f"refused by the SSRF guard: {detail}")


# -- which addresses are refused

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

_V4_REFUSED: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("169.254.169.254/32"), "the cloud metadata address"),
    (_V4("0.0.0.0/32"), "the unspecified address"),
    (_V4("0.0.0.0/8"), "a 'this network' address (0.0.0.0/8)"),
    (_V4("10.0.0.0/8"), "a private address (RFC 1918)"),
    (_V4("100.64.0.0/10"), "a carrier-grade NAT address (100.64.0.0/10)"),
    (_V4("127.0.0.0/8"), "a loopback address"),
    (_V4("169.254.0.0/16"), "a link-local address"),
    (_V4("172.16.0.0/12"), "a private address (RFC 1918)"),
    (_V4("192.0.0.0/24"), "an IETF protocol assignment address (192.0.0.0/24)"),
    (_V4("192.0.2.0/24"), "a documentation address (RFC 5737)"),
    (_V4("192.88.99.0/24"), "a reserved 6to4 relay address (192.88.99.0/24)"),
    (_V4("192.168.0.0/16"), "a private address (RFC 1918)"),
    (_V4("198.18.0.0/15"), "a benchmarking address (198.18.0.0/15)"),
    (_V4("198.51.100.0/24"), "a documentation address (RFC 5737)"),
    (_V4("203.0.113.0/24"), "a documentation address (RFC 5737)"),
    (_V4("224.0.0.0/4"), "a multicast address"),
    (_V4("255.255.255.255/32"), "the broadcast address"),
    (_V4("240.0.0.0/4"), "a reserved address (240.0.0.0/4)"),
)

_V6_REFUSED: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("fd00:ec2::254/128"), "the cloud metadata address (IPv6)"),
    (_V6("::/128"), "the unspecified address"),
    (_V6("::1/128"), "a loopback address"),
    (_V6("100::/64"), "a discard-only address (100::/64)"),
    (_V6("2001:2::/48"), "a benchmarking address (2001:2::/48)"),
    (_V6("2001:db8::/32"), "a documentation address (2001:db8::/32)"),
    (_V6("3fff::/20"), "a documentation address (3fff::/20)"),
    (_V6("fc00::/7"), "a unique local (private) address (fc00::/7)"),
    (_V6("fe80::/10"), "a link-local address"),
    (_V6("fec0::/10"), "a site-local address (fec0::/10, deprecated)"),
    (_V6("ff00::/8"), "a multicast address"),
)

_MAPPED = _V6("::ffff:0:0/96")
_TRANSLATED = _V6("::ffff:0:0:0/96")
_COMPATIBLE = _V6("::/96")
_NAT64 = _V6("64:ff9b::/96")
_NAT64_LOCAL = _V6("64:ff9b:1::/48")
_TEREDO = _V6("2001::/32")
_SIX_TO_FOUR = _V6("2002::/16")
_THIS_NETWORK = _V4("0.0.0.0/8")


def _nat64_local_embeddings(packed: bytes) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a 64:ff9b:1::/48 address may carry. The operator picks the prefix
    length inside this /48 (RFC 6052: /48, /56, /64 or /96; bits 64 to 71 are the u octet the
    embedding skips), so every placement is read. Readings in 0.0.0.0/8 are dropped: no
    translator forwards there, and they are what the other placements' zero bits read as."""
    readings = [
        ipaddress.IPv4Address(packed[12:16]),
        ipaddress.IPv4Address(packed[6:8] + packed[9:11]),
        ipaddress.IPv4Address(packed[7:8] + packed[9:12]),
        ipaddress.IPv4Address(packed[9:13]),
    ]
    meaningful = [v4 for v4 in readings if v4 not in _THIS_NETWORK]
    return meaningful or readings[:1]


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, list[ipaddress.IPv4Address]] | None:
    """The IPv4 addresses an IPv6 address stands for, with the name of the form, if any."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _MAPPED:
        return "an IPv4-mapped address", [low32]
    if ip in _TRANSLATED:
        return "an IPv4-translated address", [low32]
    if ip in _COMPATIBLE:
        return "an IPv4-compatible address", [low32]
    if ip in _NAT64:
        return "a NAT64 address", [low32]
    if ip in _NAT64_LOCAL:
        return "a local-use NAT64 address", _nat64_local_embeddings(ip.packed)
    if ip in _TEREDO and ip.teredo is not None:
        server, client = ip.teredo
        return "a Teredo address", [client, server]
    if ip in _SIX_TO_FOUR and ip.sixtofour is not None:
        return "a 6to4 address", [ip.sixtofour]
    return None


def check_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why the guard refuses to connect to ``ip`` (e.g. "a loopback address"), or None when the
    address is public. IPv6 forms that carry an IPv4 address are judged by that address."""
    if isinstance(ip, ipaddress.IPv4Address):
        for network, reason in _V4_REFUSED:
            if ip in network:
                return reason
        return None if ip.is_global else "not a public address"
    ip = ipaddress.IPv6Address(int(ip))  # without a zone id, so that network tests hold
    for network6, reason in _V6_REFUSED[:3]:  # exact addresses first: ::, ::1, metadata
        if ip in network6:
            return reason
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        form, addresses = embedded
        for v4 in addresses:
            inner = check_address(v4)
            if inner is not None:
                return f"{form} of {v4}, {inner}"
        return None
    for network6, reason in _V6_REFUSED[3:]:
        if ip in network6:
            return reason
    if ip.is_reserved:
        return "a reserved address"
    return None if ip.is_global else "not a public address"


# -- host names, literal addresses and the allow-list


def _ip_literal(host: str) -> IPAddress | None:
    """The address a URL host spells, in any spelling resolvers and browsers accept
    (``127.1``, ``0x7f000001``, ``2130706433``, ``0177.0.0.1``, ``[::ffff:7f00:1]``), or None
    for a host name."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    text = text.removesuffix(".")
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def _normal_host(host: str) -> str:
    return host.strip().lower().removesuffix(".")


@dataclass(frozen=True, slots=True)
class _Rule:
    network: IPNetwork | None = None
    host: str | None = None  # a name, or ".suffix" for *.suffix
    port: int | None = None

    def trusts_name(self, host: str, port: int) -> bool:
        if self.host is None or (self.port is not None and self.port != port):
            return False
        if self.host.startswith("."):
            return host.endswith(self.host)
        return host == self.host

    def trusts_address(self, ip: IPAddress, port: int) -> bool:
        if self.network is None or (self.port is not None and self.port != port):
            return False
        return ip.version == self.network.version and ip in self.network


def _unmapped(network: IPNetwork) -> IPNetwork:
    """An IPv4-mapped range as the IPv4 range it stands for: addresses are compared that way."""
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        first = ipaddress.IPv4Address(int(network.network_address) & 0xFFFFFFFF)
        return ipaddress.IPv4Network(f"{first}/{network.prefixlen - 96}")
    return network


def _parse_rule(entry: str) -> _Rule:
    text = entry.strip()
    if not text:
        raise ValueError("an empty allow-list entry")
    if "/" in text:
        try:
            return _Rule(network=_unmapped(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise ValueError(f"allow-list entry {entry!r} is not a CIDR range") from None
    try:  # a bare address, IPv6 ones included (they hold colons that are not a port)
        return _Rule(network=_unmapped(ipaddress.ip_network(text.split("%", 1)[0])))
    except ValueError:
        pass
    wildcard = text.startswith("*.")
    try:
        url = httpx.URL("http://" + (text[2:] if wildcard else text))
    except httpx.InvalidURL:
        raise ValueError(f"allow-list entry {entry!r} is not a host, address or range") from None
    if not url.host or url.raw_path != b"/" or url.userinfo or url.fragment:
        raise ValueError(f"allow-list entry {entry!r} is not a host, address or range")
    literal = _ip_literal(url.host)
    if literal is not None and not wildcard:
        return _Rule(network=_unmapped(ipaddress.ip_network(literal)), port=url.port)
    name = _normal_host(url.host)
    if not _HOST_NAME.match(name):
        raise ValueError(f"allow-list entry {entry!r} is not a host, address or range")
    return _Rule(host="." + name if wildcard else name, port=url.port)


class _AllowList:
    """The operator's trusted hosts, addresses and ranges."""

    def __init__(self, entries: Iterable[str]) -> None:
        if isinstance(entries, str):
            raise TypeError("allow must be a sequence of strings, not one string")
        self.rules = tuple(_parse_rule(entry) for entry in entries)

    def vet(self, host: str, port: int, addresses: Sequence[IPAddress]) -> None:
        """Raise SsrfRefused unless the host is trusted or every address is allowed."""
        name = _normal_host(host)
        if any(rule.trusts_name(name, port) for rule in self.rules):
            return
        for ip in addresses:
            if self._trusts(ip, port):
                continue
            reason = check_address(ip)
            if reason is not None:
                raise SsrfRefused(host, reason, address=ip)

    def _trusts(self, ip: IPAddress, port: int) -> bool:
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        return any(rule.trusts_address(c, port) for rule in self.rules for c in candidates)


def _getaddrinfo(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, in the resolver's order, without duplicates.
    (Tests replace this function to play DNS.)"""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
    seen: dict[str, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]), None)
    if not seen:
        raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
    return list(seen)


def _pinned(host: str, resolved: Iterable[str]) -> list[tuple[IPAddress, str]]:
    """Each resolved address parsed for checking, with the text to connect to."""
    pinned = []
    for text in resolved:
        ip = _ip_literal(text)
        if ip is None:
            raise httpcore.ConnectError(f"{host} resolved to {text!r}, not an address")
        pinned.append((ip, text))
    return pinned


def _literal_target(host: str) -> list[tuple[IPAddress, str]] | None:
    ip = _ip_literal(host)
    if ip is None:
        return None
    # connect to the normal spelling: the OS must not read "0177.0.0.1" differently from us
    zone = unquote(host[host.index("%") :]) if ":" in host and "%" in host else ""
    return [(ip, f"{ip}{zone}")]


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0.001)


# -- the network backends: resolve, check, connect to the checked address


class _GuardedAsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, allow: _AllowList) -> None:
        self._allow = allow
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        deadline = None if timeout is None else time.monotonic() + timeout
        targets = _literal_target(host)
        if targets is None:
            try:
                with anyio.fail_after(timeout):
                    resolved = await anyio.to_thread.run_sync(
                        _getaddrinfo, host, port, abandon_on_cancel=True
                    )
            except TimeoutError:
                raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
            targets = _pinned(host, resolved)
        self._allow.vet(host, port, [ip for ip, _ in targets])
        failure: Exception | None = None
        for _ip, text in targets:
            try:
                return await self._inner.connect_tcp(
                    text, port, _remaining(deadline), local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedSyncBackend(httpcore.NetworkBackend):
    def __init__(self, allow: _AllowList) -> None:
        self._allow = allow
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        deadline = None if timeout is None else time.monotonic() + timeout
        targets = _literal_target(host)
        if targets is None:
            targets = _pinned(host, _getaddrinfo(host, port))
        self._allow.vet(host, port, [ip for ip, _ in targets])
        failure: Exception | None = None
        for _ip, text in targets:
            try:
                return self._inner.connect_tcp(
                    text, port, _remaining(deadline), local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# -- transports and clients


def _check_url(url: httpx.URL) -> None:
    where = f"{url.scheme}://{url.host}{url.path}"[:200]  # never the userinfo
    if url.scheme and url.scheme not in _SCHEMES:
        raise SsrfRefused(where, f"not an http or https URL (scheme {url.scheme!r})")
    if url.scheme and not url.host:
        raise SsrfRefused(where, "a URL without a host")


def _check_request(request: httpx.Request) -> None:
    if not request.url.scheme:
        raise SsrfRefused(str(request.url)[:200], "not an absolute http or https URL")
    _check_url(request.url)


def _refuse_odd_url(url: object, allow: _AllowList) -> None:
    """For URLs httpx cannot parse: refuse those whose host is a refused address in a spelling
    httpx rejects (``http://0177.0.0.1``), so the caller learns the real reason."""
    if not isinstance(url, str):
        return
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return
    ip = _ip_literal(host) if host else None
    if host is not None and ip is not None:
        default = 443 if parts.scheme.lower() == "https" else 80
        allow.vet(host, port or default, [ip])


def _build(
    build: Callable[..., httpx.Request],
    allow: _AllowList,
    method: str,
    url: Any,
    *args: Any,
    **kwargs: Any,
) -> httpx.Request:
    """httpx's build_request, with a clear refusal for the URLs the guard would refuse anyway
    but httpx reads as relative (``file:///etc/passwd``) or cannot parse (``http://0177.0.0.1``)."""
    if isinstance(url, str | httpx.URL):
        try:
            _check_url(httpx.URL(url))
        except httpx.InvalidURL:
            _refuse_odd_url(url, allow)
            raise
    return build(method, url, *args, **kwargs)


def _ssl_context(verify: Any, cert: Any, trust_env: bool) -> ssl.SSLContext:
    return httpx.create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)


def _pool_options(
    *,
    verify: Any = True,
    cert: Any = None,
    trust_env: bool = True,
    http1: bool = True,
    http2: bool = False,
    limits: httpx.Limits = _DEFAULT_LIMITS,
    local_address: str | None = None,
    retries: int = 0,
    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
) -> dict[str, Any]:
    """The connection pool's settings from httpx's transport options (others: TypeError)."""
    return {
        "ssl_context": _ssl_context(verify, cert, trust_env),
        "max_connections": limits.max_connections,
        "max_keepalive_connections": limits.max_keepalive_connections,
        "keepalive_expiry": limits.keepalive_expiry,
        "http1": http1,
        "http2": http2,
        "local_address": local_address,
        "retries": retries,
        "socket_options": socket_options,
    }


class _GuardedAsyncTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a connection pool whose every connection goes through the guard."""

    def __init__(self, allow: _AllowList, **options: Any) -> None:
        # Not super().__init__(): it would build an unguarded pool. The parent's methods only
        # use self._pool, which holds the same kind of pool with the guarded backend.
        self._pool = httpcore.AsyncConnectionPool(
            **_pool_options(**options), network_backend=_GuardedAsyncBackend(allow)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _check_request(request)
        return await super().handle_async_request(request)


class _GuardedSyncTransport(httpx.HTTPTransport):
    """The blocking twin of ``_GuardedAsyncTransport``."""

    def __init__(self, allow: _AllowList, **options: Any) -> None:
        self._pool = httpcore.ConnectionPool(
            **_pool_options(**options), network_backend=_GuardedSyncBackend(allow)
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _check_request(request)
        return super().handle_request(request)


class _GuardedAsyncClient(httpx.AsyncClient):
    def __init__(self, allow: _AllowList, **options: Any) -> None:
        super().__init__(**options)
        self._guard_allow = allow

    def build_request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> httpx.Request:
        return _build(super().build_request, self._guard_allow, method, url, *args, **kwargs)


class _GuardedSyncClient(httpx.Client):
    def __init__(self, allow: _AllowList, **options: Any) -> None:
        super().__init__(**options)
        self._guard_allow = allow

    def build_request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> httpx.Request:
        return _build(super().build_request, self._guard_allow, method, url, *args, **kwargs)


def _split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The options for the transport and those for the client; refuse those that bypass it."""
    for name in _BYPASSING_OPTIONS:
        if name in options:
            raise TypeError(f"{name}= is not accepted: it would route requests past the SSRF guard")
    transport = {name: options.pop(name) for name in _TRANSPORT_OPTIONS if name in options}
    transport["trust_env"] = options.pop("trust_env", True)  # CA bundle variables only
    # trust_env=False on the client: environment proxies would carry requests past the guard
    return transport, {**options, "trust_env": False}


def async_client(*, allow: Sequence[str] = (), **options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that connects to public addresses only, plus those ``allow``
    trusts. ``options`` are httpx's (timeout, headers, follow_redirects, verify, ...), less the
    ones that would bypass the guard (transport, mounts, proxy, uds)."""
    rules = _AllowList(allow)
    transport_options, client_options = _split_options(dict(options))
    transport = _GuardedAsyncTransport(rules, **transport_options)
    return _GuardedAsyncClient(rules, transport=transport, **client_options)


def sync_client(*, allow: Sequence[str] = (), **options: Any) -> httpx.Client:
    """The blocking twin of ``async_client``: an ``httpx.Client`` behind the same guard."""
    rules = _AllowList(allow)
    transport_options, client_options = _split_options(dict(options))
    transport = _GuardedSyncTransport(rules, **transport_options)
    return _GuardedSyncClient(rules, transport=transport, **client_options)
