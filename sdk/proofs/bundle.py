"""Proof bundles: the versioned document that proves one ledger event offline (its JSON and compact forms)."""

# A bundle carries wire objects in their canonical RLP encodings (hex in JSON), so the verifier recomputes
# every hash from the bytes it checks. Two interchangeable forms: JSON (documented in docs/proof-bundle.md)
# and a compact binary form (RLP of the same fields) for QR codes, deflated and written as base45 text
# ("XL1:" prefix) or base64url (in a /verify#b=… link). Parsing only checks shape and canonical encodings;
# whether a bundle proves anything is sdk.proofs.verify's business.

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sdk.encoding import (
    Item,
    decode,
    decode_int,
    encode_bytes,
    encode_int,
    encode_list,
    from_hex,
    readable_repr,
    to_hex,
)
from sdk.errors import (
    EncodingError,
    FormatError,
    XinlianError,
)
from sdk.proofs.base45 import b45decode, b45encode
from sdk.types import BlockHeader, CommitCertificate, Receipt, Transaction

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "COMPACT_PREFIX",
    "STATE_KINDS",
    "EventProof",
    "Handover",
    "HistoryProof",
    "LotProof",
    "ProofBundle",
    "SealedHeader",
    "StateProof",
    "decode_compact",
    "load_bundle",
]

BUNDLE_FORMAT = "xinlian/proof-bundle"
BUNDLE_VERSION = 1
COMPACT_PREFIX = "XL1:"  # base45 text of deflate(RLP bundle); QR alphanumeric mode
STATE_KINDS = ("slot", "licence")  # what a state proof claims: a raw slot, or a licence's current status
_MAX_COMPACT_BYTES = 1 << 20  # inflated size cap: a bundle is kilobytes, never megabytes


# --- verification errors ---------------------------------------------------------------------------
# --- hex and field helpers -------------------------------------------------------------------------
def _unhex(value: object, where: str, size: int | None = None) -> bytes:
    return from_hex(value, where, size=size, error=FormatError)


def _int(value: object, where: str) -> int:
    if type(value) is not int or value < 0 or value >= 1 << 64:
        raise FormatError(f"{where} must be a non-negative 64-bit integer", field=where)
    return value


def _obj(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FormatError(f"{where} must be a JSON object", field=where)
    return value


def _arr(value: object, where: str, limit: int = 256) -> list[Any]:
    if not isinstance(value, list):
        raise FormatError(f"{where} must be a JSON array", field=where)
    if len(value) > limit:
        raise FormatError(f"{where} has {len(value)} entries, at most {limit}", field=where)
    return value


def _hashes(value: object, where: str) -> tuple[bytes, ...]:
    return tuple(_unhex(v, f"{where}[{i}]", 32) for i, v in enumerate(_arr(value, where, 64)))


def _wire(decoder: Any, data: Item, where: str) -> Any:
    try:
        return decoder(data)
    except EncodingError as exc:
        raise FormatError(f"{where} is not a canonical encoding: {exc.message}", field=where) from exc


# --- parts ---------------------------------------------------------------------------------------------
@readable_repr
@dataclass(frozen=True, slots=True)
class HistoryProof:
    """Inclusion of a block hash in a later header's ``history_root`` (leaf = the hash, index = its height).

    ``size`` is the height of the header whose history root it leads to (a trusted checkpoint).
    """

    size: int
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "proof": [to_hex(h) for h in self.path]}

    @classmethod
    def from_json(cls, obj: object, where: str) -> HistoryProof:
        o = _obj(obj, where)
        return cls(_int(o.get("size"), f"{where}.size"), _hashes(o.get("proof"), f"{where}.proof"))


