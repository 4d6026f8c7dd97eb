"""The SSRF guard: what may receive webhooks, decided before any connection."""

from __future__ import annotations

import pytest

from core.webhooks.ssrf import UnsafeWebhookUrl, address_problem, check_url, ip_literal
from tests.webhook_support import FakeResolver

PUBLIC = "93.184.216.34"

REFUSED = [
    ("https://127.0.0.1/", "loopback"),
    ("https://127.1/", "loopback"),
    ("https://[::1]/", "loopback"),
    ("https://[::ffff:127.0.0.1]/", "loopback"),
    ("https://[::ffff:7f00:1]/", "loopback"),
    ("https://0x7f000001/", "loopback"),
    ("https://2130706433/", "loopback"),
    ("https://017700000001/", "loopback"),
    ("https://0177.0.0.1/", "loopback"),
    ("https://0x7f.0.0.1/", "loopback"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://[fe80::1]/", "link-local"),
    ("https://10.0.0.1/", "private"),
    ("https://10.255.255.255/", "private"),
    ("https://172.16.0.1/", "private"),
    ("https://172.31.255.255/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://[fd00:ec2::254]/", "private"),
    ("https://100.64.0.1/", "shared"),
    ("https://100.127.255.255/", "shared"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://0/", "unspecified"),
    ("https://[::]/", "unspecified"),
    ("https://224.0.0.1/", "multicast"),
    ("https://239.255.255.250/", "multicast"),
    ("https://[ff02::1]/", "multicast"),
    ("https://240.0.0.1/", "reserved"),
    ("https://255.255.255.255/", "reserved"),
    ("https://[2002:7f00:1::]/", "loopback"),  # 6to4 around 127.0.0.1
    ("https://[2002:a9fe:a9fe::]/", "link-local"),  # 6to4 around 169.254.169.254
    ("https://[64:ff9b::7f00:1]/", "loopback"),  # NAT64 around 127.0.0.1
    ("https://[64:ff9b::a00:1]/", "private"),  # NAT64 around 10.0.0.1
    ("https://[64:ff9b:1::1]/", "NAT64"),
    ("https://[::127.0.0.1]/", "loopback"),  # IPv4-compatible
    ("https://[2001:0::1]/", "Teredo"),
    ("https://localhost/", "localhost"),
    ("https://LOCALHOST./", "localhost"),
    ("https://api.localhost/", "localhost"),
    ("http://example.com/", "https"),
    ("file:///etc/passwd", "https"),
    ("gopher://example.com/", "https"),
    ("ftp://example.com/", "https"),
    ("https://user:pass@example.com/", "credentials"),
    ("https://example.com@127.0.0.1/", "credentials"),
    ("https://256.0.0.1/", "not a valid IPv4"),
    ("https://1.2.3.4.5/", "not a valid IPv4"),
    ("https://[fe80::1%25eth0]/", "zone"),
    ("https:///nohost", "no host"),
    ("https://example.com:0/", "port"),
    ("https://example.com:99999/", "malformed"),
    ("https://exa mple.com/", "whitespace"),
    ("https://example.com/\r\nX-Injected: 1", "whitespace"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_internal_or_malformed_urls_are_refused_with_a_reason(url, reason):
    resolver = FakeResolver({"example.com": [PUBLIC]})
    with pytest.raises(UnsafeWebhookUrl) as refused:
        check_url(url, resolver)
    assert reason in refused.value.reason


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "fd00::1",
                                     "::ffff:10.0.0.1", "100.64.1.1", "0.0.0.0"])
def test_a_name_resolving_to_any_internal_address_is_refused(address):
    resolver = FakeResolver({"hooks.example.com": [PUBLIC, address]})
    with pytest.raises(UnsafeWebhookUrl) as refused:
        check_url("https://hooks.example.com/in", resolver)
    assert f"resolves to {ip_literal(address) or address}" in refused.value.reason


def test_a_public_name_passes_with_its_checked_addresses_host_and_target():
    resolver = FakeResolver({"hooks.example.com": [PUBLIC, "2606:4700::1111"]})
    checked = check_url("https://Hooks.Example.com.:8443/in?x=1", resolver)
    assert checked.addresses == (PUBLIC, "2606:4700::1111")
    assert (checked.host, checked.port, checked.target) == ("hooks.example.com", 8443, "/in?x=1")
    assert checked.host_header == "Hooks.Example.com.:8443"
    assert resolver.calls == ["hooks.example.com"]


def test_a_public_ip_literal_is_used_without_resolving():
    resolver = FakeResolver()
    checked = check_url("https://93.184.216.34/", resolver)
    assert checked.addresses == (PUBLIC,) and checked.is_ip_literal
    assert resolver.calls == []


def test_an_unresolvable_host_is_refused():
    with pytest.raises(UnsafeWebhookUrl, match="does not resolve"):
        check_url("https://nowhere.example/", FakeResolver())


@pytest.mark.parametrize(("spelling", "canonical"), [
    ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("017700000001", "127.0.0.1"),
    ("127.1", "127.0.0.1"), ("0177.0.0.01", "127.0.0.1"), ("10.0x10.1", "10.16.0.1"), ("8.8.8.8", "8.8.8.8"),
])
def test_ipv4_spellings_are_canonicalised(spelling, canonical):
    assert str(ip_literal(spelling)) == canonical


def test_names_are_not_mistaken_for_addresses():
    assert ip_literal("1e100.net") is None
    assert ip_literal("0x7f.example") is None


def test_embedded_public_ipv4_is_judged_by_what_it_embeds():
    import ipaddress

    assert address_problem(ipaddress.ip_address("::ffff:8.8.8.8")) is None
    assert address_problem(ipaddress.ip_address("64:ff9b::808:808")) is None


def test_allow_private_admits_http_and_loopback_but_still_refuses_other_schemes():
    checked = check_url("http://127.0.0.1:8080/hook", FakeResolver(), allow_private=True)
    assert checked.addresses == ("127.0.0.1",) and checked.scheme == "http"
    assert check_url("http://localhost/", FakeResolver({"localhost": ["127.0.0.1"]}), allow_private=True)
    with pytest.raises(UnsafeWebhookUrl):
        check_url("file:///etc/passwd", FakeResolver(), allow_private=True)
