"""A node that closes a kept-alive connection as a request goes out on it: a GET is sent once more on a
new connection, anything else is reported (it may have reached the node)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from sdk.client import Client
from sdk.errors import NodeUnreachable

BODY = b'{"ok": true}'


@pytest.fixture
def resetting_server() -> Iterator[tuple[str, list[bytes]]]:
    """A real TCP server: resets its first connection after reading the request, answers 200 on the next."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve() -> None:
        for index in range(2):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                seen.append(conn.recv(65536))
                if index == 0:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
                    continue
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(BODY)}\r\nConnection: close\r\n\r\n".encode()
                    + BODY
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen
    listener.close()
    thread.join(5)


def test_a_read_is_sent_again_after_a_reset(resetting_server: tuple[str, list[bytes]]) -> None:
    url, seen = resetting_server
    with Client(url, timeout=5) as client:
        assert client._request("GET", "/v1/anything", anonymous=True) == {"ok": True}
    assert len(seen) == 2 and all(request.startswith(b"GET /v1/anything") for request in seen)


def test_a_write_is_not_sent_again_after_a_reset(resetting_server: tuple[str, list[bytes]]) -> None:
    url, seen = resetting_server
    with Client(url, timeout=5) as client, pytest.raises(NodeUnreachable):
        client._request("POST", "/v1/anything", anonymous=True, json={})
    assert len(seen) == 1
