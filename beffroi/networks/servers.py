"""Servers a person types (a Mastodon instance, a Bluesky PDS) are fetched by this server: the SSRF guard that
keeps such addresses from reaching into the host's own network."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext_noop

from beffroi.networks.base import ConnectError

# Refused whatever `is_global` says, listed explicitly so the guard reads as what it refuses.
BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
)

Resolver = Callable[..., list[tuple[Any, ...]]]


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in BLOCKED_NETWORKS if network.version == ip.version):
        return False
    return ip.is_global and not ip.is_multicast


def check_public_host(
    host: str,
    port: int = 443,
    *,
    resolve: Resolver = socket.getaddrinfo,
    error: type[ConnectError] = ConnectError,
) -> None:
    """Raises `error` unless every address `host` resolves to is a public one.

    Every address counts: a name with one public and one private address could be answered with either."""
    try:
        addresses = {str(ipaddress.ip_address(host.strip("[]")))}
    except ValueError:
        try:
            infos = resolve(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as failure:
            raise error.of(
                "instance_unreachable", gettext_noop("No server named %(host)s was found."), host=host
            ) from failure
        addresses = {str(info[4][0]) for info in infos}
    if not addresses:
        raise error.of("instance_unreachable", gettext_noop("No server named %(host)s was found."), host=host)
    if not all(is_public_address(address) for address in addresses):
        raise error.of(
            "instance_not_public",
            gettext_noop("%(host)s is a private or local address: Beffroi only connects to public servers."),
            host=host,
        )
