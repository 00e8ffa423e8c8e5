"""Transaction admission, the mempool's front door: a peer's gossip (``admit_transaction``), a client's
submission recorded before the API answers (``submit_transaction(s)``), and the pool reloaded at start.

Written as the ``Ledger``'s admission half (``class Ledger(Admission)``): every transaction passes the
Ledger's one set of rules (``check_transaction``, shared with block validation) after the pool's own
checks (duplicate, room for the sender), which come first because they cost no signature check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from node.config import ChainConfig
from node.ledger.mempool import Mempool
from node.ledger.rules import check_transaction_size
from node.ledger.types import Head, RestoredPool, SignatureChecker, Submission
from node.storage import Store
from node.storage.group_commit import GroupCommit
from sdk.errors import EncodingError, InvalidTransaction, StorageError, XinlianError
from sdk.types import Transaction

log = logging.getLogger("xinlian.ledger")

#: A batch of submissions has its signatures checked by ``Ledger.signature_checker`` from this many on
#: (fewer cost more to send to a worker than to verify here).
MIN_OFFLOADED_SIGNATURES = 8


class Admission:
    """The admission methods of ``Ledger`` (see the module); the attributes below are the Ledger's."""

    chain: ChainConfig
    store: Store
    mempool: Mempool
    signature_checker: SignatureChecker | None
    on_admit: list[Callable[[bytes, bytes], None]]
    _durable: GroupCommit[tuple[bytes, bytes]]
    _verified_txs: dict[bytes, bytes]

    if TYPE_CHECKING:  # the Ledger's, declared for the type checker only

        @property
        def head(self) -> Head: ...

    #: The Ledger's one set of transaction rules (shared with block validation).
    check_transaction: Callable[..., None]

    def is_pending(self, tx_hash: bytes) -> bool:
        """Whether ``tx_hash`` waits in the mempool."""
        return tx_hash in self.mempool

    @property
    def pending_count(self) -> int:
        """Transactions waiting in the mempool."""
        return len(self.mempool)

    @property
    def pending_capacity(self) -> int:
        """How many transactions the mempool holds at most."""
        return self.mempool.capacity

    # --- admission -----------------------------------------------------------------------------------
    def admit_transaction(self, raw: bytes) -> bytes:
        """Check a transaction (a peer's gossip, or one reloaded at start) and add it to the mempool, in
        memory only; returns its hash.

        Raises InvalidTransaction with a stable code: bad_encoding, oversize, wrong_chain, gas_limit,
        gas_too_low, expired, expiry_too_far, duplicate, bad_signature, unknown_sender, sender_quota,
        mempool_full.
        """
        tx = self._decode(raw)
        self._admit(tx, len(raw))
        self._announce(tx.tx_hash, raw)
        return tx.tx_hash

    def submit_transaction(self, raw: bytes) -> Submission:
        """Admit a client's transaction and record it in the store before returning (what the API's 202
        promises: it survives a crash of this node, and ``restore_pending`` reloads it at the next start).

        Resubmitting is idempotent: a transaction already pending here is recorded too (a peer's gossip may
        have brought it, in memory only) and reported ``pending``; one already committed is reported
        ``committed``, even after its expiry.
        Raises InvalidTransaction as ``admit_transaction`` (never ``duplicate``); StorageError when the
        record could not be written (the transaction may stay pending in memory: resubmitting is safe).
        """
        (outcome,) = self.submit_transactions([raw])
        if isinstance(outcome, XinlianError):
            raise outcome
        return outcome

    def submit_transactions(self, raws: Sequence[bytes]) -> list[Submission | XinlianError]:
        """``submit_transaction`` for many, in order: each is admitted or refused on its own (its error,
        InvalidTransaction or StorageError, stands in its place), and the admitted ones are recorded in one
        durable write before returning.

        Raises StorageError when the record could not be written (as ``submit_transaction``); the newly
        admitted ones are gossiped all the same, so that they still reach the other nodes.
        """
        outcomes: list[Submission | XinlianError] = []
        records: list[tuple[bytes, bytes]] = []
        fresh: list[tuple[bytes, bytes]] = []
        decoded = [self._decode_or_refuse(raw) for raw in raws]
        verdicts = self._check_signatures([tx for tx in decoded if isinstance(tx, Transaction)])
        for raw, tx in zip(raws, decoded, strict=True):
            if isinstance(tx, XinlianError):
                outcomes.append(tx)
                continue
            try:
                submission, record, announce = self._take(raw, tx, verdicts.get((tx.tx_hash, tx.signature)))
            except XinlianError as refusal:
                outcomes.append(refusal)
                continue
            outcomes.append(submission)
            if record is not None:
                records.append((submission.tx_hash, record))
            if announce:
                fresh.append((submission.tx_hash, raw))
        try:
            self._record(records)
        finally:
            for tx_hash, raw in fresh:
                self._announce(tx_hash, raw)
        return outcomes

    def _check_signatures(self, txs: Sequence[Transaction]) -> dict[tuple[bytes, bytes], bool]:
        """The signatures of a batch checked by ``signature_checker``: (tx hash, signature) -> verdict (the
        hash does not cover the signature); empty when there is no checker, too few to be worth it, or no
        answer."""
        fresh = [tx for tx in txs if self._verified_txs.get(tx.tx_hash) != tx.signature]
        if self.signature_checker is None or len(fresh) < MIN_OFFLOADED_SIGNATURES:
            return {}
        items = [(tx.public_key, tx.signing_preimage(), tx.signature) for tx in fresh]
        verdicts = self.signature_checker(items)
        if verdicts is None or len(verdicts) != len(fresh):
            return {}
        return {(tx.tx_hash, tx.signature): ok for tx, ok in zip(fresh, verdicts, strict=True)}

    def _take(
        self, raw: bytes, tx: Transaction, signature_ok: bool | None = None
    ) -> tuple[Submission, bytes | None, bool]:
        """Admit one submission: (the answer, the encoding to record or None, whether it is new here)."""
        try:
            self._admit(tx, len(raw), signature_ok)
        except InvalidTransaction as refusal:
            if refusal.code not in ("duplicate", "expired"):
                raise
            return self._resubmitted(raw, tx, refusal)
        return Submission(tx.tx_hash, "pending"), raw, True

    def _resubmitted(
        self, raw: bytes, tx: Transaction, refusal: InvalidTransaction
    ) -> tuple[Submission, bytes | None, bool]:
        """The answer to a submission refused as ``duplicate`` or ``expired`` (as ``_take``): success if it
        waits here (then recorded) or is committed; a duplicate that left the pool uncommitted meanwhile is
        admitted afresh; otherwise ``refusal``."""
        tx_hash = tx.tx_hash
        if refusal.code == "duplicate":
            pending = self.mempool.get(tx_hash)
            if pending is not None:
                # The pool's copy: the one whose signature this node verified.
                return Submission(tx_hash, "pending"), pending.encode(), False
        # A transaction leaves the pool only after its block is stored, so a committed one is found here.
        if self.store.has_transactions([tx_hash]):
            return Submission(tx_hash, "committed"), None, False
        if refusal.code == "duplicate":
            return self._take(raw, tx)
        raise refusal

    def _decode_or_refuse(self, raw: bytes) -> Transaction | XinlianError:
        try:
            return self._decode(raw)
        except XinlianError as refusal:
            return refusal

    def _decode(self, raw: bytes) -> Transaction:
        check_transaction_size(self.chain, len(raw))
        try:
            return Transaction.decode(raw)
        except EncodingError as exc:
            raise InvalidTransaction(
                f"transaction does not decode: {exc.message}", code="bad_encoding"
            ) from exc

    def _admit(self, tx: Transaction, size: int, signature_ok: bool | None = None) -> None:
        """The one admission rule (``check_transaction`` with the pool's checks), then into the mempool."""
        tx_hash = tx.tx_hash

        def check_new() -> None:
            if tx_hash in self.mempool or self.store.has_transactions([tx_hash]):
                raise InvalidTransaction(
                    "transaction was already submitted", code="duplicate", tx_hash=tx_hash.hex()
                )
            # Before the signature check: a sender over its quota (or a full pool) is refused at no cost.
            self.mempool.validate_room(tx.sender, size)

        self.check_transaction(tx, size, self.head, before_signature=check_new, signature_ok=signature_ok)
        self.mempool.add(tx_hash, tx, size)
        self._verified_txs[tx_hash] = tx.signature

    def _announce(self, tx_hash: bytes, raw: bytes) -> None:
        for callback in self.on_admit:
            callback(tx_hash, raw)

    def _record(self, records: list[tuple[bytes, bytes]]) -> None:
        """Record pending transactions ``(tx_hash, encoding)`` durably (batched with concurrent submissions:
        ``GroupCommit``).

        Every path out of the mempool removes a transaction from the pool first and its record after
        (``_forget_records``); so when one left the pool while being recorded, this check sees it gone and
        deletes the record itself. Records therefore never outlive their pool entry (but across a crash,
        which ``restore_pending`` cleans up), and obey the pool's bounds.
        """
        self._durable.write_many(records)
        self._forget_records(tx_hash for tx_hash, _ in records if tx_hash not in self.mempool)

    def _forget_records(self, tx_hashes: Iterable[bytes]) -> None:
        """Delete the records of transactions that left the mempool. A failure is logged, not raised: the
        chain is unaffected, and ``restore_pending`` drops such leftovers at the next start."""
        hashes = list(tx_hashes)
        if not hashes:
            return
        try:
            self.store.delete_pending(hashes)
        except StorageError as exc:
            log.warning("could not delete %d pending records (dropped at next start): %s", len(hashes), exc)

    def restore_pending(self) -> RestoredPool:
        """Reload the transactions clients submitted here and that were still pending when the node stopped
        (or crashed) into the mempool, oldest first, through admission at the current head (announced to
        peers like new ones). A record admission now refuses — committed meanwhile, expired, its sender
        disabled, or beyond the pool's bounds (when the operator lowered them) — is deleted.

        Call once at start, before the API serves.
        """
        dropped: list[bytes] = []
        restored = 0
        for tx_hash, encoded in self.store.load_pending():
            try:
                self.admit_transaction(encoded)
            except InvalidTransaction as refusal:
                # A peer's gossip may have brought it back already: its record stays with its pool entry.
                if refusal.code != "duplicate" or tx_hash not in self.mempool:
                    dropped.append(tx_hash)
                    continue
            restored += 1
        self._forget_records(dropped)
        return RestoredPool(restored=restored, dropped=len(dropped))