@dataclass(frozen=True, slots=True)
class SealedHeader:
    """A block header with what authenticates it: its commit certificate and/or a history proof."""

    header: BlockHeader
    certificate: CommitCertificate | None = None
    history: HistoryProof | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"header": to_hex(self.header.encode())}
        out["certificate"] = to_hex(self.certificate.encode()) if self.certificate is not None else None
        if self.history is not None:
            out["history"] = self.history.to_json()
        return out

    @classmethod
    def from_json(cls, obj: object, where: str) -> SealedHeader:
        o = _obj(obj, where)
        header = _wire(BlockHeader.decode, _unhex(o.get("header"), f"{where}.header"), f"{where}.header")
        raw_cert = o.get("certificate")
        cert = None
        if raw_cert is not None:
            cert = _wire(
                CommitCertificate.decode, _unhex(raw_cert, f"{where}.certificate"), f"{where}.certificate"
            )
        history = o.get("history")
        return cls(header, cert, HistoryProof.from_json(history, f"{where}.history") if history else None)


@readable_repr
@dataclass(frozen=True, slots=True)
class Handover:
    """A block that hands over to a new validator set: its header, certificate and the new set (keys)."""

    header: BlockHeader
    certificate: CommitCertificate | None
    validators: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "header": to_hex(self.header.encode()),
            "certificate": to_hex(self.certificate.encode()) if self.certificate is not None else None,
            "validators": [to_hex(k) for k in self.validators],
        }

    @classmethod
    def from_json(cls, obj: object, where: str) -> Handover:
        sealed = SealedHeader.from_json(obj, where)
        o = _obj(obj, where)
        keys = tuple(
            _unhex(k, f"{where}.validators[{i}]", 64)
            for i, k in enumerate(_arr(o.get("validators"), f"{where}.validators"))
        )
        return cls(sealed.header, sealed.certificate, keys)


@readable_repr
@dataclass(frozen=True, slots=True)
class EventProof:
    """The event: a transaction and its receipt, their inclusion proofs, and optionally one log of it.

    ``tx`` is None only in a drug-code bundle (``ProofBundle.lot``): a lot part's transaction carries every
    code id of the part, so the bundle proves the receipt and its ``LotCommissioned`` log alone.
    """

    tx: Transaction | None
    receipt: Receipt
    tx_index: int
    tx_count: int  # transactions in the block = leaves of both trees
    tx_proof: tuple[bytes, ...]
    receipt_proof: tuple[bytes, ...]
    log_index: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "tx": to_hex(self.tx.encode()) if self.tx is not None else None,
            "receipt": to_hex(self.receipt.encode()),
            "tx_index": self.tx_index,
            "tx_count": self.tx_count,
            "tx_proof": [to_hex(h) for h in self.tx_proof],
            "receipt_proof": [to_hex(h) for h in self.receipt_proof],
            "log_index": self.log_index,
        }

    @classmethod
    def from_json(cls, obj: object, where: str) -> EventProof:
        o = _obj(obj, where)
        log_index = o.get("log_index")
        raw_tx = o.get("tx")
        return cls(
            tx=None
            if raw_tx is None
            else _wire(Transaction.decode, _unhex(raw_tx, f"{where}.tx"), f"{where}.tx"),
            receipt=_wire(Receipt.decode, _unhex(o.get("receipt"), f"{where}.receipt"), f"{where}.receipt"),
            tx_index=_int(o.get("tx_index"), f"{where}.tx_index"),
            tx_count=_int(o.get("tx_count"), f"{where}.tx_count"),
            tx_proof=_hashes(o.get("tx_proof"), f"{where}.tx_proof"),
            receipt_proof=_hashes(o.get("receipt_proof"), f"{where}.receipt_proof"),
            log_index=None if log_index is None else _int(log_index, f"{where}.log_index"),
        )


