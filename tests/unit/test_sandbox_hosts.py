"""`network_hosts` entries: what they allow, and the errors for what they cannot mean."""

from __future__ import annotations

import ipaddress

import pytest

from bosun.egress.hosts import HostAllowList


def allows(entries: list[str], host: str, port: int = 443) -> bool:
    return HostAllowList.parse(entries).refuse_target(host, port) is None


def test_a_host_name_allows_every_port_and_a_port_narrows_it() -> None:
    assert allows(["api.github.com"], "api.github.com", 80)
    assert allows(["api.github.com"], "API.GitHub.com.", 8443)  # case, trailing dot
    assert allows(["pypi.org:443"], "pypi.org", 443)
    assert not allows(["pypi.org:443"], "pypi.org", 80)
    assert not allows(["api.github.com"], "github.com")
    assert not allows(["github.com"], "api.github.com")


def test_a_wildcard_allows_subdomains_not_the_domain_itself() -> None:
    assert allows(["*.example.com"], "a.example.com")
    assert allows(["*.example.com"], "a.b.example.com")
    assert not allows(["*.example.com"], "example.com")
    assert not allows(["*.example.com"], "badexample.com")
    assert not allows(["*.example.com:443"], "a.example.com", 80)


def test_addresses_and_networks_are_allowed_by_address() -> None:
    assert allows(["10.1.2.3"], "10.1.2.3")
    assert allows(["10.8.0.0/16"], "10.8.200.1", 1)
    assert allows(["127.0.0.1:8080"], "127.0.0.1", 8080)
    assert not allows(["127.0.0.1:8080"], "127.0.0.1", 8081)
    assert allows(["[::1]:8080"], "[::1]", 8080)
    assert allows(["::1"], "::1", 5)
    assert not allows(["10.1.2.3"], "10.1.2.4")
    # A name on the list does not allow its address written as a number, nor the reverse.
    assert not allows(["localhost"], "127.0.0.1")
    assert not allows(["127.0.0.1"], "localhost")


def test_star_allows_every_name_and_every_public_address_only() -> None:
    assert allows(["*"], "anything.example")
    assert allows(["*"], "93.184.216.34")
    assert not allows(["*"], "10.0.0.1")
    assert not allows(["*"], "169.254.169.254")


def test_names_resolving_inward_are_refused_unless_the_address_is_listed() -> None:
    allow = HostAllowList.parse(["internal.example", "10.8.0.0/16"])
    private = ipaddress.ip_address("10.8.0.5")
    other = ipaddress.ip_address("10.9.0.5")
    assert allow.refuse_address("internal.example", 80, private) is None
    why = allow.refuse_address("internal.example", 80, other)
    assert why is not None and "private" in why and "network_hosts" in why
    public = ipaddress.ip_address("93.184.216.34")
    assert allow.refuse_address("internal.example", 80, public) is None
    mapped = ipaddress.ip_address("::ffff:169.254.169.254")
    why = HostAllowList.parse(["x.example"]).refuse_address("x.example", 80, mapped)
    assert why is not None and "metadata" in why


def test_metadata_names_need_their_exact_name_listed() -> None:
    assert not allows(["*"], "metadata.google.internal")
    assert not allows(["*.google.internal"], "metadata.google.internal")
    assert allows(["metadata.google.internal"], "metadata.google.internal")


def test_ambiguous_numbers_and_junk_are_refused_as_targets() -> None:
    allow = HostAllowList.parse(["*"])
    for host in ("2130706433", "0x7f.1", "127.1", "bad host", "a..b", ""):
        assert allow.refuse_target(host, 80) is not None, host


@pytest.mark.parametrize(
    "entry",
    ["", "exa mple.com", "host:0", "host:70000", "host:http", "[::1", "[::1]x", "127.1", "a/b"],
)
def test_bad_entries_are_clear_errors(entry: str) -> None:
    with pytest.raises(ValueError, match="network_hosts entry"):
        HostAllowList.parse([entry])


def test_a_string_instead_of_a_list_is_an_error() -> None:
    with pytest.raises(ValueError, match="a list of hosts"):
        HostAllowList.parse("pypi.org")


def test_unicode_names_are_compared_in_their_ascii_form() -> None:
    allow = HostAllowList.parse(["bücher.example"])
    assert allow.refuse_target("xn--bcher-kva.example", 443) is None
