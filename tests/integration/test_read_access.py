"""docs/read-access.md as data: every JSON-RPC method, anonymous and as a member, against a real node."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from node.api.rpc import PUBLIC_METHODS, RpcHandler
from sdk.client import Client

if TYPE_CHECKING:
    from node_fixtures import RunningNode

pytest_plugins = ["node_fixtures"]

DOC = Path(__file__).resolve().parents[2] / "docs" / "read-access.md"
GOVERNANCE = "0x" + "00" * 18 + "1000"
# Well-formed parameters for each method, so that "allowed" means an answer, not a parameter error.
PARAMS: dict[str, list[Any]] = {
    "eth_getBalance": [GOVERNANCE, "latest"],
    "eth_getCode": [GOVERNANCE, "latest"],
    "eth_getBlockByNumber": ["latest", False],
    "eth_getBlockByHash": ["0x" + "00" * 32, False],
    "eth_getTransactionByHash": ["0x" + "11" * 32],
    "eth_getTransactionReceipt": ["0x" + "11" * 32],
    "eth_call": [{"to": GOVERNANCE, "data": "0x"}, "latest"],
    "eth_getLogs": [{"fromBlock": "0x0", "toBlock": "latest"}],
    "eth_getProof": [GOVERNANCE, [], "latest"],
}


def _rows() -> dict[str, tuple[str, str]]:
    rows: dict[str, tuple[str, str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"\| `(\w+)` \| ([a-z ]+) \| ([a-z ]+) \|", line.strip())
        if match:
            rows[match[1]] = (match[2].strip(), match[3].strip())
    return rows


ROWS = _rows()


def test_the_table_lists_every_method_the_node_serves_and_the_code_agrees(running_node: RunningNode) -> None:
    served = set(RpcHandler(running_node.ledger).method_names)
    assert set(ROWS) == served, "docs/read-access.md and the node's JSON-RPC methods differ"
    documented_public = {m for m, (anonymous, _) in ROWS.items() if anonymous in ("allowed", "header only")}
    assert documented_public == set(PUBLIC_METHODS)
    assert {verdict for verdict, _ in ROWS.values()} <= {"allowed", "refused", "header only"}
    assert {verdict for _, verdict in ROWS.values()} <= {"allowed", "party"}


def _post(node: RunningNode, payload: dict[str, Any], *, signed: bool) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json"}
    if signed:
        with Client(node.url) as client:
            headers |= client.sign_headers(node.committee.signer, "POST", "/rpc", body)
    return httpx.post(node.url + "/rpc", content=body, headers=headers)


def _answered(response: httpx.Response) -> bool:
    body = response.json()
    return response.status_code == 200 and body.get("error", {}).get("code") != -32001


@pytest.mark.parametrize("method", sorted(ROWS))
def test_each_method_answers_as_the_table_says(running_node: RunningNode, method: str) -> None:
    anonymous, member = ROWS[method]
    request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": PARAMS.get(method, [])}
    response = _post(running_node, request, signed=False)
    if anonymous == "refused":
        assert response.status_code == 401 and "result" not in response.json(), response.text
        assert response.json()["error"]["data"]["code"] == "unauthenticated"
    else:
        assert _answered(response), response.text
    if anonymous == "header only":
        full = {**request, "params": [PARAMS[method][0], True]}
        assert _post(running_node, full, signed=False).status_code == 401
        assert _answered(_post(running_node, full, signed=True))
    assert member in ("allowed", "party")  # "party": filtered by the record rules (test_read_matrix.py)
    assert _answered(_post(running_node, request, signed=True))