@readable_repr
@dataclass(frozen=True, slots=True)
class StateProof:
    """An EVM storage slot proven against the state root of a (later) sealed header (eth_getProof nodes).

    ``kind`` says what the slot means: "slot" (a raw value, reported as is) or "licence" (the status of the
    licence the event is about; the verifier derives the slot itself and judges the value).
    """

    sealed: SealedHeader
    address: bytes
    slot: int
    account_proof: tuple[bytes, ...]
    storage_proof: tuple[bytes, ...]
    kind: str = "slot"

    def to_json(self) -> dict[str, Any]:
        out = self.sealed.to_json()
        out.update(
            {
                "kind": self.kind,
                "address": to_hex(self.address),
                "slot": to_hex(self.slot.to_bytes(32, "big")),
                "account_proof": [to_hex(n) for n in self.account_proof],
                "storage_proof": [to_hex(n) for n in self.storage_proof],
            }
        )
        return out

    @classmethod
    def from_json(cls, obj: object, where: str) -> StateProof:
        sealed = SealedHeader.from_json(obj, where)
        o = _obj(obj, where)
        kind = o.get("kind", "slot")
        if kind not in STATE_KINDS:
            raise FormatError(f"{where}.kind must be one of {STATE_KINDS}", field=f"{where}.kind")
        return cls(
            sealed=sealed,
            address=_unhex(o.get("address"), f"{where}.address", 20),
            slot=int.from_bytes(_unhex(o.get("slot"), f"{where}.slot", 32), "big"),
            account_proof=tuple(
                _unhex(n, f"{where}.account_proof[{i}]")
                for i, n in enumerate(_arr(o.get("account_proof"), f"{where}.account_proof", 64))
            ),
            storage_proof=tuple(
                _unhex(n, f"{where}.storage_proof[{i}]")
                for i, n in enumerate(_arr(o.get("storage_proof"), f"{where}.storage_proof", 64))
            ),
            kind=kind,
        )


@readable_repr
@dataclass(frozen=True, slots=True)
class LotProof:
    """A drug code in the DrugLots part the event's ``LotCommissioned`` log records: the code id, its leaf
    index and its inclusion path (keccak256, RFC 9162) up to the log's root."""

    code_id: bytes
    leaf: int
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"code_id": to_hex(self.code_id), "leaf": self.leaf, "path": [to_hex(h) for h in self.path]}

    @classmethod
    def from_json(cls, obj: object, where: str) -> LotProof:
        o = _obj(obj, where)
        return cls(
            code_id=_unhex(o.get("code_id"), f"{where}.code_id", 32),
            leaf=_int(o.get("leaf"), f"{where}.leaf"),
            path=_hashes(o.get("path"), f"{where}.path"),
        )


