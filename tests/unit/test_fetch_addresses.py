"""Which addresses `http_fetch` refuses, by class, and how the allow-list overrides it."""

from __future__ import annotations

import ipaddress

import pytest

from bosun.egress.addresses import (
    AllowList,
    describe,
    is_ambiguous_number,
    normalize_host,
    refused_class,
)
from bosun.errors import ConfigurationError

pytestmark = pytest.mark.timeout(10)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.1", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.255", "carrier-grade NAT"),
        ("169.254.0.1", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("fc00::1", "unique-local"),
        ("fdff:ffff::1", "unique-local"),
        ("fec0::1", "site-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::fb", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "reserved"),
        ("198.18.0.1", "reserved"),
        ("2001:db8::1", "reserved"),
        ("::127.0.0.1", "reserved"),  # IPv4-compatible, deprecated
        # IPv6 forms carrying an IPv4 address are judged by that address.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "private"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("::ffff:0:127.0.0.1", "loopback"),  # IPv4-translated
        ("64:ff9b::127.0.0.1", "loopback"),  # NAT64
        ("64:ff9b:1::1", "private"),  # local-use NAT64
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", "cloud metadata"),  # 6to4 of 169.254.169.254
    ],
)
def test_refused_classes(address: str, expected: str) -> None:
    assert refused_class(ipaddress.ip_address(address)) == expected


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "172.32.0.1",  # just outside 172.16.0.0/12
        "100.128.0.1",  # just outside 100.64.0.0/10
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::8.8.8.8",  # what DNS64 answers for a public IPv4-only host
        "2002:808:808::1",
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert refused_class(ipaddress.ip_address(address)) is None


def test_describe_names_the_embedded_address() -> None:
    mapped = ipaddress.ip_address("::ffff:127.0.0.1")
    assert describe("::ffff:127.0.0.1", mapped) == (
        "::ffff:127.0.0.1 (the IPv4-mapped IPv6 form of 127.0.0.1)"
    )
    assert describe("10.0.0.1", ipaddress.ip_address("10.0.0.1")) == "10.0.0.1"


@pytest.mark.parametrize(
    "host", ["2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "127.1", "0", "10.1"]
)
def test_non_canonical_numbers_are_ambiguous(host: str) -> None:
    assert is_ambiguous_number(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "example.com", "1e100.net", "123.example", "::1"])
def test_names_and_canonical_addresses_are_not(host: str) -> None:
    assert not is_ambiguous_number(host)


def test_normalize_host() -> None:
    assert normalize_host("ExAmple.COM.") == "example.com"
    assert normalize_host("[::1]") == "::1"


def test_allow_list_by_name_address_and_network() -> None:
    allow = AllowList.parse(["API.internal.", "10.0.0.5", "192.168.0.0/16", "[::1]"])
    assert allow.allows_host("api.internal")
    assert not allow.allows_host("other.internal")
    for text in ["10.0.0.5", "192.168.44.1", "::1", "::ffff:10.0.0.5"]:
        assert allow.allows_address(ipaddress.ip_address(text)), text
    for text in ["10.0.0.6", "127.0.0.1", "::2"]:
        assert not allow.allows_address(ipaddress.ip_address(text)), text


@pytest.mark.parametrize("entry", ["http://x", "a b", "", "2130706433", "10.0.0.0/40"])
def test_bad_allow_entries_are_configuration_errors(entry: str) -> None:
    with pytest.raises(ConfigurationError, match="allow-list entry"):
        AllowList.parse([entry])
