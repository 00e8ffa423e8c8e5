"""Small helpers shared by tests that run real nodes: free loopback ports, bounded waiting, p2p TLS
certificates."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from node.p2p.tls import P2PTls, prepare_p2p_tls
from scripts.bench.grants import get_free_port
from sdk.auth import MemberAuth, sign_query
from sdk.signer import Signer

#: Where make_p2p_tls writes its certificates (removed when the test process exits).
_P2P_TLS_DIR = tempfile.TemporaryDirectory(prefix="xinlian-p2p-tls-")


def free_ports(count: int) -> list[int]:
    """Return ``count`` TCP ports on 127.0.0.1 that nothing listened on a moment ago, none of them returned
    before in this process (``get_free_port``)."""
    return [get_free_port() for _ in range(count)]


def make_p2p_tls(name: str) -> P2PTls:
    """Return the link contexts of a fresh p2p certificate named ``name`` (as a node makes at its first
    start); a name already used in this process returns that certificate again."""
    return prepare_p2p_tls(Path(_P2P_TLS_DIR.name) / name, name=name)


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` until it holds; raises AssertionError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def post_signed_rpc(http: httpx.Client, signer: Signer, body: bytes) -> httpx.Response:
    """POST ``body`` to ``/rpc`` of the node behind ``http`` (a base-URL httpx or FastAPI TestClient),
    signed by ``signer`` for that node's chain id and audience (sdk.auth): the hostile-input tests probe what
    a member can do, so their requests pass authentication."""
    chain = http.get("/v1/chain").json()
    headers = sign_query(
        signer.private_key,
        chain_id=chain["chain_id"],
        audience=chain["audience"],
        method="POST",
        path_and_query="/rpc",
        body=body,
    )
    return http.post("/rpc", content=body, headers={**headers, "content-type": "application/json"})


def member_auth(node: str | httpx.Client, signer: Signer) -> MemberAuth:
    """httpx auth signing every request to ``node`` (a URL, or a base-URL httpx / FastAPI TestClient) as
    ``signer``, for that node's chain id and audience."""
    chain = (httpx.get(f"{node}/v1/chain") if isinstance(node, str) else node.get("/v1/chain")).json()
    return MemberAuth(signer.private_key, chain["chain_id"], chain["audience"])


def transaction_read_paths(node: str, signer: Signer | None, tx_hash: bytes, height: int) -> dict[str, bool]:
    """Whether ``signer`` (None: anonymous) may read a committed transaction of the node at URL ``node``, on
    each path that shows its body: REST, its proof bundle, eth_getTransactionByHash / Receipt and its block
    with full transactions (which also needs every other transaction of the block readable)."""
    auth = member_auth(node, signer) if signer is not None else None
    hex_hash = "0x" + tx_hash.hex()

    def rest(path: str) -> bool:
        response = httpx.get(node + path, auth=auth, timeout=30)
        assert response.status_code in (200, 401, 403), response.text
        return response.status_code == 200

    def rpc(method: str, params: list[object]) -> bool:
        payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        answer = httpx.post(node + "/rpc", json=payload, auth=auth, timeout=30).json()
        assert "error" not in answer or answer["error"]["data"]["code"] in ("forbidden", "unauthenticated")
        return "error" not in answer

    return {
        "rest": rest(f"/v1/transactions/{hex_hash}"),
        "bundle": rest(f"/v1/proofs/tx/{hex_hash}"),
        "by hash": rpc("eth_getTransactionByHash", [hex_hash]),
        "receipt": rpc("eth_getTransactionReceipt", [hex_hash]),
        "full block": rpc("eth_getBlockByNumber", [hex(height), True]),
    }


def check_transaction_readers(
    node: str, callers: dict[str, Signer | None], readers: set[str], tx_hash: bytes, height: int
) -> None:
    """Assert that exactly the callers named in ``readers`` read the transaction's body on every path (a
    full block is checked only for those refused: a reader may meet others' transactions in the block)."""
    for name, signer in callers.items():
        verdicts = transaction_read_paths(node, signer, tx_hash, height)
        allowed = name in readers
        if allowed:
            del verdicts["full block"]
        assert verdicts == dict.fromkeys(verdicts, allowed), (name, tx_hash.hex())
