"""The ports that tests and benchmarks give their nodes: free, never the same one twice in a process, and
never one that another node's default metrics listener (its API port + 1000) would take, whichever process
of the machine asked first.

A port picked by binding to port 0 is free once its probe socket closes, so the kernel may offer it again:
two nodes of one network then fight over it (4 in 1,666 sets of twelve picks, measured here)."""

from __future__ import annotations

import ast
import socket
import subprocess
import sys
from pathlib import Path

from node.config import METRICS_PORT_OFFSET
from scripts.bench.grants import _claim_across_processes, get_free_port
from tests.support import free_ports


def test_no_port_is_handed_out_twice_and_each_can_be_bound() -> None:
    # 600 uniform draws from the ≈ 14,100 ports Linux offers for port 0 repeat with probability 1 − 3e-6;
    # few enough to leave this test process plenty of ports for its other tests.
    ports = [get_free_port() for _ in range(500)] + free_ports(100)
    assert len(set(ports)) == len(ports)
    # Nor is any the default metrics port (API port + 1000) of another.
    assert not {port + METRICS_PORT_OFFSET for port in ports} & set(ports)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", ports[-1]))


def test_two_processes_are_never_given_the_same_port_or_each_others_metrics_port() -> None:
    # Two test workers start networks at the same moment: each process remembers only its own ports, so
    # the claims must be shared. 200 draws in each of two processes (a child runs while this one holds its
    # ports) would meet ≈ 8.5 times (same port, or 1,000 apart) if each process picked on its own; the
    # chance of none is ≈ 2e-4. Kept small: this worker holds its ports for the rest of the session.
    mine = [get_free_port() for _ in range(200)]
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from scripts.bench.grants import get_free_port; print([get_free_port() for _ in range(200)])",
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    theirs = ast.literal_eval(child.stdout.strip())
    assert len(set(theirs)) == 200
    near_mine = {p + d for p in mine for d in (0, METRICS_PORT_OFFSET, -METRICS_PORT_OFFSET)}
    assert not near_mine & set(theirs)


def test_a_refused_claim_gives_back_the_port_it_had_locked() -> None:
    # Bytes above the ports Linux hands out for port 0, so no real claim meets them.
    port, metrics_port = 64_000, 64_000 + METRICS_PORT_OFFSET
    root = Path(__file__).resolve().parents[2]
    lock = (
        "from scripts.bench import grants; import os; "
        "fd = os.open(grants.PORT_CLAIMS_FILE, os.O_RDWR | os.O_CREAT)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", f"{lock}; print(grants._lock_byte(fd, {metrics_port}), flush=True); input()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        assert not _claim_across_processes(port, metrics_port)  # another process holds its metrics port
        probe = subprocess.run(
            [sys.executable, "-c", f"{lock}; print(grants._lock_byte(fd, {port}))"],
            capture_output=True,
            text=True,
            cwd=root,
            timeout=60,
        )
        assert probe.stdout.strip() == "True", probe.stderr  # this live process no longer holds the port
    finally:
        holder.kill()
        holder.wait()
