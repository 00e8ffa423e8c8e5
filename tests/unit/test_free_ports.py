"""The ports that tests and benchmarks give their nodes: free, never the same one twice in a process, and
never one that another node's default metrics listener (its API port + 1000) would take.

A port picked by binding to port 0 is free once its probe socket closes, so the kernel may offer it again:
two nodes of one network then fight over it (one in about 400 networks of four nodes, measured)."""

from __future__ import annotations

import socket

from node.config import METRICS_PORT_OFFSET
from scripts.bench.grants import get_free_port
from tests.support import free_ports


def test_no_port_is_handed_out_twice_and_each_can_be_bound() -> None:
    ports = [get_free_port() for _ in range(2_000)] + free_ports(500)
    assert len(set(ports)) == len(ports)  # 2,500 draws from ≈ 28,000 ephemeral ports repeat almost surely
    # Nor is any the default metrics port (API port + 1000) of another.
    assert not {port + METRICS_PORT_OFFSET for port in ports} & set(ports)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", ports[-1]))