@readable_repr
@dataclass(frozen=True, slots=True)
class ProofBundle:
    """One event with everything needed to verify it offline against a trusted genesis or checkpoint.

    ``genesis_hash`` is the builder's claim of which chain this is: the verifier uses it only to explain a
    wrong-chain bundle early; security rests on seals, hashes and proofs.
    """

    chain_id: int
    genesis_hash: bytes
    event: EventProof
    block: SealedHeader
    handovers: tuple[Handover, ...] = ()
    state: StateProof | None = None
    version: int = BUNDLE_VERSION
    labels: Mapping[str, str] = field(default_factory=dict)  # unverified display hints (never trusted)
    lot: LotProof | None = None  # a drug-code bundle: the code in the event's lot part

    def __post_init__(self) -> None:
        if self.event.tx is None and self.lot is None:
            raise FormatError("only a drug-code bundle (with a lot section) may leave out its transaction")
        if self.event.tx is None and self.event.tx_proof:
            raise FormatError("a bundle without its transaction carries no transaction proof")

    # --- JSON ----------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Return the JSON document (a dict of str, int, list, None) described in docs/proof-bundle.md."""
        out: dict[str, Any] = {
            "format": BUNDLE_FORMAT,
            "version": self.version,
            "chain_id": self.chain_id,
            "genesis_hash": to_hex(self.genesis_hash),
            "event": self.event.to_json(),
            "block": self.block.to_json(),
            "handovers": [h.to_json() for h in self.handovers],
            "state": self.state.to_json() if self.state is not None else None,
        }
        if self.lot is not None:
            out["lot"] = self.lot.to_json()
        if self.labels:
            out["labels"] = dict(self.labels)
        return out

    def dumps(self) -> str:
        """Return the JSON text (compact separators, stable key order)."""
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, obj: object) -> ProofBundle:
        """Parse a bundle JSON document (already loaded). Raises FormatError for any malformed part."""
        o = _obj(obj, "bundle")
        if o.get("format") != BUNDLE_FORMAT:
            raise FormatError(f"not a proof bundle: format is {o.get('format')!r}, not {BUNDLE_FORMAT!r}")
        version = o.get("version")
        if version != BUNDLE_VERSION:
            raise FormatError(
                f"unsupported bundle version {version!r}; this verifier reads version {BUNDLE_VERSION}",
                version=version,
            )
        state = o.get("state")
        lot = o.get("lot")
        labels = o.get("labels") or {}
        if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise FormatError("bundle.labels must map strings to strings")
        return cls(
            chain_id=_int(o.get("chain_id"), "bundle.chain_id"),
            genesis_hash=_unhex(o.get("genesis_hash"), "bundle.genesis_hash", 32),
            event=EventProof.from_json(o.get("event"), "event"),
            block=SealedHeader.from_json(o.get("block"), "block"),
            handovers=tuple(
                Handover.from_json(h, f"handovers[{i}]")
                for i, h in enumerate(_arr(o.get("handovers"), "handovers", 1024))
            ),
            state=StateProof.from_json(state, "state") if state is not None else None,
            version=version,
            labels=dict(labels),
            lot=LotProof.from_json(lot, "lot") if lot is not None else None,
        )

    @classmethod
    def loads(cls, text: str | bytes) -> ProofBundle:
        """Parse bundle JSON text; raises FormatError."""
        try:
            obj = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FormatError(f"bundle is not JSON: {exc}") from exc
        return cls.from_json(obj)

    # --- compact binary (QR) -------------------------------------------------------------------------
    def to_compact(self) -> bytes:
        """Return the compact binary form: RLP of the bundle fields (labels are not carried)."""
        e = self.event
        event = encode_list(
            (
                e.tx.encode() if e.tx is not None else encode_bytes(b""),
                e.receipt.encode(),
                encode_int(e.tx_index),
                encode_int(e.tx_count),
                _enc_hashes(e.tx_proof),
                _enc_hashes(e.receipt_proof),
                encode_list(() if e.log_index is None else (encode_int(e.log_index),)),
            )
        )
        handovers = encode_list(
            encode_list(
                (
                    h.header.encode(),
                    _enc_cert(h.certificate),
                    encode_list(encode_bytes(k) for k in h.validators),
                )
            )
            for h in self.handovers
        )
        state = encode_list(())
        if self.state is not None:
            s = self.state
            state = encode_list(
                (
                    _enc_sealed(s.sealed),
                    encode_bytes(s.kind.encode()),
                    encode_bytes(s.address),
                    encode_bytes(s.slot.to_bytes(32, "big")),
                    encode_list(encode_bytes(n) for n in s.account_proof),
                    encode_list(encode_bytes(n) for n in s.storage_proof),
                )
            )
        fields = [
            encode_int(self.version),
            encode_int(self.chain_id),
            encode_bytes(self.genesis_hash),
            event,
            _enc_sealed(self.block),
            handovers,
            state,
        ]
        if self.lot is not None:  # an eighth field: older bundles have seven
            lot = self.lot
            fields.append(
                encode_list((encode_bytes(lot.code_id), encode_int(lot.leaf), _enc_hashes(lot.path)))
            )
        return encode_list(fields)

    @classmethod
    def from_compact(cls, data: bytes) -> ProofBundle:
        """Parse the compact binary form; raises FormatError."""
        try:
            item = decode(data)
            return _from_compact_item(item)
        except FormatError:
            raise
        except (EncodingError, IndexError, TypeError, ValueError) as exc:
            message = exc.message if isinstance(exc, XinlianError) else str(exc)
            raise FormatError(f"compact bundle is malformed: {message}") from exc

    def to_qr_text(self) -> str:
        """Return ``"XL1:" + base45(deflate(compact))``: QR alphanumeric-mode text."""
        return COMPACT_PREFIX + b45encode(zlib.compress(self.to_compact(), 9))

    def to_link_fragment(self) -> str:
        """Return base64url(deflate(compact)) without padding, for a ``/verify#b=…`` link."""
        return base64.urlsafe_b64encode(zlib.compress(self.to_compact(), 9)).rstrip(b"=").decode()


