"""Which addresses `http_fetch` refuses, and the allow-list that overrides the refusal.

An agent's fetch must not reach the worker's own network: services on loopback, the private
ranges, link-local and the cloud metadata endpoints (which hand out credentials). The check
runs on IP addresses *after* DNS resolution, so a public-looking name that resolves inward
is refused too. IPv6 forms that embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`,
IPv4-translated, NAT64 `64:ff9b::/96`, 6to4, Teredo) are judged by the address they embed.

Hosts written as numbers in forms other than the dotted quad (`2130706433`, `0177.0.0.1`,
`0x7f.1`, `127.1`) are refused outright: resolvers disagree on what they mean, which is
exactly what a filter must not depend on.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bosun.errors import ConfigurationError

__all__ = [
    "METADATA_HOSTS",
    "AllowList",
    "IPAddress",
    "describe",
    "is_ambiguous_number",
    "normalize_host",
    "parse_ip",
    "refused_class",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Names of metadata services, refused whatever they resolve to (a custom resolver or
# /etc/hosts entry could point them anywhere, and they exist only to be reached inside).
METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data"}
)

# First match wins, so the specific entries (metadata) come before the ranges holding them.
_V4_CLASSES: tuple[tuple[str, str], ...] = (
    ("169.254.169.254/32", "cloud metadata"),  # AWS, GCP, Azure, OCI, DigitalOcean…
    ("100.100.100.200/32", "cloud metadata"),  # Alibaba Cloud
    ("0.0.0.0/8", "unspecified"),
    ("127.0.0.0/8", "loopback"),
    ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("169.254.0.0/16", "link-local"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # with the broadcast address
    ("192.0.0.0/24", "reserved"),  # IETF protocol assignments (OCI's old metadata address)
    ("192.0.2.0/24", "reserved"),  # documentation
    ("198.51.100.0/24", "reserved"),  # documentation
    ("203.0.113.0/24", "reserved"),  # documentation
    ("198.18.0.0/15", "reserved"),  # benchmarking
    ("192.88.99.0/24", "reserved"),  # 6to4 relay anycast
)
_V6_CLASSES: tuple[tuple[str, str], ...] = (
    ("fd00:ec2::254/128", "cloud metadata"),  # AWS IMDS over IPv6
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
    ("64:ff9b:1::/48", "private"),  # local-use NAT64
    ("100::/64", "reserved"),  # discard-only
    ("2001:db8::/32", "reserved"),  # documentation
    ("::/8", "reserved"),  # IPv4-compatible (deprecated) and unassigned
)
_V4_TABLE = tuple((ipaddress.IPv4Network(net), name) for net, name in _V4_CLASSES)
_V6_TABLE = tuple((ipaddress.IPv6Network(net), name) for net, name in _V6_CLASSES)
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT IPv4-translated
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)


def normalize_host(host: str) -> str:
    """A host as compared: lower case, without IPv6 brackets or a trailing dot."""
    return host.strip().strip("[]").rstrip(".").lower()


def parse_ip(host: str) -> IPAddress | None:
    """The address a (normalized) host spells in canonical form, or None for a name."""
    try:
        return ipaddress.ip_address(host.partition("%")[0])  # drop an IPv6 zone
    except ValueError:
        return None


def is_ambiguous_number(host: str) -> bool:
    """Whether a (normalized) host is an IPv4 address in a non-canonical numeric form."""
    labels = host.split(".")
    return all(_NUMERIC_LABEL.fullmatch(label) for label in labels) and parse_ip(host) is None


def refused_class(address: IPAddress) -> str | None:
    """Why `address` is refused ("loopback", "private", "cloud metadata"…), or None when it
    is a public address."""
    if isinstance(address, ipaddress.IPv4Address):
        return _v4_class(address)
    only, embedded = _embedded_ipv4(address)
    for _, inner in embedded:
        name = _v4_class(inner)
        if name is not None:
            return name
    if only:  # the address *is* its IPv4 address, which passed
        return None
    name = _lookup(_V6_TABLE, address)
    if name is None and not address.is_global:
        name = "reserved"
    return name


def describe(text: str, address: IPAddress) -> str:
    """`text` (spelling `address`), saying which IPv4 address it embeds when it embeds a
    refused one."""
    if isinstance(address, ipaddress.IPv6Address):
        for form, inner in _embedded_ipv4(address)[1]:
            if _v4_class(inner) is not None:
                return f"{text} (the {form} form of {inner})"
    return text


@dataclass(frozen=True)
class AllowList:
    """Hosts, addresses and networks that `http_fetch` may reach even though their class is
    refused. A host name allows every address it resolves to."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[_Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """Read `["api.internal", "10.1.2.3", "10.8.0.0/16", "::1"]`.

        Raises:
            ConfigurationError: an entry is neither a host name, an address nor a CIDR.
        """
        hosts: set[str] = set()
        networks: list[_Network] = []
        for entry in entries:
            text = normalize_host(entry)
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
                continue
            except ValueError:
                pass
            if not text or any(c in text for c in "/:@ ") or is_ambiguous_number(text):
                raise ConfigurationError(
                    f"allow-list entry {entry!r} is not a host name, an IP address or a CIDR "
                    f"network; write e.g. 'api.internal', '10.0.0.5' or '10.8.0.0/16'"
                )
            hosts.add(text)
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        """Whether a (normalized) host name is allowed by name."""
        return host in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        """Whether an address is in an allowed network (an IPv4-mapped address is the IPv4
        address it maps)."""
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(ip in net for ip in candidates for net in self.networks)


def _lookup(table: Iterable[tuple[_Network, str]], address: IPAddress) -> str | None:
    for network, name in table:
        if address in network:
            return name
    return None


def _v4_class(address: ipaddress.IPv4Address) -> str | None:
    name = _lookup(_V4_TABLE, address)
    if name is None and not address.is_global:
        name = "reserved"
    return name


def _embedded_ipv4(
    address: ipaddress.IPv6Address,
) -> tuple[bool, list[tuple[str, ipaddress.IPv4Address]]]:
    """The IPv4 addresses an IPv6 address carries, and whether it is nothing but one."""
    if address.ipv4_mapped is not None:
        return True, [("IPv4-mapped IPv6", address.ipv4_mapped)]
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _TRANSLATED:
        return True, [("IPv4-translated IPv6", low32)]
    if address in _NAT64:  # what DNS64 answers for every IPv4-only host
        return True, [("NAT64", low32)]
    if address.sixtofour is not None:
        return False, [("6to4", address.sixtofour)]
    if address.teredo is not None:
        server, client = address.teredo
        return False, [("Teredo", server), ("Teredo", client)]
    return False, []
