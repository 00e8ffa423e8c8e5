"""The DrugTrace.vy facade: reads through a node, and writes signed by a member."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sdk.answers import LogEntry
from sdk.domains.calendar import day_of_date
from sdk.domains.drugs.encoders import (
    CALL_GAS_BASE,
    COMMISSION_GAS_BASE,
    COMMISSION_GAS_PER_CODE,
    MAX_CODES_PER_CALL,
    MAX_PREFIX_LENGTHS,
    MIN_PREFIX_LENGTH,
    MOVE_GAS_PER_CODE,
    PACK_GAS_PER_CODE,
    BillType,
    Category,
    KeyScheme,
    Level,
    TraceCode,
    compute_commission_chunk_size,
    compute_product_id,
    normalise_product_key,
    parse_trace_code,
    validate_batch_no,
)
from sdk.domains.drugs.lots import (
    LOT_COMMISSIONED_TOPIC,
    MAX_LOT_PART,
    LotPart,
    build_commission_lot_calls,
    build_materialise_calls,
    compute_lot_part_size,
    decode_committed_part,
    decode_lot_commissioned,
)
from sdk.domains.drugs.model import (
    BatchState,
    CodeState,
    CommissionResult,
    ConsumerView,
    DrugAlert,
    DrugEvent,
    LotPlace,
    Product,
    ShipmentResult,
    consumer_view_from_json,
    decode_alerts,
    decode_drug_event,
)
from sdk.domains.drugs.queries import DrugQueries
from sdk.domains.facade import SignerFacade
from sdk.encoding import from_hex, to_hex
from sdk.errors import (
    AccessDenied,
    ClientError,
    DomainError,
    DrugAlertError,
    EncodingError,
    IdentifierError,
    InputError,
    XinlianError,
)
from sdk.identifiers import parse_uscc
from sdk.keyholder import KeyHolder
from sdk.system import DRUG_LOTS_ADDRESS, DRUG_TRACE_ADDRESS

if TYPE_CHECKING:
    from sdk.answers import ReceiptResult
    from sdk.client import Client


class _ClientLedger:
    """A node client seen as a DrugLedger (calls and logs over HTTP)."""

    def __init__(self, client: Client, signer: KeyHolder | None) -> None:
        self.client = client
        self.signer = signer
        self._times: dict[int, int] = {}

    @property
    def governance_address(self) -> bytes:
        return self.client.chain_info(refresh=False).governance_address

    def call(self, to: bytes, data: bytes) -> bytes:
        return self.client.call(to, data)

    def logs(
        self,
        address: bytes,
        topics: Sequence[bytes | None],
        *,
        from_height: int = 0,
        to_height: int | None = None,
    ) -> Iterable[LogEntry]:
        return self.client.logs(address=address, topics=topics, from_height=from_height, to_height=to_height)

    def lot_places(self, code_id: bytes) -> list[LotPlace]:
        if self.signer is None:
            return []  # the node answers lot parts to a member only (the product's MAH, a regulator)
        try:
            body = self.client.signed_request(self.signer, "GET", f"/v1/drugs/lot-codes/{to_hex(code_id)}")
        except XinlianError as exc:
            if exc.code in ("not_found", "forbidden"):
                return []
            raise
        return [
            LotPlace(int(p["part"]), int(p["height"]), from_hex(p["mah"], "mah", size=20))
            for p in body["parts"]
        ]

    def block_time_ms(self, height: int) -> int | None:
        if height not in self._times:
            self._times[height] = self.client.block(height).header.timestamp_ms
        return self._times[height]


# --- the facade ---------------------------------------------------------------------------------------
@dataclass
class _Prepared:
    codes: list[TraceCode] = field(default_factory=list)

    @property
    def ids(self) -> list[bytes]:
        return [c.code_id for c in self.codes]


class Drugs(DrugQueries, SignerFacade):
    """DrugTrace through a node: reads, and writes signed by ``signer``.

    Every code is validated with sdk.identifiers before anything is signed. Writes wait for the commit;
    a revert (malformed call, missing role) raises ExecutionError with the contract's reason; a refusal
    for the codes' state (recorded as Alerts) raises DrugAlertError (a DomainError) with the reason.
    """

    def __init__(
        self, client: Client, signer: KeyHolder | None = None, *, address: bytes = DRUG_TRACE_ADDRESS
    ) -> None:
        client = client.reading_as(signer)
        super().__init__(_ClientLedger(client, signer), address)
        self.client = client
        self.signer = signer

    def consumer_query(self, code: str, *, today: dt.date | None = None) -> ConsumerView:
        """Answer a consumer's scan through the node's public check (no signature needed): authentic or
        not, product, batch, expiry, status, holds, custody trail — the same read model, run by the node.

        ``today`` (for a GS1 string's printed expiry) must be None: the node judges by its own date.
        Raises IdentifierError for a malformed code (checked before the node is asked), ClientError.
        """
        if today is not None:
            raise DomainError("the node's consumer check uses its own date", code="bad_arguments")
        parse_trace_code(code)
        body = self.client.public_get(f"/v1/drugs/codes/{quote(code, safe='')}")
        return consumer_view_from_json(body)

    def with_signer(self, signer: KeyHolder) -> Drugs:
        """Return a facade that signs writes with ``signer``."""
        return Drugs(self.client, signer, address=self.address)

    # --- plumbing ----------------------------------------------------------------------------------------
    def _gas(self, per_item: int, count: int, base: int = CALL_GAS_BASE) -> int:
        limit = self.client.chain_info(refresh=False).tx_gas_limit
        return min(limit, base + per_item * count)

    def _send(self, function: str, args: Sequence[Any], *, gas_limit: int) -> ReceiptResult:
        signer = self._require_signer()
        data = self.contract.encode_call(function, list(args))
        return self.client.send(signer, self.address, data, gas_limit=gas_limit, check=True)

    def _check_alerts(self, receipt: ReceiptResult, what: str, *, hint_lots: bool = False) -> None:
        """Raise DrugAlertError for the Alerts ``receipt`` holds. ``hint_lots``: a movement's "unknown code"
        that is in one of the signer's own lot parts says so (it needs its word first), at the cost of one
        lot-index lookup on this refusal path only."""
        alerts = decode_alerts(receipt, self.address)
        if alerts:
            hint = self._lot_hint(alerts) if hint_lots else ""
            raise DrugAlertError(
                f"{what} refused: {alerts[0].reason}"
                + (f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else "")
                + hint,
                alerts=alerts,
                tx_hash=receipt.tx_hash,
            )

    def _lot_hint(self, alerts: Sequence[DrugAlert]) -> str:
        unknown = next((a.code_id for a in alerts if a.reason == "unknown code"), None)
        if unknown is None or self.signer is None:
            return ""
        try:
            found = self.lot_part_of(unknown, mah=self.signer.address)
        except XinlianError:  # a hint must not hide the refusal itself
            return ""
        if found is None:
            return ""
        return (
            f"; 0x{unknown.hex()} is in this signer's lot part {found[0].part} without its word yet: "
            "materialise it first (Drugs.materialise_codes)"
        )

    @staticmethod
    def _prepare(codes: Sequence[str] | str, *, limit: int | None = MAX_CODES_PER_CALL) -> _Prepared:
        items = [codes] if isinstance(codes, str) else list(codes)
        if not items:
            raise EncodingError("no codes given", code="bad_arguments")
        if limit is not None and len(items) > limit:
            raise EncodingError(f"at most {limit} codes per call, got {len(items)}", code="bad_arguments")
        prepared = _Prepared([parse_trace_code(c) for c in items])
        if len(set(prepared.ids)) != len(prepared.ids):
            raise EncodingError("a code is listed twice", code="bad_arguments")
        return prepared

    def _move(
        self, function: str, args: Sequence[Any], count: int, what: str, per_code: int = MOVE_GAS_PER_CODE
    ) -> ReceiptResult:
        receipt = self._send(function, args, gas_limit=self._gas(per_code, count))
        self._check_alerts(receipt, what, hint_lots=True)
        return receipt

    # --- products ----------------------------------------------------------------------------------------
    def register_product(
        self,
        product_key: str,
        name: str,
        approval_number: str,
        category: Category = Category.ORDINARY,
        *,
        packs: str | None = None,
    ) -> ReceiptResult:
        """Register a product (7-digit 药品标识码 or GTIN) for the signer's organisation as MAH.

        The key must fall under a prefix a drug regulator bound to the signer's organisation
        (``assign_key_prefix``; see ``registrant``). ``packs`` names the product key this one packs (a case's
        unit product): they then share lots. The contract derives the product id from the key.
        Raises: IdentifierError, ExecutionError (``not a MAH``, ``product key not assigned to you``,
        ``product already registered`` …).
        """
        packs_id = compute_product_id(packs) if packs is not None else bytes(32)
        args = [normalise_product_key(product_key), name, approval_number, int(Category(category)), packs_id]
        return self._send("register_product", args, gas_limit=CALL_GAS_BASE + 300_000)

    def assign_key_prefix(
        self, scheme: KeyScheme, prefix: str, mah_uscc: str | None, reason: str
    ) -> ReceiptResult:
        """Bind a product-key prefix to an MAH organisation, or withdraw the binding (``mah_uscc`` None).
        By a DRUG_REGULATOR.

        ``scheme`` NMPA: a block of 4-7 leading digits of 药品标识码; GS1: a GS1 company prefix (4-12 digits,
        as it follows the GTIN-14 indicator digit). Raises: IdentifierError / EncodingError before signing;
        ExecutionError (``not a drug regulator``, ``regulator's own organisation`` …).
        """
        scheme = KeyScheme(scheme)
        if not (prefix.isascii() and prefix.isdigit()):
            raise IdentifierError("a key prefix is digits", field="prefix", value=prefix)
        if not MIN_PREFIX_LENGTH <= len(prefix) <= MAX_PREFIX_LENGTHS[scheme]:
            raise IdentifierError(
                f"a {scheme.name} key prefix has {MIN_PREFIX_LENGTH}-{MAX_PREFIX_LENGTHS[scheme]} digits",
                field="prefix",
                value=prefix,
            )
        uscc = parse_uscc(mah_uscc).code if mah_uscc is not None else ""
        if not reason:
            raise EncodingError("a reason is required", code="bad_arguments")
        args = [int(scheme), prefix, uscc, reason]
        return self._send("assign_key_prefix", args, gas_limit=CALL_GAS_BASE + 200_000)

    def settle_product(
        self, product_key: str, mah_uscc: str, *, suspended: bool = False, reason: str
    ) -> ReceiptResult:
        """Rule on a contested product registration: the MAH organisation that holds it (the current one to
        keep it) and whether it is suspended (no code of it is commissioned). By a DRUG_REGULATOR.

        Raises: IdentifierError / EncodingError before signing; ExecutionError (``unknown product``,
        ``unknown or inactive organisation``, ``regulator's own organisation`` …).
        """
        if not reason:
            raise EncodingError("a reason is required", code="bad_arguments")
        args = [compute_product_id(product_key), parse_uscc(mah_uscc).code, suspended, reason]
        return self._send("settle_product", args, gas_limit=CALL_GAS_BASE + 200_000)

    # --- commissioning -----------------------------------------------------------------------------------
    def commission_chunk_size(self) -> int:
        """Return how many codes one commissioning transaction carries under the chain's gas limit."""
        return compute_commission_chunk_size(self.client.chain_info(refresh=False).tx_gas_limit)

    def commission(
        self,
        codes: Sequence[str],
        batch_no: str,
        production_date: dt.date,
        expiry: dt.date,
        level: Level = Level.UNIT,
        *,
        chunk_size: int | None = None,
    ) -> CommissionResult:
        """Commission codes of one product and batch, in as many transactions as the gas limit needs
        (submitted together in one batch request, or a few for the largest lots, then awaited).

        Takes: the codes (all of one product key; a GS1 code's printed batch/expiry must match), the batch
        number, production and expiry dates, the packaging level.
        Returns: the count and the receipts. Raises: IdentifierError / EncodingError before signing;
        InvalidTransaction when the node refused a chunk, or the error of a request that failed, before
        anything is awaited (detail ``accepted``: the hashes of the chunks the node took, which commit;
        ``not_accepted``: the positions ``i`` of the others, each ``codes[i * chunk_size : (i + 1) *
        chunk_size]``); ExecutionError on a revert; DrugAlertError when a code was commissioned before
        (``count`` in its detail says how many of this call's codes were recorded by the other
        transactions).
        """
        signer = self._require_signer()
        prepared, batch_no = self._commissioning(codes, batch_no, production_date, expiry)
        product_id = prepared.codes[0].product_id
        size = chunk_size or self.commission_chunk_size()
        if not 1 <= size <= MAX_CODES_PER_CALL:
            raise EncodingError(f"chunk size must be 1..{MAX_CODES_PER_CALL}", code="bad_arguments")
        ids = prepared.ids
        calls: list[tuple[bytes, bytes, int]] = []
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            data = self.contract.encode_call(
                "commission",
                [product_id, batch_no, day_of_date(production_date), day_of_date(expiry), int(level), chunk],
            )
            calls.append(
                (self.address, data, self._gas(COMMISSION_GAS_PER_CODE, len(chunk), COMMISSION_GAS_BASE))
            )
        # One request for every chunk (a few for the largest lots): per request, not per chunk, is what a
        # node's HTTP front door and its durable record of pending transactions cost.
        try:
            hashes = self.client.send_many(signer, calls)
        except XinlianError as exc:
            exc.detail["chunk_size"] = size  # not_accepted counts chunks: codes[i * size : (i + 1) * size]
            raise
        receipts = tuple(self.client.wait(h, check=True) for h in hashes)
        alerts: list[DrugAlert] = []
        refused: list[ReceiptResult] = []
        recorded = 0
        for start, receipt in zip(range(0, len(ids), size), receipts, strict=True):
            chunk_alerts = decode_alerts(receipt, self.address)
            if chunk_alerts:
                alerts += chunk_alerts
                refused.append(receipt)
            else:
                recorded += len(ids[start : start + size])
        if refused:
            raise DrugAlertError(
                f"commissioning refused: {alerts[0].reason} ({recorded} of {len(ids)} codes recorded)",
                alerts=alerts,
                tx_hash=refused[0].tx_hash,
                count=recorded,
            )
        return CommissionResult(count=len(ids), receipts=receipts)

    def _commissioning(
        self, codes: Sequence[str], batch_no: str, production_date: dt.date, expiry: dt.date
    ) -> tuple[_Prepared, str]:
        """The codes and batch number of one commissioning, checked: one product key, the dates in order, a
        GS1 code's printed batch and expiry those given. Raises IdentifierError, EncodingError."""
        prepared = self._prepare(codes, limit=None)
        batch_no = validate_batch_no(batch_no)
        if expiry < production_date:
            raise EncodingError("expiry is before production", code="bad_arguments")
        products = {c.product_key for c in prepared.codes}
        if len(products) != 1:
            raise EncodingError("codes of one commissioning must share one product key", code="bad_arguments")
        for trace in prepared.codes:
            if trace.batch is not None and trace.batch != batch_no:
                raise IdentifierError(f"code prints batch {trace.batch}, not {batch_no}", field="batch_no")
            if trace.expiry is not None and trace.expiry != expiry:
                raise IdentifierError(f"code prints expiry {trace.expiry}, not {expiry}", field="expiry")
        return prepared, batch_no

    # --- lots commissioned by their root (DrugLots.vy) ---------------------------------------------------
    def commission_lot(
        self,
        codes: Sequence[str],
        batch_no: str,
        production_date: dt.date,
        expiry: dt.date,
        level: Level = Level.UNIT,
        *,
        part_size: int | None = None,
    ) -> tuple[LotPart, ...]:
        """Commission a lot by the root of its code ids, a part per transaction (as many as the chain's gas
        and size limits need, ``compute_lot_part_size``: about 3,000 codes at the default 5,000,000 gas),
        sent together and awaited. No code has its word yet: ``materialise`` gives it before the code's
        first movement. Keep the parts (``LotPart.to_json``): materialising needs them (``lot_parts`` rebuilds
        them from the chain).

        Takes and checks what ``commission`` does. Returns: the parts in order, codes split in order.
        Raises: what ``commission`` raises, before anything is signed or for the refused parts (detail
        ``accepted`` / ``not_accepted`` as ``commission``'s, with ``part_size``); DomainError when the chain
        recorded a root other than the one computed here.
        """
        signer = self._require_signer()
        prepared, batch_no = self._commissioning(codes, batch_no, production_date, expiry)
        product_id = prepared.codes[0].product_id
        info = self.client.chain_info(refresh=False)
        size = part_size or compute_lot_part_size(info.tx_gas_limit, info.max_tx_bytes)
        if not 1 <= size <= MAX_LOT_PART:
            raise EncodingError(f"part size must be 1..{MAX_LOT_PART}", code="bad_arguments")
        days = (day_of_date(production_date), day_of_date(expiry))
        built = build_commission_lot_calls(
            product_id,
            batch_no,
            days,
            int(level),
            prepared.ids,
            part_size=size,
            tx_gas_limit=info.tx_gas_limit,
        )
        try:
            hashes = self.client.send_many(signer, [(DRUG_LOTS_ADDRESS, data, gas) for _, data, gas in built])
        except XinlianError as exc:
            exc.detail["part_size"] = size  # not_accepted counts parts: codes[i * size : (i + 1) * size]
            raise
        parts: list[LotPart] = []
        for (chunk, _, _), tx_hash in zip(built, hashes, strict=True):
            number, root = decode_lot_commissioned(self.client.wait(tx_hash, check=True))
            parts.append(LotPart(number, product_id, root, tuple(chunk), tx_hash))
            if parts[-1].tree().root != root:
                raise DomainError(
                    "the chain recorded another root for a lot part",
                    code="bad_answer",
                    tx_hash=to_hex(tx_hash),
                )
        return tuple(parts)

    def lot_part(self, tx_hash: bytes) -> LotPart:
        """The lot part a committed ``commission_lot`` transaction recorded, rebuilt from the chain: what its
        MAH needs to materialise codes when it no longer has the ``LotPart``. Read as this facade's signer:
        the product's MAH and a DRUG_REGULATOR may read it.

        Raises: DomainError (``not_found``: no such committed transaction; ``not_a_lot_part``: not a
        successful ``commission_lot`` whose ids make the root it recorded); ClientError (``forbidden`` for a
        member who may not read it).
        """
        status = self.client.transaction(tx_hash)
        tx, receipt = status.transaction, status.receipt
        if tx is None or receipt is None:
            raise DomainError(f"no committed transaction {to_hex(tx_hash)}", code="not_found")
        committed = decode_committed_part(tx.to, tx.data, receipt.succeeded, receipt.logs)
        if committed is None:
            raise DomainError("not a committed lot part", code="not_a_lot_part", tx_hash=to_hex(tx_hash))
        return LotPart(committed.part, committed.product_id, committed.root, committed.code_ids, tx_hash)

    def lot_parts(self, *, from_height: int = 0) -> list[LotPart]:
        """Every lot part this facade's signer commissioned (from ``from_height`` on), in chain order,
        rebuilt from the chain as ``lot_part``. Raises what ``lot_part`` raises."""
        signer = self._require_signer()
        topics = [LOT_COMMISSIONED_TOPIC, None, None, bytes(12) + signer.address]
        entries = self.client.logs(address=DRUG_LOTS_ADDRESS, topics=topics, from_height=from_height)
        return [self.lot_part(entry.tx_hash) for entry in entries]

    def code_bundle(self, code: str) -> dict[str, Any]:
        """The drug-code proof bundle of a code still only in its lot part, as JSON: the part's receipt and
        ``LotCommissioned`` log under a sealed header, and the code's path to the log's root, to hand on and
        check offline (``Verifier.verify_bundle``, ``xinlian verify``, the /verify page). It proves that the
        MAH listed the code in the part at that block, not today's status. For the product's MAH and a
        DRUG_REGULATOR (the signer): the bundle shows the part's size.

        Raises IdentifierError for a malformed code (before the node is asked); the node's error
        (``not_found`` for a code in no part or with its own word, ``forbidden``), ClientError.
        """
        signer = self._require_signer()
        parse_trace_code(code)
        path = f"/v1/proofs/drug-codes/{quote(code, safe='')}"
        body: dict[str, Any] = self.client.signed_request(signer, "GET", path)
        return body

    def materialise(self, part: LotPart, codes: Sequence[str]) -> tuple[ReceiptResult, ...]:
        """Give codes of a lot part their words (each proven in the part; DrugTrace then holds them as
        commissioned by the part's MAH, the signer), as few transactions as the gas limit allows. A block of
        128 consecutive codes of the part (``BLOCK``) asked for whole goes with one path; list whole blocks,
        e.g. every code of the part, to materialise at about the cost of ``commission``.

        Raises: InputError when a code is not in ``part``; what ``commission`` raises (DrugAlertError when a
        code already has a word: nothing of that transaction was recorded).
        """
        signer = self._require_signer()
        prepared = self._prepare(codes, limit=None)
        leaves = {code_id: index for index, code_id in enumerate(part.code_ids)}
        outside = [code for code, code_id in zip(codes, prepared.ids, strict=True) if code_id not in leaves]
        if outside:
            raise InputError(f"{len(outside)} codes are not in lot part {part.part}", part=part.part)
        limit = self.client.chain_info(refresh=False).tx_gas_limit
        built = build_materialise_calls(part, [leaves[i] for i in prepared.ids], limit)
        calls = [(DRUG_LOTS_ADDRESS, data, gas) for data, gas, _count in built]
        receipts = tuple(self.client.wait(h, check=True) for h in self.client.send_many(signer, calls))
        for receipt in receipts:
            self._check_alerts(receipt, "materialising")
        return receipts

    def materialise_codes(self, codes: Sequence[str]) -> tuple[ReceiptResult, ...]:
        """Give codes commissioned by their lot parts' roots their words, found by the code alone: the
        node's lot index names each code's part (the one that can still give it its word), which is rebuilt
        from the chain (``lot_part``) and materialised (``materialise``), part by part in part order. Codes
        that already have a word are left out. It costs a lookup a code and a part's call data a part: for
        whole parts or blocks whose ``LotPart`` you keep, ``materialise`` is cheaper.

        Raises, before anything is sent: DomainError (``not_in_a_lot``) saying how many codes are in no lot
        part this signer may see; AccessDenied (``forbidden``) for a part the signer did not commission
        (only its MAH materialises it). Then what ``lot_part`` and ``materialise`` raise.
        """
        signer = self._require_signer()
        prepared = self._prepare(codes, limit=None)
        by_part: dict[int, tuple[LotPlace, list[str]]] = {}
        outside: list[str] = []
        for code, code_id in zip(codes, prepared.ids, strict=True):
            if self.has_word(code_id):
                continue  # it has its word already
            found = self.lot_part_of(code_id, mah=signer.address)
            if found is None:
                other = self.lot_part_of(code_id)  # asked again only to say why
                if other is not None:
                    raise AccessDenied(
                        "the code's lot part was commissioned by another account: only it materialises it",
                        lot_part=other[0].part,
                    )
                outside.append(code)
                continue
            place = found[0]
            by_part.setdefault(place.part, (place, []))[1].append(code)
        if outside:
            raise DomainError(
                f"{len(outside)} of the codes are in no lot part this signer sees (the first: {outside[0]})",
                code="not_in_a_lot",
                codes=len(outside),
            )
        parts = []
        for number, (place, part_codes) in sorted(by_part.items()):
            topics = [LOT_COMMISSIONED_TOPIC, number.to_bytes(32, "big")]
            logs = self.client.logs(
                address=DRUG_LOTS_ADDRESS, topics=topics, from_height=place.height, to_height=place.height
            )
            entry = next(iter(logs), None)
            if entry is None:
                raise DomainError(f"no lot part {number} at height {place.height}", code="bad_answer")
            parts.append((self.lot_part(entry.tx_hash), part_codes))
        receipts: list[ReceiptResult] = []
        for lot_part, part_codes in parts:
            receipts += self.materialise(lot_part, part_codes)
        return tuple(receipts)

    # --- packing -----------------------------------------------------------------------------------------
    def aggregate(self, parent: str, children: Sequence[str]) -> ReceiptResult:
        """Pack children into a parent of a higher level (both held by the signer, both top-level).

        Raises: IdentifierError, ExecutionError, DrugAlertError.
        """
        parent_id = parse_trace_code(parent).code_id
        prepared = self._prepare(children)
        limit = (self.client.chain_info(refresh=False).tx_gas_limit - CALL_GAS_BASE) // PACK_GAS_PER_CODE
        if len(prepared.ids) > limit:
            raise EncodingError(
                f"at most {limit} children per aggregate under the gas limit; pack in several calls",
                code="bad_arguments",
            )
        return self._move(
            "aggregate", [parent_id, prepared.ids], len(prepared.ids), "aggregation", PACK_GAS_PER_CODE
        )

    def disaggregate(self, parent: str, children: Sequence[str]) -> ReceiptResult:
        """Unpack children from a parent held by the signer. Raises as ``aggregate``."""
        parent_id = parse_trace_code(parent).code_id
        prepared = self._prepare(children)
        return self._move("disaggregate", [parent_id, prepared.ids], len(prepared.ids), "disaggregation")

    # --- shipping ----------------------------------------------------------------------------------------
    def ship(self, codes: Sequence[str], to: bytes, bill_type: BillType = BillType.SALE) -> ShipmentResult:
        """Ship top-level codes the signer holds to account ``to`` under an outbound bill type.

        Returns: the shipment id and receipt. Raises: IdentifierError, ExecutionError (unknown bill type,
        receiver without a drug-trade role …), DrugAlertError (not the custodian, recalled, expired …).
        """
        prepared = self._prepare(codes)
        if len(to) != 20:
            raise EncodingError("the receiver is a 20-byte account address", code="bad_arguments")
        receipt = self._move(
            "ship", [prepared.ids, to, int(BillType(bill_type))], len(prepared.ids), "shipment"
        )
        for event in self.contract.events_in(receipt.logs, self.address):
            if event.name == "ShipmentCreated":
                return ShipmentResult(shipment_id=int(event.args["shipment"]), receipt=receipt)
        raise ClientError("the shipment receipt carries no ShipmentCreated event", code="bad_response")

    def shipment_codes(self, shipment_id: int) -> list[bytes]:
        """Return the ids of the codes shipped under ``shipment_id`` that are still in transit in it."""
        topic = self.contract.encode_topic("Shipped", "shipment", shipment_id)
        ids = [
            bytes(e.args["code"])
            for e in (decode_drug_event(x) for x in self.ledger.logs(self.address, [None, None, topic]))
            if e is not None and e.name == "Shipped"
        ]
        return [i for i in ids if self.get_code(i).shipment_id == shipment_id]

    def _settle(
        self, function: str, shipment_id: int, codes: Sequence[str] | None, what: str
    ) -> ReceiptResult:
        ids = self.shipment_codes(shipment_id) if codes is None else self._prepare(codes).ids
        if not ids:
            raise DomainError(f"shipment {shipment_id} has no codes in transit", code="nothing_in_transit")
        if len(ids) > MAX_CODES_PER_CALL:
            raise EncodingError(f"at most {MAX_CODES_PER_CALL} codes per call", code="bad_arguments")
        return self._move(function, [shipment_id, ids], len(ids), what)

    def receive(self, shipment_id: int, codes: Sequence[str] | None = None) -> ReceiptResult:
        """Confirm receipt (the signer is the shipment's receiver) of ``codes``, or of every code still in
        transit in it when None: custody moves to the signer. Raises: ExecutionError, DrugAlertError."""
        return self._settle("receive", shipment_id, codes, "receipt")

    def cancel_shipment(self, shipment_id: int, codes: Sequence[str] | None = None) -> ReceiptResult:
        """Withdraw (sender) or refuse (receiver) codes still in transit: they return to the sender."""
        return self._settle("cancel_shipment", shipment_id, codes, "cancellation")

    # --- terminal ----------------------------------------------------------------------------------------
    def dispense(self, codes: Sequence[str] | str) -> ReceiptResult:
        """Dispense codes the signer (a DISPENSER) holds: terminal.

        Raises: IdentifierError, ExecutionError (``not a dispenser``), DrugAlertError (``already dispensed``,
        ``recalled``, ``expired``, ``unknown code`` …) — the refusal itself is recorded on chain as Alerts.
        """
        prepared = self._prepare(codes)
        return self._move("dispense", [prepared.ids], len(prepared.ids), "dispensing")

    def destroy(self, codes: Sequence[str] | str) -> ReceiptResult:
        """Destroy codes the signer holds (also recalled or expired ones): terminal. Raises like dispense."""
        prepared = self._prepare(codes)
        return self._move("destroy", [prepared.ids], len(prepared.ids), "destruction")

    # --- holds -------------------------------------------------------------------------------------------
    def _hold(self, function: str, product_key: str, batch_no: str, reason: str) -> ReceiptResult:
        args = [compute_product_id(product_key), validate_batch_no(batch_no), reason]
        return self._send(function, args, gas_limit=CALL_GAS_BASE + 200_000)

    def recall(self, product_key: str, batch_no: str, reason: str) -> ReceiptResult:
        """Recall a batch (all packaging levels of the drug). By the product's MAH or the drug regulator.

        Raises: IdentifierError, ExecutionError (``unknown batch``, ``hold already set``, wrong role).
        """
        return self._hold("recall", product_key, batch_no, reason)

    def freeze(self, product_key: str, batch_no: str, reason: str) -> ReceiptResult:
        """Freeze a batch: nothing but receipts moves until it is lifted. A drug regulator's freeze is lifted
        only by a drug regulator; the product's MAH puts its own batch on a voluntary hold.
        Raises as ``recall``."""
        return self._hold("freeze", product_key, batch_no, reason)

    def unfreeze(self, product_key: str, batch_no: str, reason: str) -> ReceiptResult:
        """Lift the signer's kind of freeze: a drug regulator's freeze (by a regulator) or the MAH's voluntary
        hold (by the product's MAH; ``only a regulator lifts its freeze`` when a regulator froze it).
        Raises as ``recall``."""
        return self._hold("unfreeze", product_key, batch_no, reason)

    # --- reads by code text ------------------------------------------------------------------------------
    def code_state(self, code: str) -> CodeState:
        """Return a code's state (validated first). Raises: IdentifierError."""
        return self.get_code(parse_trace_code(code).code_id)

    def code_history(self, code: str) -> list[DrugEvent]:
        """Return a code's full history, with its parents' events while packed. Raises: IdentifierError."""
        return self.history(parse_trace_code(code).code_id)

    def product(self, product_key: str) -> Product | None:
        """Return a registered product by its 药品标识码 / GTIN, or None. Raises: IdentifierError."""
        return self.get_product(compute_product_id(product_key))

    def batch(self, product_key: str, batch_no: str) -> BatchState:
        """Return a batch's state by product key and batch number. Raises: IdentifierError."""
        return self.get_batch(compute_product_id(product_key), validate_batch_no(batch_no))
