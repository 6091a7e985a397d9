"""The hosts sandboxed code may reach through the egress proxy: `network_hosts=[...]`.

An entry is one of:

- a host name: `api.github.com` (every port), `pypi.org:443` (that port only);
- a wildcard: `*.example.com` (every name under example.com, not example.com itself), with an
  optional port; `*` alone: every host name and every public address;
- an address or network: `10.1.2.3`, `10.1.2.3:8080`, `::1`, `[::1]:8080`, `10.8.0.0/16`
  (networks: every port).

A request through the proxy names its destination by host name or by address. A name must
match a name entry; an address must be listed (or fall under `*` and be public). Then the
proxy resolves the name itself and refuses it when any address it resolves to is private,
loopback, link-local, cloud metadata or otherwise internal (the guard `http_fetch` uses,
`bosun.egress.addresses`) -- *unless that address is listed*: listing an address or a
network is the one way to let sandboxed code reach an internal service, and a host name on
the list does not do it alone (its DNS could change under it).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bosun.egress.addresses import (
    METADATA_HOSTS,
    IPAddress,
    describe,
    is_ambiguous_number,
    normalize_host,
    parse_ip,
    refused_class,
)

__all__ = ["HostAllowList"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_EXAMPLES = "e.g. 'api.github.com', 'pypi.org:443', '*.example.com', '10.0.0.5' or '10.8.0.0/16'"


@dataclass(frozen=True)
class _Name:
    name: str  # for a wildcard, the suffix without its "*."
    wildcard: bool
    port: int | None

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and port != self.port:
            return False
        return host.endswith("." + self.name) if self.wildcard else host == self.name


@dataclass(frozen=True)
class _Net:
    network: _Network
    port: int | None

    def contains(self, address: IPAddress, port: int) -> bool:
        if self.port is not None and port != self.port:
            return False
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(ip in self.network for ip in candidates)


@dataclass(frozen=True)
class HostAllowList:
    """A parsed `network_hosts` list (see the module docstring for what entries mean).

    Attributes:
        entries: the entries as given, for messages.
    """

    entries: tuple[str, ...]
    names: tuple[_Name, ...] = ()
    networks: tuple[_Net, ...] = ()
    any_host: bool = False

    @classmethod
    def parse(cls, entries: Iterable[str]) -> HostAllowList:
        """Read a list such as `["api.github.com", "pypi.org:443", "10.8.0.0/16"]`.

        Raises:
            ValueError: an entry is none of the forms above (the message shows them), or
                the list is a single string rather than a list.
        """
        if isinstance(entries, str | bytes):
            raise ValueError(f"network_hosts takes a list of hosts, not a string: [{entries!r}]")
        given = tuple(entries)
        names: list[_Name] = []
        networks: list[_Net] = []
        any_host = False
        for entry in given:
            if not isinstance(entry, str):
                raise ValueError(f"network_hosts entries are strings ({_EXAMPLES}), not {entry!r}")
            rule = _parse_entry(entry)
            if rule is None:
                any_host = True
            elif isinstance(rule, _Name):
                names.append(rule)
            else:
                networks.append(rule)
        return cls(given, tuple(names), tuple(networks), any_host)

    def refuse_target(self, host: str, port: int) -> str | None:
        """Why a request for `host`:`port` is refused before any resolution, or None.

        `host` is as the request wrote it (a name or an address, IPv6 with or without
        brackets)."""
        text = normalize_host(host)
        if not text or is_ambiguous_number(text):
            return f"{host!r} is not a host name or an address in canonical form"
        address = parse_ip(text)
        if address is not None:
            if self._lists_address(address, port):
                return None
            if self.any_host and refused_class(address) is None:
                return None
            return f"{_shown(text, port)} is not on this sandbox's network_hosts list"
        if not _valid_name(text):
            return f"{host!r} is not a valid host name"
        if text in METADATA_HOSTS and not any(
            not rule.wildcard and rule.name == text for rule in self.names
        ):
            return f"{text} is a cloud metadata host name"
        if self.any_host or any(rule.matches(text, port) for rule in self.names):
            return None
        return f"{_shown(text, port)} is not on this sandbox's network_hosts list"

    def refuse_address(self, host: str, port: int, address: IPAddress) -> str | None:
        """Why `host`, resolved to `address`, may not be reached there, or None: internal
        addresses are refused unless listed."""
        if self._lists_address(address, port):
            return None
        name = refused_class(address)
        if name is None:
            return None
        article = "an" if name[0] in "aeiou" else "a"
        return (
            f"{normalize_host(host)} resolves to {describe(str(address), address)}, {article} "
            f"{name} address, which is reached only when network_hosts lists it (or its network)"
        )

    def _lists_address(self, address: IPAddress, port: int) -> bool:
        return any(rule.contains(address, port) for rule in self.networks)


def _parse_entry(entry: str) -> _Name | _Net | None:
    """One entry as a rule; None for `*` (everything public)."""
    text = entry.strip().lower()
    if text == "*":
        return None
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:  # an address or a network, without a port (bare IPv6 included)
        return _Net(ipaddress.ip_network(bare, strict=False), None)
    except ValueError:
        pass
    host, port = _split_port(entry, text)
    host = host.strip("[]").rstrip(".")
    address = parse_ip(host)
    if address is not None and "%" not in host:
        return _Net(ipaddress.ip_network(address), port)
    wildcard = host.startswith("*.")
    name = _ascii_name(entry, host[2:] if wildcard else host)
    if not _valid_name(name) or is_ambiguous_number(name):
        raise ValueError(f"network_hosts entry {entry!r} is not a valid host; write {_EXAMPLES}")
    return _Name(name, wildcard, port)


def _split_port(entry: str, text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        host, bracket, rest = text.partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"network_hosts entry {entry!r}: write an IPv6 port as '[::1]:8080'")
        return host + "]", _port(entry, rest[1:]) if rest else None
    if text.count(":") != 1:
        return text, None
    host, _, port = text.partition(":")
    return host, _port(entry, port)


def _port(entry: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"network_hosts entry {entry!r}: the port must be a number 1-65535")
    return int(text)


def _ascii_name(entry: str, name: str) -> str:
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"network_hosts entry {entry!r} is not a valid host name") from exc


def _valid_name(name: str) -> bool:
    return len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))


def _shown(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
