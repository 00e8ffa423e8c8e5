"""docs/read-access.md's read-path matrix as data: one confirmation letter, every read path, four callers.

Each row of the page's matrix names a read path; each column a caller: anonymous, an unrelated member (a drug
maker), a party of the letter (its bank, which did not send the transaction) and the finance regulator. The
test creates a real letter on a real node and asks every path as every caller.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from node.demo_network import make_uscc
from scripts.samples import CLIENT_NAME, sample_letter_request
from sdk.client import Client
from sdk.contracts import Contract
from sdk.domains.confirmations import Confirmations
from sdk.domains.governance import Governance
from sdk.signer import Signer
from sdk.system import BANK_CONFIRMATION_ADDRESS
from tests.support import member_auth

if TYPE_CHECKING:
    from node_fixtures import RunningNode

pytest_plugins = ["node_fixtures"]

DOC = Path(__file__).resolve().parents[2] / "docs" / "read-access.md"
CALLERS = ("anonymous", "unrelated member", "party", "regulator")
LETTERS = Contract("BankConfirmation")
CLIENT_USCC = make_uscc("310000", 30_000_777)


def _matrix() -> dict[str, dict[str, str]]:
    """The rows between the ``read-path matrix`` marker and the end of its table."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if "read-path matrix" in line)
    rows: dict[str, dict[str, str]] = {}
    for line in lines[start + 1 :]:
        if rows and not line.startswith("|"):
            break
        match = re.fullmatch(r"\| `([^`]+)` \|(.*)\|", line.strip())
        if match:
            verdicts = [cell.strip() for cell in match[2].split("|")]
            rows[match[1]] = dict(zip(CALLERS, verdicts, strict=True))
    return rows


MATRIX = _matrix()


@dataclass
class Letter:
    node: RunningNode
    letter_id: bytes
    tx_hash: bytes
    height: int
    callers: dict[str, Signer | None]


@pytest.fixture(scope="module")
def letter(running_node: RunningNode) -> Iterator[Letter]:
    node = running_node
    company = Signer.generate()
    bank = node.member_with("BANK")
    regulator = node.member_with("AUDIT_ACCREDITOR")
    unrelated = node.member_with("MAH")
    with Client(node.url) as client:
        committee = Governance(client, node.committee.signer)
        committee.register_organisation(CLIENT_USCC, CLIENT_NAME)
        committee.register_account(company.address, CLIENT_USCC)
        auditor = Confirmations(client, node.member_with("AUDITOR").signer)
        created = auditor.create(
            sample_letter_request(CLIENT_USCC, bank.uscc),
            bank_keys=[bank.signer.private_key.public_key],
            regulator_key=regulator.signer.private_key.public_key,
        )
    assert unrelated.uscc not in (bank.uscc, node.member_with("AUDITOR").uscc, node.committee.uscc)
    yield Letter(
        node=node,
        letter_id=created.letter_id,
        tx_hash=created.receipt.tx_hash,
        height=created.receipt.height,
        callers={
            "anonymous": None,
            "unrelated member": unrelated.signer,
            "party": bank.signer,
            "regulator": regulator.signer,
        },
    )


