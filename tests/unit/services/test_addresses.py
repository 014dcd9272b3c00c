"""Where the servers may listen and who may reach PostgreSQL: refused in one line before anything starts."""

from __future__ import annotations

import socket

import pytest

from t2igan.errors import ConfigError
from t2igan.services import addresses


def test_only_an_address_of_this_host_is_taken() -> None:
    addresses.check_host("127.0.0.1")
    with pytest.raises(
        ConfigError, match=r"--host 192.0.2.1: not an address of this host \(its addresses: .*127.0.0.1"
    ):
        addresses.check_host("192.0.2.1")
    with pytest.raises(ConfigError, match="expected an IPv4 address"):
        addresses.check_host("db.example.com")


def test_a_port_another_process_holds_is_named_with_its_service() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"^mlflow: port {port} on 127.0.0.1 is in use"):
            addresses.check_ports_free("127.0.0.1", {"postgres": 0, "mlflow": port})
    addresses.check_ports_free("127.0.0.1", {"mlflow": port})  # free again


def test_postgres_admits_the_host_s_network_unless_told_otherwise() -> None:
    assert addresses.default_allow("127.0.0.1") == ("127.0.0.1/32",)
    assert addresses.check_allow(("10.1.2.3/24", "192.168.0.9")) == ("10.1.2.0/24", "192.168.0.9/32")
    with pytest.raises(ConfigError, match="--allow 'everyone'"):
        addresses.check_allow(("everyone",))
