"""Where team mode's servers listen, and who may reach them: checked before anything starts.

`--host` must be an address of one of this machine's interfaces (a server cannot bind another's), and each
port that a server about to start needs must be free on it. PostgreSQL's `pg_hba` admits the address range
given with `--allow`, by default the network of the interface that carries `--host` (for 127.0.0.1: only
127.0.0.1 itself).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Mapping

import psutil

from t2igan.errors import ConfigError

LOOPBACK = "127.0.0.1"


def interface_networks() -> dict[str, ipaddress.IPv4Network]:
    """Each IPv4 address of this host (this network namespace's interfaces) with its network."""
    found = {}
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and address.netmask:
                found[address.address] = ipaddress.IPv4Network(
                    f"{address.address}/{address.netmask}", strict=False
                )
    return found


def check_host(host: str) -> None:
    """One line if `host` is not an IPv4 address of this host."""
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise ConfigError(f"--host {host!r}: expected an IPv4 address of this host (e.g. 10.0.0.5)") from None
    networks = interface_networks()
    if host not in networks:
        mine = ", ".join(sorted(networks)) or "none"
        raise ConfigError(f"--host {host}: not an address of this host (its addresses: {mine})")


def default_allow(host: str) -> tuple[str, ...]:
    """The address range PostgreSQL admits when `--allow` is not given: the network `host` is on."""
    if host == LOOPBACK:
        return (f"{LOOPBACK}/32",)
    network = interface_networks().get(host)
    return (str(network) if network is not None else f"{host}/32",)


def check_allow(ranges: tuple[str, ...]) -> tuple[str, ...]:
    """`--allow` ranges as canonical CIDR strings; one line for a bad one."""
    checked = []
    for item in ranges:
        try:
            checked.append(str(ipaddress.IPv4Network(item, strict=False)))
        except ValueError:
            raise ConfigError(f"--allow {item!r}: expected an IPv4 address range such as 10.0.0.0/24") from None
    return tuple(checked)


def check_ports_free(host: str, ports: Mapping[str, int]) -> None:
    """One line naming the first service whose port on `host` another process holds."""
    for service, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise ConfigError(
                        f"{service}: port {port} on {host} is in use by another process; "
                        f"choose another at the first start (--port {service}=PORT)"
                    ) from None
                raise
