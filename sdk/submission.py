"""Getting signed transactions recorded by a node: one delivered through the failover nodes until it is
committed (``deliver``), many in the fewest batch requests a node takes (``submit_all``).

``Client.deliver`` and ``Client.submit_all`` are the public entry points; this module holds their rules:
how a long submission is split, what a node's refusal teaches the client, how long a busy node is waited
for, and what an error says was recorded.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdk.encoding import to_hex
from sdk.errors import ClientError, NodeUnreachable, StorageError, XinlianError
from sdk.system import SUBMIT_BATCH_MAX_BODY_BYTES, SUBMIT_BATCH_MAX_TXS

if TYPE_CHECKING:
    from sdk.answers import ReceiptResult
    from sdk.client import Client
    from sdk.types import Transaction

#: ``deliver`` waits this long after every node failed once, doubling up to the cap, before the next round.
_FAILOVER_BACKOFF_S: float = 0.2
_FAILOVER_BACKOFF_MAX_S: float = 2.0
#: ``submit_all`` sends a batch the node refused as busy again after this long, doubling up to the cap.
_BUSY_BACKOFF_S: float = 0.25
_BUSY_BACKOFF_MAX_S: float = 1.0
#: ``await_receipt`` asks again after this long while the node does not know the transaction.
_UNKNOWN_PAUSE_S: float = 0.05
#: The JSON of a batch request, ``{"raws":["0x…",…]}``: its frame, and each item beyond its hex digits.
_BATCH_BODY_BYTES = len('{"raws":[]}')
_BATCH_ITEM_BYTES = len('"0x",')


# --- one transaction, through the failover nodes -----------------------------------------------------
def deliver(nodes: Sequence[Client], tx: Transaction, timeout: float) -> ReceiptResult:
    """Submit ``tx`` to ``nodes`` in turn until one commits it (``Client.deliver`` says how and raises)."""
    raw = tx.encode()
    deadline = time.monotonic() + timeout
    failures: dict[str, str] = {}
    pause = _FAILOVER_BACKOFF_S
    turn = 0
    while True:
        node = nodes[turn % len(nodes)]
        try:
            return _submit_and_wait(node, raw, tx.tx_hash, deadline)
        except (NodeUnreachable, StorageError) as exc:
            failures[node.url] = exc.message
            turn += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NodeUnreachable(
                    f"transaction 0x{tx.tx_hash.hex()} not delivered within {timeout:g} s: no node could "
                    "be reached; it may still be committed (deliver it again to find out)",
                    tx_hash=to_hex(tx.tx_hash),
                    nodes=failures,
                ) from exc
            if turn % len(nodes) == 0:
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, _FAILOVER_BACKOFF_MAX_S)


def _submit_and_wait(node: Client, raw: bytes, tx_hash: bytes, deadline: float) -> ReceiptResult:
    """Submit ``raw`` to ``node`` and wait for its receipt until ``deadline`` (``await_receipt``),
    submitting it again whenever the node says it does not know it (expired, or lost by a node without a
    durable mempool: the node's answer to the resubmission tells which). Raises what ``await_receipt``
    and ``Client.submit_raw`` raise."""
    node.submit_raw(raw)
    return await_receipt(node, tx_hash, deadline, resubmit=raw)


def await_receipt(
    node: Client, tx_hash: bytes, deadline: float, *, resubmit: bytes | None = None, within: str = "in time"
) -> ReceiptResult:
    """The receipt of ``tx_hash`` once ``node`` has it, asking until ``deadline`` (monotonic seconds);
    while the node does not know the transaction, submit ``resubmit`` again, or without it pause briefly.

    Raises: ClientError ``timeout`` ("… not committed ``within``") while still pending at ``deadline``; what
    ``Client.transaction`` and ``Client.submit_raw`` raise.
    """
    while True:
        status = node.transaction(tx_hash, wait_s=max(0.0, deadline - time.monotonic()))
        if status.receipt is not None:
            return status.receipt
        if time.monotonic() >= deadline:
            raise ClientError(
                f"transaction 0x{tx_hash.hex()} not committed {within}",
                code="timeout",
                tx_hash=to_hex(tx_hash),
                status=status.status,
            )
        if status.status != "unknown":
            continue
        if resubmit is not None:
            node.submit_raw(resubmit)
        else:
            time.sleep(min(_UNKNOWN_PAUSE_S, max(0.0, deadline - time.monotonic())))


# --- many transactions, in batch requests ------------------------------------------------------------
def compute_submit_batches(
    raws: Sequence[bytes],
    *,
    max_txs: int = SUBMIT_BATCH_MAX_TXS,
    max_body_bytes: int = SUBMIT_BATCH_MAX_BODY_BYTES,
) -> list[list[bytes]]:
    """Split ``raws``, in order, into the fewest consecutive batches whose ``POST /v1/transactions/batch``
    requests each carry at most ``max_txs`` transactions and ``max_body_bytes`` of JSON. A transaction too
    large for any request goes alone (the node answers it)."""
    if max_txs < 1:
        raise ValueError("max_txs must be at least 1")
    batches: list[list[bytes]] = []
    current: list[bytes] = []
    size = _BATCH_BODY_BYTES
    for raw in raws:
        item = 2 * len(raw) + _BATCH_ITEM_BYTES
        if current and (len(current) == max_txs or size + item > max_body_bytes):
            batches.append(current)
            current, size = [], _BATCH_BODY_BYTES
        current.append(raw)
        size += item
    if current:
        batches.append(current)
    return batches


def batch_body(raws: Sequence[bytes]) -> bytes:
    """The JSON of a batch request, compact: what ``compute_submit_batches`` counts."""
    return json.dumps({"raws": ["0x" + raw.hex() for raw in raws]}, separators=(",", ":")).encode()


def note_outcome(error: XinlianError, results: Sequence[bytes | XinlianError], total: int) -> XinlianError:
    """Add to ``error`` what a many-transaction submission recorded: ``accepted``, the hashes (hex) the node
    took, which commit whatever the caller does next; ``not_accepted``, the positions of the others (refused,
    or never sent)."""
    error.detail.setdefault("accepted", [to_hex(result) for result in results if isinstance(result, bytes)])
    refused = [index for index, result in enumerate(results) if not isinstance(result, bytes)]
    error.detail.setdefault("not_accepted", refused + list(range(len(results), total)))
    return error


@dataclass
class BatchLimits:
    """What one batch request to a node may carry: the node defaults, lowered to what its 413 answers said.
    Shared by a client's ``as_member`` copies (the same node)."""

    max_txs: int = SUBMIT_BATCH_MAX_TXS
    max_body_bytes: int = SUBMIT_BATCH_MAX_BODY_BYTES

    def learn(self, refusal: ClientError) -> bool:
        """Lower a limit to a node's 413 answer; False when the answer states no lower one."""
        limit = refusal.detail.get("limit")
        if not isinstance(limit, int) or limit < 1:
            return False
        if refusal.code == "batch_too_large" and limit < self.max_txs:
            self.max_txs = limit
            return True
        if refusal.code == "body_too_large" and limit < self.max_body_bytes:
            self.max_body_bytes = limit
            return True
        return False


def submit_all(
    node: Client, raws: Sequence[bytes], *, max_txs: int | None = None, max_body_bytes: int | None = None
) -> list[bytes | XinlianError]:
    """Submit ``raws`` to ``node`` in as few batch requests as fit (``Client.submit_all`` says how and
    raises)."""
    results: list[bytes | XinlianError] = []
    done = 0
    try:
        while done < len(raws):
            batches = compute_submit_batches(
                raws[done:],
                max_txs=max_txs or node.batch_limits.max_txs,
                max_body_bytes=max_body_bytes or node.batch_limits.max_body_bytes,
            )
            for batch in batches:
                try:
                    results += _submit_when_free(node, batch)
                except ClientError as exc:
                    if max_txs or max_body_bytes or len(batch) == 1 or not node.batch_limits.learn(exc):
                        raise
                    break  # split what is left again, within the limit the node answered with
                done += len(batch)
    except XinlianError as exc:
        raise note_outcome(exc, results, len(raws)) from None
    return results


def _submit_when_free(node: Client, raws: Sequence[bytes]) -> list[bytes | XinlianError]:
    """``node.submit_many(raws)``, sent again after a jittered pause while the node answers ``busy``, for
    up to the client's timeout."""
    deadline = time.monotonic() + node.timeout
    pause = _BUSY_BACKOFF_S
    while True:
        try:
            return node.submit_many(raws)
        except ClientError as exc:
            wait = pause * random.uniform(0.5, 1.5)  # jitter: clients refused together come back apart
            if exc.code != "busy" or time.monotonic() + wait > deadline:
                raise
        time.sleep(wait)
        pause = min(2 * pause, _BUSY_BACKOFF_MAX_S)
