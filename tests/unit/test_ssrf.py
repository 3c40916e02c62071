"""The SSRF guard without a server: which addresses it refuses, the spellings of hosts it sees
through, the schemes and options it will not take, and its allow-list."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from flowforge.security import SsrfRefused, async_client, check_address, ssrf, sync_client

REFUSED = [
    ("127.0.0.1", "a loopback address"),
    ("127.255.255.254", "a loopback address"),
    ("10.1.2.3", "a private address (RFC 1918)"),
    ("172.16.0.1", "a private address (RFC 1918)"),
    ("172.31.255.255", "a private address (RFC 1918)"),
    ("192.168.1.1", "a private address (RFC 1918)"),
    ("169.254.169.254", "the cloud metadata address"),
    ("169.254.1.1", "a link-local address"),
    ("0.0.0.0", "the unspecified address"),
    ("0.1.2.3", "'this network'"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.255", "carrier-grade NAT"),
    ("192.0.0.8", "IETF protocol assignment"),
    ("192.0.2.1", "a documentation address"),
    ("198.51.100.7", "a documentation address"),
    ("203.0.113.9", "a documentation address"),
    ("198.18.0.1", "a benchmarking address"),
    ("198.19.255.255", "a benchmarking address"),
    ("192.88.99.1", "6to4 relay"),
    ("224.0.0.1", "a multicast address"),
    ("239.255.255.250", "a multicast address"),
    ("240.0.0.1", "a reserved address"),
    ("255.255.255.255", "the broadcast address"),
    ("::1", "a loopback address"),
    ("::", "the unspecified address"),
    ("fe80::1", "a link-local address"),
    ("fc00::1", "a unique local (private) address"),
    ("fd12:3456::1", "a unique local (private) address"),
    ("fd00:ec2::254", "the cloud metadata address (IPv6)"),
    ("ff02::1", "a multicast address"),
    ("2001:db8::1", "a documentation address"),
    ("3fff::1", "a documentation address"),
    ("2001:2::1", "a benchmarking address"),
    ("fec0::1", "a site-local address"),
    ("100::1", "a discard-only address"),
    # IPv6 forms that carry an IPv4 address
    ("::ffff:127.0.0.1", "an IPv4-mapped address of 127.0.0.1, a loopback address"),
    ("::ffff:169.254.169.254", "an IPv4-mapped address of 169.254.169.254, the cloud metadata"),
    ("::ffff:10.0.0.1", "an IPv4-mapped address of 10.0.0.1, a private address"),
    ("::ffff:0:7f00:1", "an IPv4-translated address of 127.0.0.1"),
    ("::127.0.0.1", "an IPv4-compatible address of 127.0.0.1, a loopback address"),
    ("::192.168.0.1", "an IPv4-compatible address of 192.168.0.1"),
    ("2002:7f00:1::", "a 6to4 address of 127.0.0.1, a loopback address"),
    ("2002:a9fe:a9fe::1", "a 6to4 address of 169.254.169.254, the cloud metadata address"),
    ("64:ff9b::7f00:1", "a NAT64 address of 127.0.0.1, a loopback address"),
    ("64:ff9b::169.254.169.254", "a NAT64 address of 169.254.169.254"),
    ("64:ff9b:1::a9fe:a9fe", "a local-use NAT64 address of 169.254.169.254"),
    ("64:ff9b:1:a9fe:a9:fe00::", "a local-use NAT64 address of 169.254.169.254"),  # /48 form
    ("64:ff9b:1:7f00:0:100::", "a local-use NAT64 address of 127.0.0.1"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "a Teredo address of 127.0.0.1"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "a Teredo address of 192.0.2.45"),
    ("2001:0:a00:1:8000:63bf:f7f7:f7f7", "a Teredo address of 10.0.0.1"),  # private server
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below carrier-grade NAT
    "100.128.0.0",  # just above it
    "172.32.0.1",  # just above 172.16/12
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",
    "64:ff9b:1::808:808",
    "2002:808:808::1",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo: server 65.54.227.120, client 8.8.8.8
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_refused_addresses_name_the_reason(address: str, reason: str) -> None:
    got = check_address(ipaddress.ip_address(address))
    assert got is not None and reason in got, got


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert check_address(ipaddress.ip_address(address)) is None


def test_a_zone_id_does_not_hide_a_link_local_address() -> None:
    assert check_address(ipaddress.IPv6Address("fe80::1%eth0")) == "a link-local address"


# Every spelling here reaches the loopback or metadata address. The resolver must not even be
# asked: the guard reads them as the addresses they are.
SPELLINGS = [
    ("http://0x7f000001/", "127.0.0.1, a loopback address"),
    ("http://2130706433/", "127.0.0.1, a loopback address"),
    ("http://0177.0.0.1/", "127.0.0.1, a loopback address"),
    ("http://127.1/", "127.0.0.1, a loopback address"),
    ("http://0x7f.1/", "127.0.0.1, a loopback address"),
    ("http://127.0.0.1./", "a loopback address"),
    ("http://0/", "the unspecified address"),
    ("http://[::ffff:169.254.169.254]/", "169.254.169.254, the cloud metadata address"),
    ("http://[::ffff:7f00:1]/", "127.0.0.1, a loopback address"),
    ("http://[::1]:8080/", "a loopback address"),
    ("http://[fe80::1%25eth0]/", "a link-local address"),
    ("http://169.254.169.254/latest/meta-data/", "the cloud metadata address"),
    ("http://0xa9fea9fe/", "169.254.169.254, the cloud metadata address"),
    ("http://[64:ff9b::7f00:1]/", "a NAT64 address of 127.0.0.1"),
    ("https://10.0.0.1/", "a private address"),
    ("http://user:pass@127.0.0.1/", "a loopback address"),
]


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolve(host: str, port: int) -> list[str]:
        raise AssertionError(f"the resolver was asked for {host}")

    monkeypatch.setattr(ssrf, "_getaddrinfo", resolve)


@pytest.mark.usefixtures("no_dns")
@pytest.mark.parametrize(("url", "reason"), SPELLINGS)
async def test_odd_spellings_are_refused_async(url: str, reason: str) -> None:
    async with async_client() as client:
        with pytest.raises(SsrfRefused) as caught:
            await client.get(url)
    assert reason in str(caught.value)
    assert caught.value.address is not None and check_address(caught.value.address) is not None


@pytest.mark.usefixtures("no_dns")
@pytest.mark.parametrize(("url", "reason"), SPELLINGS)
def test_odd_spellings_are_refused_sync(url: str, reason: str) -> None:
    with sync_client() as client, pytest.raises(SsrfRefused) as caught:
        client.get(url)
    assert reason in str(caught.value)


def test_the_message_names_host_and_reason() -> None:
    with sync_client() as client, pytest.raises(SsrfRefused) as caught:
        client.get("http://127.0.0.1:9/")
    assert str(caught.value) == "refused by the SSRF guard: 127.0.0.1 is a loopback address"
    assert caught.value.host == "127.0.0.1" and caught.value.reason == "a loopback address"


async def test_a_name_is_refused_when_any_address_it_resolves_to_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["93.184.216.34", "10.20.30.40"]

    monkeypatch.setattr(ssrf, "_getaddrinfo", resolve)
    async with async_client() as client:
        with pytest.raises(SsrfRefused) as caught:
            await client.get("https://mixed.example/")
    assert asked == ["mixed.example"]
    assert str(caught.value).endswith(
        "mixed.example resolves to 10.20.30.40, a private address (RFC 1918)"
    )


async def test_localhost_is_refused_through_the_real_resolver() -> None:
    async with async_client() as client:
        with pytest.raises(SsrfRefused, match=r"localhost resolves to .*a loopback address"):
            await client.get("http://localhost:9/")


def test_an_unknown_host_is_a_connect_error_not_a_refusal() -> None:
    with sync_client() as client, pytest.raises(httpx.ConnectError, match="cannot resolve"):
        client.get("http://no-such-host.invalid/")


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/file",
        "gopher://example.com/",
        "ws://example.com/socket",
        "dict://127.0.0.1:11211/stat",
        "http:///no-host",
    ],
)
async def test_other_schemes_and_hostless_urls_are_refused(url: str) -> None:
    async with async_client() as client:
        with pytest.raises(SsrfRefused) as caught:
            await client.get(url)
    assert "http or https" in str(caught.value) or "without a host" in str(caught.value)


async def test_a_relative_url_without_a_base_is_refused() -> None:
    async with async_client() as client:
        with pytest.raises(SsrfRefused, match="not an absolute"):
            await client.get("/path")


@pytest.mark.parametrize(
    "option",
    [
        {"transport": httpx.AsyncHTTPTransport()},
        {"mounts": {}},
        {"proxy": "http://proxy.example:3128"},
        {"uds": "/run/docker.sock"},
    ],
)
def test_options_that_would_bypass_the_guard_are_refused(option: dict[str, object]) -> None:
    name = next(iter(option))
    with pytest.raises(TypeError, match=f"{name}= is not accepted"):
        async_client(**option)
    with pytest.raises(TypeError, match=f"{name}= is not accepted"):
        sync_client(**option)


def test_environment_proxies_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("ALL_PROXY", "http://proxy.example:3128")
    with sync_client() as client, pytest.raises(SsrfRefused):
        client.get("http://127.0.0.1:9/")  # through a proxy it would be a ConnectError


@pytest.mark.parametrize(
    "entries",
    [
        ["127.0.0.1"],
        ["127.0.0.0/8"],
        ["127.0.0.1:9"],
        ["[::ffff:127.0.0.1]"],
        ["10.0.0.0/8", " 127.0.0.1 "],
    ],
)
def test_allowed_addresses_pass_the_guard(entries: list[str]) -> None:
    # nothing listens on port 9: getting past the guard shows as a connection error
    with sync_client(allow=entries, timeout=5) as client, pytest.raises(httpx.ConnectError):
        client.get("http://127.0.0.1:9/")


@pytest.mark.parametrize(
    ("entries", "url"),
    [
        (["127.0.0.1:8080"], "http://127.0.0.1:9/"),  # another port
        (["127.0.0.2"], "http://127.0.0.1:9/"),
        (["10.0.0.0/8"], "http://127.0.0.1:9/"),
        (["api.internal"], "http://localhost:9/"),
        (["*.localhost"], "http://localhost:9/"),  # a wildcard covers sub-domains only
        (["::1"], "http://127.0.0.1:9/"),
    ],
)
def test_the_allow_list_trusts_only_what_it_names(entries: list[str], url: str) -> None:
    with sync_client(allow=entries) as client, pytest.raises(SsrfRefused):
        client.get(url)


def test_an_allowed_name_passes_whatever_it_resolves_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssrf, "_getaddrinfo", lambda host, port: ["127.0.0.1"])
    for entries in (["svc.internal"], ["SVC.internal."], ["*.internal"], ["svc.internal:9"]):
        with sync_client(allow=entries, timeout=5) as client, pytest.raises(httpx.ConnectError):
            client.get("http://svc.internal:9/")


@pytest.mark.parametrize(
    "entry", ["", "   ", "http://host/path", "10.0.0.0/33", "a b", "host/path", "user@host"]
)
def test_bad_allow_list_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="allow-list entry"):
        async_client(allow=[entry])


def test_the_allow_list_is_not_one_string() -> None:
    with pytest.raises(TypeError, match="not one string"):
        sync_client(allow="127.0.0.1")
