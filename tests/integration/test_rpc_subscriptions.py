"""eth_subscribe over the WebSocket at /rpc against a real node (uvicorn, SQLite, SM2): logs pushed to the
members who may read them, new heads to anyone, anonymous and forged handshakes refused, bounds kept; and
web3.py's AsyncWeb3 subscribing through sdk.web3.XinlianWebSocketProvider."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from node.api.subscriptions import MAX_SUBSCRIPTIONS
from node.demo_network import make_uscc
from scripts.samples import CLIENT_NAME, sample_letter_request
from sdk.client import Client
from sdk.domains.confirmations import Confirmations
from sdk.domains.governance import Governance
from sdk.signer import Signer
from sdk.system import BANK_CONFIRMATION_ADDRESS, GOVERNANCE_ADDRESS

if TYPE_CHECKING:
    from node_fixtures import Member, RunningNode

pytest_plugins = ["node_fixtures"]

UNAUTHENTICATED = -32001


def ws_url(node: RunningNode) -> str:
    return node.url.replace("http://", "ws://") + "/rpc"


@pytest.fixture()
def open_socket(running_node: RunningNode) -> Iterator[Any]:
    """Open WebSockets to the node's /rpc, signed as a member or anonymous; all closed after the test."""
    with contextlib.ExitStack() as stack:

        def open_as(member: Member | None) -> ClientConnection:
            headers = None
            if member is not None:
                with Client(running_node.url) as client:
                    headers = client.handshake_headers(member.signer, "/rpc")
            return stack.enter_context(
                connect(ws_url(running_node), additional_headers=headers, open_timeout=10)
            )

        yield open_as


def ask(socket: ClientConnection, method: str, params: list[Any], request_id: int = 1) -> dict[str, Any]:
    """Send one request and return its answer (notifications arriving meanwhile are skipped)."""
    socket.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}))
    while True:
        message = json.loads(socket.recv(timeout=20))
        if message.get("id") == request_id:
            return dict(message)


def notifications(
    socket: ClientConnection, until: float, stop: Callable[[dict[str, Any]], bool] = lambda _n: False
) -> Iterator[dict[str, Any]]:
    """The notifications arriving before the monotonic time ``until``, through the first ``stop`` accepts."""
    while (left := until - time.monotonic()) > 0:
        try:
            message = json.loads(socket.recv(timeout=left))
        except TimeoutError:
            return
        if message.get("method") == "eth_subscription":
            yield message["params"]
            if stop(message["params"]):
                return


def create_letter(node: RunningNode) -> bytes:
    """A confirmation letter created by the node's auditor (its LetterCreated log is a letter record)."""
    with Client(node.url) as client:
        company = Signer.generate()
        uscc = make_uscc("310000", 30_000_111)
        committee = Governance(client, node.committee.signer)
        if committee.organisation(uscc) is None:
            committee.register_organisation(uscc, CLIENT_NAME)
        committee.register_account(company.address, uscc)
        bank = node.member_with("BANK")
        created = Confirmations(client, node.member_with("AUDITOR").signer).create(
            sample_letter_request(uscc, bank.uscc), bank_keys=[bank.signer.private_key.public_key]
        )
    return created.receipt.tx_hash


def test_members_get_the_logs_they_may_read_and_nobody_else_does(
    running_node: RunningNode, open_socket: Any
) -> None:
    auditor = open_socket(running_node.member_with("AUDITOR"))
    outsider = open_socket(running_node.member_with("DRUG_REGULATOR"))  # no part in any letter
    letters = {"address": "0x" + BANK_CONFIRMATION_ADDRESS.hex()}
    auditor_logs = ask(auditor, "eth_subscribe", ["logs", letters])["result"]
    outsider_logs = ask(outsider, "eth_subscribe", ["logs", letters])["result"]
    outsider_heads = ask(outsider, "eth_subscribe", ["newHeads"], 2)["result"]
    assert auditor_logs.startswith("0x") and auditor_logs != outsider_logs

    tx_hash = "0x" + create_letter(running_node).hex()
    got = [
        n
        for n in notifications(auditor, time.monotonic() + 20, lambda n: n["subscription"] == auditor_logs)
        if n["subscription"] == auditor_logs
    ]
    assert [n["result"]["transactionHash"] for n in got][:1] == [tx_hash]
    assert got[0]["result"]["address"].lower() == letters["address"]
    height = int(got[0]["result"]["blockNumber"], 16)

    # The outsider's heads pass the letter's block; a log would have come before its block's head.
    seen: list[dict[str, Any]] = []
    for note in notifications(outsider, time.monotonic() + 20):
        seen.append(note)
        if note["subscription"] == outsider_heads and int(note["result"]["number"], 16) >= height:
            break
    assert any(n["subscription"] == outsider_heads for n in seen)
    assert not [n for n in seen if n["subscription"] == outsider_logs]