def _enc_hashes(hashes: Sequence[bytes]) -> bytes:
    return encode_list(encode_bytes(h) for h in hashes)


def _enc_cert(cert: CommitCertificate | None) -> bytes:
    return encode_bytes(cert.encode()) if cert is not None else encode_bytes(b"")


def _enc_sealed(s: SealedHeader) -> bytes:
    history = (
        encode_list((encode_int(s.history.size), _enc_hashes(s.history.path)))
        if s.history is not None
        else encode_list(())
    )
    return encode_list((s.header.encode(), _enc_cert(s.certificate), history))


def _s(item: Item, where: str) -> bytes:
    if not isinstance(item, bytes):
        raise FormatError(f"{where} must be a string in the compact bundle", field=where)
    return item


def _l(item: Item, where: str, arity: int | None = None) -> list[Item]:
    if not isinstance(item, list):
        raise FormatError(f"{where} must be a list in the compact bundle", field=where)
    if arity is not None and len(item) != arity:
        raise FormatError(f"{where} must have {arity} fields, found {len(item)}", field=where)
    return item


def _dec_hashes(item: Item, where: str) -> tuple[bytes, ...]:
    out = tuple(_s(h, where) for h in _l(item, where))
    if any(len(h) != 32 for h in out):
        raise FormatError(f"{where} holds a hash that is not 32 bytes", field=where)
    return out


def _dec_cert(item: Item, where: str) -> CommitCertificate | None:
    raw = _s(item, where)
    return _wire(CommitCertificate.decode, raw, where) if raw else None


def _dec_header(item: Item, where: str) -> BlockHeader:
    header: BlockHeader = _wire(BlockHeader.from_item, item, where)
    return header


def _dec_sealed(item: Item, where: str) -> SealedHeader:
    f = _l(item, where, 3)
    hist = _l(f[2], f"{where}.history")
    history = None
    if hist:
        if len(hist) != 2:
            raise FormatError(f"{where}.history must have 2 fields", field=where)
        history = HistoryProof(decode_int(hist[0], "history.size"), _dec_hashes(hist[1], f"{where}.history"))
    return SealedHeader(
        _dec_header(f[0], f"{where}.header"), _dec_cert(f[1], f"{where}.certificate"), history
    )