# --- the read paths: each returns allowed / refused, or shown / hidden for listings ------------------------
def _rest(letter: Letter, signer: Signer | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
    auth = member_auth(letter.node.url, signer) if signer is not None else None
    return httpx.request(method, letter.node.url + path, auth=auth, timeout=30, **kwargs)


def _rpc(letter: Letter, signer: Signer | None, method: str, params: list[Any]) -> dict[str, Any]:
    payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    response = _rest(letter, signer, "POST", "/rpc", content=json.dumps(payload).encode())
    answer: dict[str, Any] = response.json()
    assert (response.status_code == 200) == ("error" not in answer or answer["error"]["code"] != -32001)
    return answer


def _verdict(response: httpx.Response) -> str:
    if response.status_code in (401, 403):
        assert response.json()["code"] in ("unauthenticated", "forbidden"), response.text
        return "refused"
    assert response.status_code == 200, response.text
    return "allowed"


def _rpc_verdict(answer: dict[str, Any]) -> str:
    if "error" in answer:
        assert answer["error"]["data"]["code"] in ("unauthenticated", "forbidden"), answer
        return "refused"
    assert answer["result"] is not None, answer
    return "allowed"


def _listed(found: list[Any]) -> str:
    return "shown" if found else "hidden"


def _letter_logs_rest(letter: Letter, signer: Signer | None) -> str:
    params = {"address": "0x" + BANK_CONFIRMATION_ADDRESS.hex(), "from_height": letter.height}
    response = _rest(letter, signer, "GET", "/v1/logs", params=params)
    if response.status_code != 200:
        return _verdict(response)
    return _listed([e for e in response.json()["logs"] if e["tx_hash"] == "0x" + letter.tx_hash.hex()])


def _letter_logs_rpc(letter: Letter, signer: Signer | None) -> str:
    query = {"address": "0x" + BANK_CONFIRMATION_ADDRESS.hex(), "fromBlock": hex(letter.height)}
    answer = _rpc(letter, signer, "eth_getLogs", [query | {"toBlock": hex(letter.height)}])
    if "error" in answer:
        return _rpc_verdict(answer)
    return _listed([e for e in answer["result"] if e["transactionHash"] == "0x" + letter.tx_hash.hex()])


def _letter_events(letter: Letter, signer: Signer | None) -> str:
    """The live event stream from the letter's block through it (sdk.events over GET /v1/events)."""
    if signer is None:
        return _verdict(httpx.get(f"{letter.node.url}/v1/events", timeout=30))
    with Client(letter.node.url) as client:
        streamed = client.events.stream(
            signer,
            address=BANK_CONFIRMATION_ADDRESS,
            from_height=letter.height,
            to_height=letter.height,
            reconnect=False,
        )
        return _listed([x for x in streamed if x.entry.tx_hash == letter.tx_hash])


def _letter_subscription(letter: Letter, signer: Signer | None) -> str:
    """eth_subscribe("logs") over the WebSocket at /rpc, resumed from the letter's block; the newHeads
    subscription made after it proves the logs were walked (a connection feeds its subscriptions in order)."""
    headers = None
    if signer is not None:
        with Client(letter.node.url) as client:
            headers = client.handshake_headers(signer, "/rpc")
    url = letter.node.url.replace("http://", "ws://") + "/rpc"
    query = {"address": "0x" + BANK_CONFIRMATION_ADDRESS.hex(), "fromBlock": hex(letter.height)}
    with ws_connect(url, additional_headers=headers, open_timeout=10) as socket:
        socket.send(
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["logs", query]})
        )
        answer = json.loads(socket.recv(timeout=30))
        if "error" in answer:
            return _rpc_verdict(answer)
        socket.send(
            json.dumps({"jsonrpc": "2.0", "id": 2, "method": "eth_subscribe", "params": ["newHeads"]})
        )
        logs: list[dict[str, Any]] = []
        while True:
            message = json.loads(socket.recv(timeout=30))
            result = message.get("params", {}).get("result")
            if message.get("method") != "eth_subscription":
                continue
            if "logIndex" in result:
                logs.append(result)
            else:  # the first new head: every log up to it has been sent
                break
    return _listed([e for e in logs if e["transactionHash"] == "0x" + letter.tx_hash.hex()])


def _view_call_data(letter: Letter) -> str:
    return "0x" + LETTERS.encode_call("get_letter", [letter.letter_id]).hex()