def test_anonymous_connections_get_heads_and_public_methods_only(
    running_node: RunningNode, open_socket: Any
) -> None:
    anonymous = open_socket(None)
    assert ask(anonymous, "eth_chainId", [])["result"] == hex(running_node.ledger.chain.chain_id)
    refused = ask(anonymous, "eth_subscribe", ["logs", {"address": "0x" + GOVERNANCE_ADDRESS.hex()}], 2)
    assert refused["error"]["code"] == UNAUTHENTICATED
    assert refused["error"]["data"]["code"] == "unauthenticated"
    refused = ask(anonymous, "eth_getLogs", [{"fromBlock": "0x0"}], 3)
    assert refused["error"]["code"] == UNAUTHENTICATED and "result" not in refused
    heads = ask(anonymous, "eth_subscribe", ["newHeads"], 4)["result"]
    start = running_node.ledger.height
    with Client(running_node.url) as client:  # a transaction makes the next block come at once
        Governance(client, running_node.committee.signer).register_organisation(
            make_uscc("310000", 30_000_222), "Another Company"
        )
    numbers = [
        int(n["result"]["number"], 16)
        for n in notifications(
            anonymous, time.monotonic() + 20, lambda n: int(n["result"]["number"], 16) >= start + 2
        )
        if n["subscription"] == heads
    ]
    assert numbers and numbers[0] == start + 1 and numbers == list(range(start + 1, start + 1 + len(numbers)))
    assert ask(anonymous, "eth_unsubscribe", [heads], 5)["result"] is True
    assert ask(anonymous, "eth_unsubscribe", [heads], 6)["result"] is False


def test_a_too_deep_message_is_refused_before_it_is_parsed_and_the_socket_stays(
    running_node: RunningNode, open_socket: Any
) -> None:
    socket = open_socket(None)
    socket.send("[" * 100_000 + "]" * 100_000)
    refused = json.loads(socket.recv(timeout=20))
    assert refused["error"]["data"]["code"] == "too_deep"
    assert ask(socket, "eth_chainId", [])["result"] == hex(running_node.ledger.chain.chain_id)


def test_a_forged_handshake_is_refused_with_a_typed_error(running_node: RunningNode) -> None:
    with Client(running_node.url) as client:
        headers = client.handshake_headers(running_node.committee.signer, "/rpc")
    headers["X-Xinlian-Signature"] = headers["X-Xinlian-Signature"][:-2] + (
        "00" if not headers["X-Xinlian-Signature"].endswith("00") else "01"
    )
    with connect(ws_url(running_node), additional_headers=headers, open_timeout=10) as socket:
        message = json.loads(socket.recv(timeout=10))
        assert message["error"]["code"] == UNAUTHENTICATED and message["error"]["data"]["code"]
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_a_connection_holds_a_bounded_number_of_subscriptions(
    running_node: RunningNode, open_socket: Any
) -> None:
    socket = open_socket(running_node.committee)
    bad = ask(socket, "eth_subscribe", ["logs", {"toBlock": "0x0"}], 100)
    assert bad["error"]["code"] == -32602  # a logs filter takes address, topics and fromBlock only
    for i in range(MAX_SUBSCRIPTIONS):
        assert "result" in ask(socket, "eth_subscribe", ["newHeads"], i + 1)
    refused = ask(socket, "eth_subscribe", ["newHeads"], 99)
    assert refused["error"]["data"]["code"] == "too_many_subscriptions"


def test_web3_subscribes_as_a_member(running_node: RunningNode) -> None:
    from web3 import AsyncWeb3

    from sdk.web3 import XinlianWebSocketProvider

    async def subscribe_and_wait() -> dict[str, Any]:
        committee = running_node.committee
        async with AsyncWeb3(XinlianWebSocketProvider(running_node.url, committee.signer)) as w3:
            await w3.eth.subscribe("logs", {"address": "0x" + GOVERNANCE_ADDRESS.hex()})
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(
                None,
                lambda: Governance(Client(running_node.url), committee.signer).register_organisation(
                    make_uscc("310000", 30_000_333), "A Third Company"
                ),
            )
            async for message in w3.socket.process_subscriptions():
                return dict(message["result"])
        raise AssertionError("no notification")

    log = asyncio.run(asyncio.wait_for(subscribe_and_wait(), 30))
    assert log["address"].lower() == "0x" + GOVERNANCE_ADDRESS.hex()