def _from_compact_item(item: Item) -> ProofBundle:
    top = _l(item, "bundle")
    if len(top) not in (7, 8):
        raise FormatError(f"bundle must have 7 or 8 fields, found {len(top)}", field="bundle")
    version = decode_int(top[0], "version")
    if version != BUNDLE_VERSION:
        raise FormatError(f"unsupported bundle version {version}", version=version)
    ev = _l(top[3], "event", 7)
    log = _l(ev[6], "event.log_index")
    event = EventProof(
        tx=None if ev[0] == b"" else _wire(Transaction.from_item, ev[0], "event.tx"),
        receipt=_wire(Receipt.decode, _reencode(ev[1]), "event.receipt"),
        tx_index=decode_int(ev[2], "tx_index"),
        tx_count=decode_int(ev[3], "tx_count"),
        tx_proof=_dec_hashes(ev[4], "event.tx_proof"),
        receipt_proof=_dec_hashes(ev[5], "event.receipt_proof"),
        log_index=decode_int(log[0], "log_index") if log else None,
    )
    handovers = []
    for i, h in enumerate(_l(top[5], "handovers")):
        f = _l(h, f"handovers[{i}]", 3)
        keys = tuple(_s(k, f"handovers[{i}].validators") for k in _l(f[2], f"handovers[{i}].validators"))
        if any(len(k) != 64 for k in keys):
            raise FormatError(f"handovers[{i}].validators holds a key that is not 64 bytes")
        handovers.append(
            Handover(_dec_header(f[0], f"handovers[{i}]"), _dec_cert(f[1], f"handovers[{i}]"), keys)
        )
    st = _l(top[6], "state")
    state = None
    if st:
        if len(st) != 6:
            raise FormatError("state must have 6 fields in the compact bundle")
        kind = _s(st[1], "state.kind").decode("ascii", "replace")
        if kind not in STATE_KINDS:
            raise FormatError(f"state.kind must be one of {STATE_KINDS}")
        slot = _s(st[3], "state.slot")
        address = _s(st[2], "state.address")
        if len(slot) != 32 or len(address) != 20:
            raise FormatError("state.slot must be 32 bytes and state.address 20 bytes")
        state = StateProof(
            sealed=_dec_sealed(st[0], "state"),
            address=address,
            slot=int.from_bytes(slot, "big"),
            account_proof=tuple(_s(n, "state.account_proof") for n in _l(st[4], "state.account_proof")),
            storage_proof=tuple(_s(n, "state.storage_proof") for n in _l(st[5], "state.storage_proof")),
            kind=kind,
        )
    lot = None
    if len(top) == 8:
        f = _l(top[7], "lot", 3)
        code_id = _s(f[0], "lot.code_id")
        if len(code_id) != 32:
            raise FormatError("lot.code_id must be 32 bytes")
        lot = LotProof(code_id, decode_int(f[1], "lot.leaf"), _dec_hashes(f[2], "lot.path"))
    genesis_hash = _s(top[2], "genesis_hash")
    if len(genesis_hash) != 32:
        raise FormatError("genesis_hash must be 32 bytes")
    return ProofBundle(
        chain_id=decode_int(top[1], "chain_id"),
        genesis_hash=genesis_hash,
        event=event,
        block=_dec_sealed(top[4], "block"),
        handovers=tuple(handovers),
        state=state,
        version=version,
        lot=lot,
    )


def _reencode(item: Item) -> bytes:
    """Encode a decoded RLP item again (canonical in, canonical out)."""
    if isinstance(item, bytes):
        return encode_bytes(item)
    return encode_list(_reencode(x) for x in item)


def _inflate(data: bytes) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, _MAX_COMPACT_BYTES)
    except zlib.error as exc:
        raise FormatError(f"compact bundle does not inflate: {exc}") from exc
    if d.unconsumed_tail:
        raise FormatError(f"compact bundle inflates beyond {_MAX_COMPACT_BYTES} bytes")
    return out


def decode_compact(text: str) -> ProofBundle:
    """Parse a QR payload: ``XL1:<base45>``, a ``…/verify#b=<base64url>`` link, or bare base64url.

    Returns the bundle; raises FormatError for anything else or a malformed payload.
    """
    text = text.strip()
    if text.startswith(COMPACT_PREFIX):
        return ProofBundle.from_compact(_inflate(b45decode(text[len(COMPACT_PREFIX) :])))
    if "#" in text:
        fragment = text.split("#", 1)[1]
        params = dict(p.split("=", 1) for p in fragment.split("&") if "=" in p)
        if "b" not in params:
            raise FormatError("the link carries no bundle (#b=…); fetch the bundle it points to instead")
        text = params["b"]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise FormatError("QR payload is neither XL1: base45 nor base64url") from exc
    return ProofBundle.from_compact(_inflate(raw))


def load_bundle(text: str | bytes) -> ProofBundle:
    """Parse a bundle from JSON text or any compact QR payload; raises FormatError."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError("bundle is neither UTF-8 JSON nor a QR payload") from exc
    stripped = text.strip()
    if stripped.startswith("{"):
        return ProofBundle.loads(stripped)
    return decode_compact(stripped)