PATHS: dict[str, Callable[[Letter, Signer | None], str]] = {
    "GET /v1/confirmations/letters/{id}": lambda lt, s: _verdict(
        _rest(lt, s, "GET", f"/v1/confirmations/letters/0x{lt.letter_id.hex()}")
    ),
    "GET /v1/logs": _letter_logs_rest,
    "GET /v1/events": _letter_events,
    "POST /v1/call": lambda lt, s: _verdict(
        _rest(
            lt,
            s,
            "POST",
            "/v1/call",
            json={"to": "0x" + BANK_CONFIRMATION_ADDRESS.hex(), "data": _view_call_data(lt)},
        )
    ),
    "GET /v1/transactions/{hash}": lambda lt, s: _verdict(
        _rest(lt, s, "GET", f"/v1/transactions/0x{lt.tx_hash.hex()}")
    ),
    "GET /v1/proofs/tx/{hash}": lambda lt, s: _verdict(
        _rest(lt, s, "GET", f"/v1/proofs/tx/0x{lt.tx_hash.hex()}")
    ),
    "eth_getLogs": _letter_logs_rpc,
    "eth_subscribe logs": _letter_subscription,
    "eth_call": lambda lt, s: _rpc_verdict(
        _rpc(lt, s, "eth_call", [{"to": "0x" + BANK_CONFIRMATION_ADDRESS.hex(), "data": _view_call_data(lt)}])
    ),
    "eth_getTransactionByHash": lambda lt, s: _rpc_verdict(
        _rpc(lt, s, "eth_getTransactionByHash", ["0x" + lt.tx_hash.hex()])
    ),
    "eth_getTransactionReceipt": lambda lt, s: _rpc_verdict(
        _rpc(lt, s, "eth_getTransactionReceipt", ["0x" + lt.tx_hash.hex()])
    ),
    "eth_getBlockByNumber full": lambda lt, s: _rpc_verdict(
        _rpc(lt, s, "eth_getBlockByNumber", [hex(lt.height), True])
    ),
    "eth_getProof storage": lambda lt, s: _rpc_verdict(
        _rpc(lt, s, "eth_getProof", ["0x" + BANK_CONFIRMATION_ADDRESS.hex(), ["0x1"], "latest"])
    ),
}


def test_the_matrix_names_every_path_this_test_asks() -> None:
    assert set(MATRIX) == set(PATHS), "docs/read-access.md's read-path matrix and this test differ"
    assert {v for row in MATRIX.values() for v in row.values()} <= {"allowed", "refused", "shown", "hidden"}


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("caller", CALLERS)
def test_each_caller_reads_a_letter_as_the_matrix_says(letter: Letter, path: str, caller: str) -> None:
    assert PATHS[path](letter, letter.callers[caller]) == MATRIX[path][caller]


def test_a_dry_run_is_made_as_oneself_never_as_another_account(letter: Letter) -> None:
    """Any non-view function of a system contract runs as a dry run only as the caller's own account or the
    zero address: a member may not simulate another organisation's transaction to see what it returns."""
    bank = letter.callers["party"]
    auditor_address = letter.node.member_with("AUDITOR").signer.address
    assert bank is not None
    data = "0x" + LETTERS.encode_call("recall", [letter.letter_id]).hex()
    to = "0x" + BANK_CONFIRMATION_ADDRESS.hex()

    def dry_run(sender: bytes) -> str:
        response = _rest(
            letter, bank, "POST", "/v1/call", json={"to": to, "data": data, "sender": "0x" + sender.hex()}
        )
        if response.status_code == 403:
            return "refused"
        assert response.status_code == 400 and response.json()["code"] == "execution_reverted", response.text
        return "ran"

    assert dry_run(auditor_address) == "refused"
    assert dry_run(bank.address) == "ran"  # the bank may not recall: the contract says so
    assert dry_run(bytes(20)) == "ran"
    answer = _rpc(letter, bank, "eth_call", [{"to": to, "data": data, "from": "0x" + auditor_address.hex()}])
    assert answer["error"]["data"]["code"] == "forbidden"


def test_one_request_decides_a_bounded_number_of_records(
    letter: Letter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each record decided costs the node ledger reads: a request that would decide more than the bound is
    refused (``too_many_records``) instead of keeping a worker busy for as long as the caller likes."""
    from node.api import access
    from node.api.auth import Member
    from node.api.limits import LimitExceeded
    from node.api.reader import LedgerReader

    monkeypatch.setattr(access, "MAX_RECORDS_PER_REQUEST", 3)
    signer = letter.callers["unrelated member"]
    assert signer is not None
    ledger = letter.node.ledger
    member = Member(
        signer.address, ledger.organisation_of(signer.address), signer.private_key.public_key.to_bytes()
    )
    scope = access.ReadScope(LedgerReader(ledger), member)
    for i in range(4):
        assert scope.may_read(access.Record.LETTER, i.to_bytes(32, "big"))  # unknown letters read as empty
    assert scope.may_read(access.Record.LETTER, (0).to_bytes(32, "big"))  # memoised: no new look-up
    with pytest.raises(LimitExceeded) as refused:
        scope.may_read(access.Record.LETTER, (4).to_bytes(32, "big"))
    assert refused.value.code == "too_many_records"
