"""Two hosts on one machine: a network namespace with its own address, joined to this one by a veth pair.

The "server host" is the namespace: what runs in it (`ip netns exec`) has its own interfaces, so a server
bound to its address is reachable from this namespace only over the veth pair, as from another machine, and
not at all through this namespace's loopback. The "other host" is the test process's own namespace. Needs
root and iproute2 (CI has both: `make setup-services`); the namespace and the pair are removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Hosts:
    namespace: str  # the server host
    server: str  # its address
    other: str  # this namespace's address on the pair: the other host

    def on_server(self, command: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *command]

    def namespace_of(self, pid: int) -> str:
        """The network namespace a process runs in: the server host's name, or "" for this one."""
        found = subprocess.run(
            ["ip", "netns", "identify", str(pid)], capture_output=True, text=True, check=True
        )
        return found.stdout.strip()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@contextlib.contextmanager
def two_hosts() -> Iterator[Hosts]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("two simulated hosts need root and iproute2 (`make setup-services`)")
    tag = os.getpid() % 100_000
    subnet = f"10.231.{tag % 250 + 1}"
    hosts = Hosts(f"t2igan-server-{tag}", f"{subnet}.2", f"{subnet}.1")
    here, there = f"t2o{tag}", f"t2s{tag}"
    _ip("netns", "add", hosts.namespace)
    try:
        _ip("link", "add", here, "type", "veth", "peer", "name", there)
        _ip("link", "set", there, "netns", hosts.namespace)
        _ip("addr", "add", f"{hosts.other}/24", "dev", here)
        _ip("link", "set", here, "up")
        _ip("-n", hosts.namespace, "addr", "add", f"{hosts.server}/24", "dev", there)
        _ip("-n", hosts.namespace, "link", "set", there, "up")
        _ip("-n", hosts.namespace, "link", "set", "lo", "up")
        yield hosts
    finally:
        subprocess.run(["ip", "netns", "del", hosts.namespace], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", here], capture_output=True, check=False)  # gone with its peer
