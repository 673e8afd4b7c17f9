"""Refuse webhook URLs that resolve to private, loopback, link-local or otherwise internal addresses.

A webhook URL is user input that the worker will POST to from inside the network (SSRF). Every
address the host resolves to must be public, unless the host name or a network holding the
address is allow-listed in ``[alerts]`` (``allow_hosts``, ``allow_networks``). The sender then
connects to the address that was checked, so a DNS answer that changes between the check and
the connection (rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from monitor.alerts.errors import UnsafeWebhookURL

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class Target:
    """A checked webhook URL: where to connect (``address``) and what to ask for."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


@dataclass(frozen=True)
class UrlPolicy:
    """Which internal destinations are allowed anyway."""

    allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    allow_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_lists(cls, networks: Sequence[str], hosts: Sequence[str]) -> UrlPolicy:
        try:
            nets = tuple(ipaddress.ip_network(n, strict=False) for n in networks)
        except ValueError as exc:
            raise UnsafeWebhookURL(f"alerts.allow_networks: {exc}") from exc
        return cls(nets, frozenset(h.lower().rstrip(".") for h in hosts))

    def allows(self, host: str, address: Address) -> bool:
        return host in self.allow_hosts or any(address in net for net in self.allow_networks)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_internal(address: Address) -> bool:
    """Private, loopback, link-local, multicast, reserved or unspecified: not a public host."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified or not address.is_global)


def check_url(url: str, policy: UrlPolicy, resolve: Resolver = system_resolver) -> Target:
    """The target to connect to, or ``UnsafeWebhookURL`` saying why the URL is refused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookURL(f"webhook url {url!r} must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise UnsafeWebhookURL("webhook urls must not carry credentials; use headers instead")
    host = parts.hostname.lower().rstrip(".")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve(host, port)]
    except (OSError, ValueError) as exc:
        raise UnsafeWebhookURL(f"cannot resolve webhook host {host!r}: {exc}") from exc
    if not addresses:
        raise UnsafeWebhookURL(f"webhook host {host!r} resolves to no address")
    for address in addresses:
        if is_internal(address) and not policy.allows(host, address):
            raise UnsafeWebhookURL(
                f"webhook host {host!r} resolves to {address}, a private/loopback/link-local address; "
                "allow it with alerts.allow_networks or alerts.allow_hosts")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, str(addresses[0]))
