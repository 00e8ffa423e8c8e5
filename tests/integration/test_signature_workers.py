"""Batch admission's SM2 checks in a worker process: the same verdicts as the node process, one trip per
batch, and the node's own check when the workers are gone."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector

from node.config import NodeConfig
from node.demo_network import init_network
from node.genesis import CALENDAR_ADDRESS
from node.ledger.signatures import SignatureWorkers
from node.ledger.types import Submission
from node.runtime import Node
from sdk.crypto import PrivateKey, PublicKey
from sdk.errors import CryptoError, InvalidTransaction, XinlianError
from sdk.types import Transaction

ADD_WORKING_DAYS = function_signature_to_4byte_selector("add_working_days(uint256,uint256)")


@pytest.fixture()
def node_and_workers(tmp_path: Path) -> Iterator[tuple[Node, SignatureWorkers, Path]]:
    init_network(tmp_path / "net", validators=1, chain_id=95)
    node = Node(NodeConfig.load(tmp_path / "net" / "nodes" / "node-0.json"), exit_on_fatal=False)
    signatures = SignatureWorkers(1)
    yield node, signatures, tmp_path / "net"
    signatures.close()
    node.stop()


def member(net: Path) -> PrivateKey:
    orgs = json.loads((net / "orgs.json").read_text())
    return PrivateKey.from_pem((net / orgs[0]["key"]).read_bytes())


def signed_reads(node: Node, key: PrivateKey, count: int) -> list[Transaction]:
    """``count`` distinct signed reads of the calendar (distinct by their random nonces)."""
    return [
        Transaction.create(
            key,
            chain_id=node.chain.chain_id,
            to=CALENDAR_ADDRESS,
            data=ADD_WORKING_DAYS + encode(["uint256", "uint256"], [20_000, 1]),
            gas_limit=100_000,
            expiry_height=node.ledger.height + 10,
        )
        for _ in range(count)
    ]


def test_worker_signature_verdicts_equal_the_in_process_check(
    node_and_workers: tuple[Node, SignatureWorkers, Path],
) -> None:
    node, signatures, net = node_and_workers
    good = signed_reads(node, member(net), 3)
    items = [(tx.public_key, tx.signing_preimage(), tx.signature) for tx in good]
    pk, message, signature = items[0]
    items += [
        (pk, message + b"\x00", signature),  # another message
        (pk, message, signature[:63] + bytes([signature[63] ^ 1])),  # a flipped bit
        (bytes(64), message, signature),  # no curve point
        (pk, message, signature[:40]),  # short
    ]
    expected = []
    for public_key, msg, sig in items:
        try:
            PublicKey.from_bytes(public_key).verify(msg, sig)
        except CryptoError:
            expected.append(False)
        else:
            expected.append(True)
    assert expected == [True, True, True, False, False, False, False]
    assert signatures.verify(items) == expected


def test_a_batch_has_its_signatures_checked_in_the_worker_with_the_same_answers(
    node_and_workers: tuple[Node, SignatureWorkers, Path],
) -> None:
    node, signatures, net = node_and_workers
    sent: list[int] = []

    def checker(items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool] | None:
        sent.append(len(items))
        return signatures.verify(items)

    node.ledger.signature_checker = checker
    good = signed_reads(node, member(net), 9)
    forged = [
        replace(tx, signature=bytes(reversed(tx.signature))) for tx in signed_reads(node, member(net), 2)
    ]
    # The same transaction as good[0] with another signature (the hash does not cover it): its own verdict.
    copy = replace(good[0], signature=bytes(reversed(good[0].signature)))
    stranger = signed_reads(node, PrivateKey.generate(), 1)
    batch = [copy.encode()] + [tx.encode() for tx in good + forged + stranger]
    outcomes = node.ledger.submit_transactions(batch)
    assert sent == [len(batch)]  # one trip to the worker for the whole batch
    assert isinstance(outcomes[0], InvalidTransaction) and outcomes[0].code == "bad_signature"
    assert [o.status for o in outcomes[1:10] if isinstance(o, Submission)] == ["pending"] * 9
    assert [getattr(o, "code", None) for o in outcomes[10:]] == ["bad_signature"] * 2 + ["unknown_sender"]
    assert all(tx.tx_hash in node.ledger.mempool for tx in good)
    assert not any(tx.tx_hash in node.ledger.mempool for tx in forged)
    # Resubmitted, the verified ones are not sent again; too few fresh ones stay in this process.
    again = node.ledger.submit_transactions(batch[1:])
    assert sent == [len(batch)]
    assert [getattr(o, "code", None) for o in again[9:]] == ["bad_signature"] * 2 + ["unknown_sender"]


def test_a_batch_is_checked_in_process_when_the_workers_are_gone(
    node_and_workers: tuple[Node, SignatureWorkers, Path],
) -> None:
    node, signatures, net = node_and_workers
    signatures.close()
    node.ledger.signature_checker = signatures.verify
    good = signed_reads(node, member(net), 8)
    forged = replace(good[0], signature=bytes(reversed(good[0].signature)))
    assert signatures.verify([(forged.public_key, forged.signing_preimage(), forged.signature)]) is None
    outcomes = node.ledger.submit_transactions([forged.encode()] + [tx.encode() for tx in good])
    assert isinstance(outcomes[0], InvalidTransaction) and outcomes[0].code == "bad_signature"
    assert all(isinstance(o, Submission) and o.status == "pending" for o in outcomes[1:])


def test_signature_workers_refuse_a_bad_process_count() -> None:
    with pytest.raises(XinlianError) as refused:
        SignatureWorkers(0)
    assert refused.value.code == "bad_config"
