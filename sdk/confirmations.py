"""Bank confirmation letters (银行函证): typed items, sealed documents, and the BankConfirmation.vy facade."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import re
import secrets
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final

from sdk.calendar import date_of_day, day_of_date
from sdk.client import from_node_hex
from sdk.contracts import Contract, DecodedEvent
from sdk.crypto import PrivateKey, PublicKey, sm3, sm4_gcm_open, sm4_gcm_seal
from sdk.errors import ClientError, CryptoError, DecryptionError, DomainError, EncodingError
from sdk.identifiers import parse_uscc
from sdk.signer import Signer
from sdk.system import BANK_CONFIRMATION_ADDRESS

if TYPE_CHECKING:
    from sdk.client import Client, LogEntry, ReceiptResult

ITEM_COUNT: Final = 14
ALL_ITEMS: Final = frozenset(range(1, ITEM_COUNT + 1))
DIGITAL_ITEMS: Final = frozenset(range(1, 14))  # a digital reply must cover items 1-13 (财会〔2022〕39号)
MAX_DOCUMENT_BYTES: Final = 65_536  # BankConfirmation.MAX_DOCUMENT_BYTES: one sealed document
MAX_REASON_CHARS: Final = 256
REPLY_WORKING_DAYS: Final = 10

_ENVELOPE_MAGIC: Final = b"XLCF"
_ENVELOPE_VERSION: Final = 1
_AAD_TAG: Final = b"xinlian/confirmation/1"
_REQUEST_FORMAT: Final = "xinlian-confirmation-request/1"
_REPLY_FORMAT: Final = "xinlian-confirmation-reply/1"
_ARCHIVE_FORMAT: Final = "xinlian-confirmation-archive/1"
_BASE_GAS: Final = 1_000_000
_GAS_PER_BYTE: Final = 48  # EIP-7623 floor is 40/byte of non-zero calldata; event data adds 8


class LetterStatus(IntEnum):
    """Letter states as BankConfirmation.vy numbers them (OVERDUE and EXPIRED are derived)."""

    AWAITING_CLIENT_AUTH = 1
    SENT = 2
    ACCEPTED = 3
    REJECTED_NONCONFORMING = 4
    REPLIED = 5
    RECEIVED = 6
    RECALLED = 7
    OVERDUE = 8
    EXPIRED = 9


class DocumentKind(IntEnum):
    REQUEST = 1
    REPLY = 2


class RecipientRole(IntEnum):
    """Who a wrapped key is for (informational: any listed key opens the document)."""

    AUDITOR = 1
    BANK = 2
    REGULATOR = 3
    CLIENT = 4


# --- the 14 items (财会〔2020〕12号 format) -------------------------------------------------
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_ACCOUNT = re.compile(r"^[0-9A-Za-z-]{1,40}$")
_MAX_TEXT = 200


def _check_text(cls: str, name: str, value: Any, *, required: bool) -> None:
    if not isinstance(value, str):
        raise DomainError(f"{cls}.{name} must be text", code="invalid_item", field=name)
    if required and not value.strip():
        raise DomainError(f"{cls}.{name} is required", code="invalid_item", field=name)
    if len(value) > _MAX_TEXT:
        raise DomainError(
            f"{cls}.{name} is longer than {_MAX_TEXT} characters", code="invalid_item", field=name
        )


@dataclass(frozen=True, slots=True, repr=False)  # confidential letter contents: no repr
class ConfirmationItem:
    """Base of the 14 item rows. Field metadata ``kind`` drives validation and JSON form; ``label`` is the
    column name of the standard letter."""

    ITEM: ClassVar[int] = 0
    TITLE: ClassVar[str] = ""

    def __post_init__(self) -> None:
        name = type(self).__name__
        for f in dataclasses.fields(self):
            kind = f.metadata.get("kind", "text")
            value = getattr(self, f.name)
            if kind in ("text", "optional"):
                _check_text(name, f.name, value, required=kind == "text")
            elif kind == "account":
                if not isinstance(value, str) or not _ACCOUNT.match(value):
                    raise DomainError(
                        f"{name}.{f.name} must be 1-40 letters, digits or '-'",
                        code="invalid_item",
                        field=f.name,
                    )
            elif kind == "currency":
                if not isinstance(value, str) or not _CURRENCY.match(value):
                    raise DomainError(
                        f"{name}.{f.name} must be an ISO 4217 code such as CNY",
                        code="invalid_item",
                        field=f.name,
                    )
            elif kind in ("amount", "rate", "quantity"):
                if not isinstance(value, Decimal) or not value.is_finite():
                    raise DomainError(
                        f"{name}.{f.name} must be a finite Decimal", code="invalid_item", field=f.name
                    )
                if kind != "amount" and value < 0:
                    raise DomainError(
                        f"{name}.{f.name} cannot be negative", code="invalid_item", field=f.name
                    )
            elif kind in ("date", "optional_date"):
                if value is None and kind == "optional_date":
                    continue
                if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
                    raise DomainError(f"{name}.{f.name} must be a date", code="invalid_item", field=f.name)
            elif kind == "bool" and not isinstance(value, bool):
                raise DomainError(f"{name}.{f.name} must be true or false", code="invalid_item", field=f.name)

    @classmethod
    def columns(cls) -> list[tuple[str, str]]:
        """Return (field name, column label of the standard letter) in column order."""
        return [(f.name, str(f.metadata.get("label", f.name))) for f in dataclasses.fields(cls)]

    def to_json(self) -> dict[str, Any]:
        """Return the row as JSON values: Decimals and dates as strings."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Decimal):
                out[f.name] = str(value)
            elif isinstance(value, dt.date):
                out[f.name] = value.isoformat()
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConfirmationItem:
        """Return a validated row from its JSON form; raises DomainError or EncodingError."""
        values: dict[str, Any] = {}
        try:
            for f in dataclasses.fields(cls):
                raw = data[f.name]
                kind = f.metadata.get("kind", "text")
                if kind in ("amount", "rate", "quantity"):
                    values[f.name] = Decimal(str(raw))
                elif kind in ("date", "optional_date"):
                    values[f.name] = None if raw is None else dt.date.fromisoformat(str(raw))
                else:
                    values[f.name] = raw
        except (KeyError, InvalidOperation, ValueError, TypeError) as exc:
            raise EncodingError(
                f"a row of item {cls.ITEM} does not decode: {type(exc).__name__} (contents not echoed)",
                code="bad_document",
            ) from exc
        return cls(**values)


def _meta(label: str, kind: str = "text") -> dict[str, str]:
    return {"label": label, "kind": kind}


@dataclass(frozen=True, slots=True, repr=False)
class Deposit(ConfirmationItem):
    ITEM: ClassVar[int] = 1
    TITLE: ClassVar[str] = "银行存款"
    account_name: str = field(metadata=_meta("账户名称"))
    account_number: str = field(metadata=_meta("银行账号", "account"))
    currency: str = field(metadata=_meta("币种", "currency"))
    interest_rate: Decimal = field(metadata=_meta("利率", "rate"))
    account_type: str = field(metadata=_meta("账户类型"))
    balance: Decimal = field(metadata=_meta("余额", "amount"))
    cash_pooling: bool = field(metadata=_meta("是否属于资金归集(资金池或其他资金管理)账户", "bool"))
    start_date: dt.date | None = field(default=None, metadata=_meta("起始日期", "optional_date"))
    end_date: dt.date | None = field(default=None, metadata=_meta("终止日期", "optional_date"))
    restrictions: str = field(default="", metadata=_meta("是否存在冻结、担保或其他使用限制", "optional"))
    remarks: str = field(default="", metadata=_meta("备注", "optional"))


@dataclass(frozen=True, slots=True, repr=False)
class Loan(ConfirmationItem):
    ITEM: ClassVar[int] = 2
    TITLE: ClassVar[str] = "银行借款"
    borrower: str = field(metadata=_meta("借款人名称"))
    account_number: str = field(metadata=_meta("银行账号", "account"))
    currency: str = field(metadata=_meta("币种", "currency"))
    balance: Decimal = field(metadata=_meta("余额", "amount"))
    loan_date: dt.date = field(metadata=_meta("借款日期", "date"))
    due_date: dt.date = field(metadata=_meta("到期日期", "date"))
    interest_rate: Decimal = field(metadata=_meta("利率", "rate"))
    collateral_or_guarantor: str = field(default="", metadata=_meta("抵(质)押品/担保人", "optional"))
    remarks: str = field(default="", metadata=_meta("备注", "optional"))


@dataclass(frozen=True, slots=True, repr=False)
class ClosedAccount(ConfirmationItem):
    """Item 3. The published format's columns could not be confirmed; these are the evident minimum: the
    account, its currency and the closing date."""

    ITEM: ClassVar[int] = 3
    TITLE: ClassVar[str] = "自函证基准日起过去一年内注销的账户"
    account_name: str = field(metadata=_meta("账户名称"))
    account_number: str = field(metadata=_meta("银行账号", "account"))
    currency: str = field(metadata=_meta("币种", "currency"))
    closed_date: dt.date = field(metadata=_meta("注销账户日", "date"))
    remarks: str = field(default="", metadata=_meta("备注", "optional"))


@dataclass(frozen=True, slots=True, repr=False)
class EntrustedLoanAsLender(ConfirmationItem):
    ITEM: ClassVar[int] = 4
    TITLE: ClassVar[str] = "委托贷款(作为贷款方)"
    account_name: str = field(metadata=_meta("账户名称"))
    settlement_account: str = field(metadata=_meta("银行结算账号", "account"))
    counterparty: str = field(metadata=_meta("资金借入方"))
    currency: str = field(metadata=_meta("币种", "currency"))
    interest_rate: Decimal = field(metadata=_meta("利率", "rate"))
    balance: Decimal = field(metadata=_meta("余额", "amount"))
    value_date: dt.date = field(metadata=_meta("贷款起息日", "date"))
    due_date: dt.date = field(metadata=_meta("贷款到期日", "date"))
    remarks: str = field(default="", metadata=_meta("备注", "optional"))


@dataclass(frozen=True, slots=True, repr=False)
class EntrustedLoanAsBorrower(ConfirmationItem):
    ITEM: ClassVar[int] = 5
    TITLE: ClassVar[str] = "委托贷款(作为借款方)"
    account_name: str = field(metadata=_meta("账户名称"))
    settlement_account: str = field(metadata=_meta("银行结算账号", "account"))
    counterparty: str = field(metadata=_meta("资金借出方"))
    currency: str = field(metadata=_meta("币种", "currency"))
    interest_rate: Decimal = field(metadata=_meta("利率", "rate"))
    balance: Decimal = field(metadata=_meta("余额", "amount"))
    value_date: dt.date = field(metadata=_meta("贷款起息日", "date"))
    due_date: dt.date = field(metadata=_meta("贷款到期日", "date"))
    remarks: str = field(default="", metadata=_meta("备注", "optional"))


@dataclass(frozen=True, slots=True, repr=False)
class Guarantee(ConfirmationItem):
    ITEM: ClassVar[int] = 6
    TITLE: ClassVar[str] = "担保"
    guaranteed_party: str = field(metadata=_meta("被担保人"))
    guarantee_type: str = field(metadata=_meta("担保方式"))
    currency: str = field(metadata=_meta("币种", "currency"))
    balance: Decimal = field(metadata=_meta("担保余额", "amount"))
    due_date: dt.date = field(metadata=_meta("担保到期日", "date"))
    contract_number: str = field(metadata=_meta("担保合同编号"))
    remarks: str = field(default="", metadata=_meta("备注", "optional"))


@dataclass(frozen=True, slots=True, repr=False)
class BankAcceptanceBill(ConfirmationItem):
    ITEM: ClassVar[int] = 7
    TITLE: ClassVar[str] = "本公司为出票人且由贵行承兑而尚未支付的银行承兑汇票"
    bill_number: str = field(metadata=_meta("银行承兑汇票号码", "account"))
    settlement_account: str = field(metadata=_meta("结算账号", "account"))
    currency: str = field(metadata=_meta("币种", "currency"))
    face_amount: Decimal = field(metadata=_meta("票面金额", "amount"))
    issue_date: dt.date = field(metadata=_meta("出票日", "date"))
    due_date: dt.date = field(metadata=_meta("到期日", "date"))
    collateral: str = field(default="", metadata=_meta("抵(质)押品", "optional"))


@dataclass(frozen=True, slots=True, repr=False)
class DiscountedBill(ConfirmationItem):
    ITEM: ClassVar[int] = 8
    TITLE: ClassVar[str] = "本公司向贵行已贴现而尚未到期的商业汇票"
    bill_number: str = field(metadata=_meta("商业汇票号码", "account"))
    acceptor: str = field(metadata=_meta("承兑人名称"))
    currency: str = field(metadata=_meta("币种", "currency"))
    face_amount: Decimal = field(metadata=_meta("票面金额", "amount"))
    issue_date: dt.date = field(metadata=_meta("出票日", "date"))
    due_date: dt.date = field(metadata=_meta("到期日", "date"))
    discount_date: dt.date = field(metadata=_meta("贴现日", "date"))
    discount_rate: Decimal = field(metadata=_meta("贴现率", "rate"))
    net_amount: Decimal = field(metadata=_meta("贴现净额", "amount"))


@dataclass(frozen=True, slots=True, repr=False)
class CollectionBill(ConfirmationItem):
    ITEM: ClassVar[int] = 9
    TITLE: ClassVar[str] = "本公司为持票人且由贵行托收的商业汇票"
    bill_number: str = field(metadata=_meta("商业汇票号码", "account"))
    acceptor: str = field(metadata=_meta("承兑人名称"))
    currency: str = field(metadata=_meta("币种", "currency"))
    face_amount: Decimal = field(metadata=_meta("票面金额", "amount"))
    issue_date: dt.date = field(metadata=_meta("出票日", "date"))
    due_date: dt.date = field(metadata=_meta("到期日", "date"))


@dataclass(frozen=True, slots=True, repr=False)
class LetterOfCredit(ConfirmationItem):
    ITEM: ClassVar[int] = 10
    TITLE: ClassVar[str] = "本公司为申请人、由贵行开具的、未履行完毕的不可撤销信用证"
    credit_number: str = field(metadata=_meta("信用证号码", "account"))
    beneficiary: str = field(metadata=_meta("受益人"))
    currency: str = field(metadata=_meta("币种", "currency"))
    amount: Decimal = field(metadata=_meta("信用证金额", "amount"))
    due_date: dt.date = field(metadata=_meta("到期日", "date"))
    unused_amount: Decimal = field(metadata=_meta("未使用金额", "amount"))


@dataclass(frozen=True, slots=True, repr=False)
class FxContract(ConfirmationItem):
    ITEM: ClassVar[int] = 11
    TITLE: ClassVar[str] = "本公司与贵行之间未履行完毕的外汇买卖合约"
    category: str = field(metadata=_meta("类别"))
    contract_number: str = field(metadata=_meta("合约号码", "account"))
    sell_currency: str = field(metadata=_meta("贵行卖出币种", "currency"))
    buy_currency: str = field(metadata=_meta("贵行买入币种", "currency"))
    outstanding_amount: Decimal = field(metadata=_meta("未履行的合约买卖金额", "amount"))
    exchange_rate: Decimal = field(metadata=_meta("汇率", "rate"))
    settlement_date: dt.date = field(metadata=_meta("交收日期", "date"))


@dataclass(frozen=True, slots=True, repr=False)
class CustodySecurity(ConfirmationItem):
    ITEM: ClassVar[int] = 12
    TITLE: ClassVar[str] = "本公司存放于贵行托管的证券或其他产权文件"
    name: str = field(metadata=_meta("证券或其他产权文件名称"))
    code: str = field(metadata=_meta("证券代码或产权文件编号"))
    quantity: Decimal = field(metadata=_meta("数量", "quantity"))
    currency: str = field(metadata=_meta("币种", "currency"))
    amount: Decimal = field(metadata=_meta("金额", "amount"))


@dataclass(frozen=True, slots=True, repr=False)
class WealthProduct(ConfirmationItem):
    ITEM: ClassVar[int] = 13
    TITLE: ClassVar[str] = "本公司购买的由贵行发行的未到期银行理财产品"
    name: str = field(metadata=_meta("产品名称"))
    product_type: str = field(metadata=_meta("产品类型(封闭式/开放式)"))
    currency: str = field(metadata=_meta("币种", "currency"))
    units: Decimal = field(metadata=_meta("持有份额", "quantity"))
    net_value: Decimal = field(metadata=_meta("产品净值", "amount"))
    purchase_date: dt.date = field(metadata=_meta("购买日", "date"))
    due_date: dt.date | None = field(default=None, metadata=_meta("到期日", "optional_date"))
    restrictions: str = field(default="", metadata=_meta("是否被用于担保或存在其他使用限制", "optional"))

    def __post_init__(self) -> None:
        ConfirmationItem.__post_init__(self)
        if self.product_type not in ("封闭式", "开放式"):
            raise DomainError("WealthProduct.product_type is 封闭式 or 开放式", code="invalid_item")


@dataclass(frozen=True, slots=True, repr=False)
class OtherItem(ConfirmationItem):
    ITEM: ClassVar[int] = 14
    TITLE: ClassVar[str] = "其他"
    description: str = field(metadata=_meta("其他事项"))


ITEM_TYPES: Final[dict[int, type[ConfirmationItem]]] = {
    cls.ITEM: cls
    for cls in (
        Deposit,
        Loan,
        ClosedAccount,
        EntrustedLoanAsLender,
        EntrustedLoanAsBorrower,
        Guarantee,
        BankAcceptanceBill,
        DiscountedBill,
        CollectionBill,
        LetterOfCredit,
        FxContract,
        CustodySecurity,
        WealthProduct,
        OtherItem,
    )
}


def items_to_mask(items: Iterable[int]) -> int:
    """Return the on-chain bitmask of item numbers (bit i-1 = item i); raises DomainError outside 1-14."""
    mask = 0
    for item in items:
        if item not in ALL_ITEMS:
            raise DomainError(f"item {item} is not one of the 14 items", code="invalid_item", item=item)
        mask |= 1 << (item - 1)
    return mask


def mask_to_items(mask: int) -> frozenset[int]:
    """Return the item numbers of an on-chain bitmask."""
    return frozenset(i for i in ALL_ITEMS if mask >> (i - 1) & 1)


def _rows_json(rows: Mapping[int, Sequence[ConfirmationItem]]) -> dict[str, list[dict[str, Any]]]:
    return {str(i): [r.to_json() for r in rows[i]] for i in sorted(rows)}


def _rows_from_json(data: Any) -> dict[int, tuple[ConfirmationItem, ...]]:
    if not isinstance(data, dict):
        raise EncodingError("item rows must be an object", code="bad_document")
    out: dict[int, tuple[ConfirmationItem, ...]] = {}
    for key, rows in data.items():
        cls = ITEM_TYPES.get(int(key)) if str(key).isdigit() else None
        if cls is None or not isinstance(rows, list):
            raise EncodingError(f"unknown item {key!r}", code="bad_document")
        out[cls.ITEM] = tuple(cls.from_json(r) for r in rows)
    return out


def _check_rows(rows: Mapping[int, Sequence[ConfirmationItem]], allowed: frozenset[int]) -> None:
    for item, entries in rows.items():
        if item not in allowed:
            raise DomainError(f"rows given for item {item}, which is not requested", code="invalid_item")
        for row in entries:
            if not isinstance(row, ConfirmationItem) or item != row.ITEM:
                raise DomainError(
                    f"a row under item {item} is not a {ITEM_TYPES[item].__name__}", code="invalid_item"
                )


# --- documents ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, repr=False)  # confidential letter contents: no repr
class LetterRequest:
    """What an audit firm asks a bank to confirm. ``rows`` (格式一) are the auditor's figures per item;
    for 格式二 the bank fills them and ``rows`` is usually empty. ``items`` defaults to all 14 (the standard
    letter lists every item; items without business are answered 无)."""

    client_org: str
    bank_org: str
    base_date: dt.date
    letter_format: int = 1
    rows: Mapping[int, Sequence[ConfirmationItem]] = field(default_factory=dict)
    items: frozenset[int] = ALL_ITEMS
    client_name: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "client_org", parse_uscc(self.client_org).code)
        object.__setattr__(self, "bank_org", parse_uscc(self.bank_org).code)
        object.__setattr__(self, "rows", {int(k): tuple(v) for k, v in self.rows.items()})
        object.__setattr__(self, "items", frozenset(self.items))
        if self.letter_format not in (1, 2):
            raise DomainError("letter_format is 1 (格式一) or 2 (格式二)", code="invalid_letter")
        if not isinstance(self.base_date, dt.date) or isinstance(self.base_date, dt.datetime):
            raise DomainError("base_date must be one date (函证基准日)", code="invalid_letter")
        if not self.items:
            raise DomainError("a letter asks about at least one item", code="invalid_letter")
        items_to_mask(self.items)
        if self.client_org == self.bank_org:
            raise DomainError("the bank cannot be the audited company", code="invalid_letter")
        _check_rows(self.rows, self.items)
        _check_text("LetterRequest", "client_name", self.client_name, required=False)
        if len(self.notes) > 2000:
            raise DomainError("notes are longer than 2000 characters", code="invalid_letter")

    def to_json(self, letter_id: bytes) -> dict[str, Any]:
        return {
            "format": _REQUEST_FORMAT,
            "letter_id": "0x" + letter_id.hex(),
            "client_org": self.client_org,
            "client_name": self.client_name,
            "bank_org": self.bank_org,
            "base_date": self.base_date.isoformat(),
            "letter_format": self.letter_format,
            "items": sorted(self.items),
            "rows": _rows_json(self.rows),
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LetterRequest:
        """Return the request from its document JSON; raises EncodingError or DomainError."""
        if data.get("format") != _REQUEST_FORMAT:
            raise EncodingError("not a confirmation request document", code="bad_document")
        try:
            return cls(
                client_org=str(data["client_org"]),
                bank_org=str(data["bank_org"]),
                base_date=dt.date.fromisoformat(str(data["base_date"])),
                letter_format=int(data["letter_format"]),
                rows=_rows_from_json(data["rows"]),
                items=frozenset(int(i) for i in data["items"]),
                client_name=str(data.get("client_name", "")),
                notes=str(data.get("notes", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EncodingError(
                f"request document does not decode: {type(exc).__name__} (contents not echoed)",
                code="bad_document",
            ) from exc


@dataclass(frozen=True, slots=True, repr=False)  # confidential letter contents: no repr
class ItemReply:
    """The bank's answer to one item: ``match`` (相符) or ``exception`` (不符, with the bank's figures)."""

    outcome: str
    rows: tuple[ConfirmationItem, ...] = ()
    note: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in ("match", "exception"):
            raise DomainError("an item's outcome is 'match' or 'exception'", code="invalid_reply")
        _check_text("ItemReply", "note", self.note, required=False)


@dataclass(frozen=True, slots=True, repr=False)  # confidential letter contents: no repr
class LetterReply:
    """A bank's reply: one ItemReply per item it covers digitally. Requested items 1–13 not covered need a
    paper supplement."""

    answers: Mapping[int, ItemReply]
    completeness_statement: str = "除上述列示的项目外,本行并无其他相关事项。"
    bank_reference: str = ""

    def __post_init__(self) -> None:
        items_to_mask(self.answers)
        for item, answer in self.answers.items():
            _check_rows({item: answer.rows}, ALL_ITEMS)

    @property
    def covered_items(self) -> frozenset[int]:
        return frozenset(self.answers)

    @property
    def exception_items(self) -> frozenset[int]:
        return frozenset(i for i, a in self.answers.items() if a.outcome == "exception")

    def to_json(self, letter_id: bytes) -> dict[str, Any]:
        return {
            "format": _REPLY_FORMAT,
            "letter_id": "0x" + letter_id.hex(),
            "answers": {
                str(i): {
                    "outcome": a.outcome,
                    "rows": [r.to_json() for r in a.rows],
                    "note": a.note,
                }
                for i, a in sorted(self.answers.items())
            },
            "completeness_statement": self.completeness_statement,
            "bank_reference": self.bank_reference,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LetterReply:
        """Return the reply from its document JSON; raises EncodingError or DomainError."""
        if data.get("format") != _REPLY_FORMAT:
            raise EncodingError("not a confirmation reply document", code="bad_document")
        try:
            answers: dict[int, ItemReply] = {}
            for key, raw in dict(data["answers"]).items():
                rows = _rows_from_json({key: raw["rows"]}).get(int(key), ())
                answers[int(key)] = ItemReply(outcome=str(raw["outcome"]), rows=rows, note=str(raw["note"]))
            return cls(
                answers=answers,
                completeness_statement=str(data["completeness_statement"]),
                bank_reference=str(data.get("bank_reference", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EncodingError(
                f"reply document does not decode: {type(exc).__name__} (contents not echoed)",
                code="bad_document",
            ) from exc


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- the sealed envelope ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Recipient:
    """A reader of a sealed document: its role and SM2 public key."""

    role: RecipientRole
    public_key: PublicKey

    @property
    def address(self) -> bytes:
        return self.public_key.address


@dataclass(frozen=True, slots=True)
class SealedDocument:
    """A parsed envelope: header (kind, recipients with wrapped keys) and the SM4-GCM body."""

    kind: DocumentKind
    wrapped_keys: tuple[tuple[RecipientRole, bytes, bytes], ...]  # (role, address, SM2 C1C3C2 of the key)
    body: bytes  # nonce ‖ ciphertext ‖ tag
    header: bytes  # the bytes before the body (authenticated as AAD)

    @property
    def recipients(self) -> list[bytes]:
        return [address for _, address, _ in self.wrapped_keys]


def compute_document_aad(chain_id: int, contract: bytes, letter_id: bytes, header: bytes) -> bytes:
    """Return the SM4-GCM associated data: tag ‖ chain id ‖ contract ‖ letter id ‖ envelope header.

    Binding these means a document cannot be replayed into another letter, contract or chain, and its
    recipient list cannot be altered without the tag failing.
    """
    return _AAD_TAG + chain_id.to_bytes(8, "big") + contract + letter_id + header


def seal_document(
    plaintext: bytes,
    *,
    kind: DocumentKind,
    recipients: Sequence[Recipient],
    chain_id: int,
    contract: bytes,
    letter_id: bytes,
) -> bytes:
    """Encrypt ``plaintext`` under a fresh SM4 key and wrap that key with SM2 for every recipient.

    Returns the envelope: ``"XLCF" ‖ version ‖ kind ‖ n ‖ n × (role ‖ address(20) ‖ len(2) ‖ C1C3C2)``
    followed by ``nonce ‖ SM4-GCM ciphertext ‖ tag``. Raises DomainError with no recipients or more than 16,
    or when the envelope exceeds MAX_DOCUMENT_BYTES.
    """
    if not 1 <= len(recipients) <= 16:
        raise DomainError("a sealed document has 1 to 16 recipients", code="invalid_recipients")
    key = secrets.token_bytes(16)
    header = bytearray(_ENVELOPE_MAGIC + bytes([_ENVELOPE_VERSION, int(kind), len(recipients)]))
    for r in recipients:
        wrapped = r.public_key.encrypt(key)
        header += bytes([int(r.role)]) + r.address + len(wrapped).to_bytes(2, "big") + wrapped
    aad = compute_document_aad(chain_id, contract, letter_id, bytes(header))
    sealed = bytes(header) + sm4_gcm_seal(key, plaintext, aad)
    if len(sealed) > MAX_DOCUMENT_BYTES:
        raise DomainError(
            f"the sealed document is {len(sealed)} bytes; the ledger takes at most {MAX_DOCUMENT_BYTES}",
            code="document_too_large",
            size=len(sealed),
        )
    return sealed


def parse_sealed_document(sealed: bytes) -> SealedDocument:
    """Split an envelope into header fields and body; raises EncodingError when it is malformed."""
    try:
        if sealed[:4] != _ENVELOPE_MAGIC or sealed[4] != _ENVELOPE_VERSION:
            raise EncodingError("not a version-1 Xinlian sealed document", code="bad_document")
        kind = DocumentKind(sealed[5])
        count, offset = sealed[6], 7
        keys: list[tuple[RecipientRole, bytes, bytes]] = []
        for _ in range(count):
            role = RecipientRole(sealed[offset])
            address = sealed[offset + 1 : offset + 21]
            size = int.from_bytes(sealed[offset + 21 : offset + 23], "big")
            wrapped = sealed[offset + 23 : offset + 23 + size]
            if len(address) != 20 or len(wrapped) != size:
                raise EncodingError("truncated sealed document header", code="bad_document")
            keys.append((role, address, wrapped))
            offset += 23 + size
    except (IndexError, ValueError) as exc:
        raise EncodingError("malformed sealed document", code="bad_document") from exc
    return SealedDocument(kind=kind, wrapped_keys=tuple(keys), body=sealed[offset:], header=sealed[:offset])


def open_document(
    sealed: bytes, private_key: PrivateKey, *, chain_id: int, contract: bytes, letter_id: bytes
) -> bytes:
    """Return the plaintext of an envelope for the holder of ``private_key``.

    Raises DecryptionError when the key is not a recipient or any bound field (letter, contract, chain,
    header) differs; EncodingError for a malformed envelope.
    """
    doc = parse_sealed_document(sealed)
    mine = private_key.public_key.address
    aad = compute_document_aad(chain_id, contract, letter_id, doc.header)
    for _, address, wrapped in doc.wrapped_keys:
        if address != mine:
            continue
        key = private_key.decrypt(wrapped)
        if len(key) != 16:
            raise DecryptionError("the wrapped key is not an SM4 key")
        return sm4_gcm_open(key, doc.body, aad)
    raise DecryptionError("this key is not a recipient of the document", code="not_a_recipient")


# --- on-chain state -------------------------------------------------------------------------------------
def validate_auditor_key(state: LetterState, key: PublicKey) -> None:
    """Return None when ``key`` is the key of the account ``state`` records as the letter's auditor.

    Raises DomainError ``auditor_key_mismatch`` otherwise: a reply sealed to any other key would let its
    holder read the bank's answer.
    """
    if key.address != state.auditor:
        raise DomainError(
            "the key is not the letter's auditor's (the account that created it)",
            code="auditor_key_mismatch",
            auditor="0x" + state.auditor.hex(),
        )


@dataclass(frozen=True, slots=True)
class LetterState:
    """A letter as BankConfirmation.vy records it, with the status derived at ``as_of``."""

    letter_id: bytes
    status: LetterStatus
    stored_status: LetterStatus
    as_of: int  # unix seconds the status was evaluated at
    auditor: bytes
    auditor_org: str
    client_org: str
    bank_org: str
    base_date: dt.date
    items: frozenset[int]
    letter_format: int
    request_hash: bytes
    created_at: int
    authorised_by: bytes | None
    authorised_at: int
    bank_account: bytes | None
    accepted_at: int
    due_date: dt.date | None
    deadline: int  # unix seconds at which the reply is overdue, 0 before acceptance
    reply_hash: bytes | None
    replied_at: int
    covered_items: frozenset[int]
    exception_items: frozenset[int]
    paper_supplement: bool
    replied_late: bool
    received_at: int
    closed_at: int

    @property
    def is_overdue(self) -> bool:
        return self.status == LetterStatus.OVERDUE

    def to_json(self) -> dict[str, Any]:
        """JSON form (hex bytes, ISO dates, status names)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, LetterStatus):
                out[f.name] = value.name
            elif isinstance(value, bytes):
                out[f.name] = "0x" + value.hex()
            elif isinstance(value, dt.date):
                out[f.name] = value.isoformat()
            elif isinstance(value, frozenset):
                out[f.name] = sorted(value)
            else:
                out[f.name] = value
        return out


def letter_state_from_row(
    letter_id: bytes, row: Mapping[str, Any], *, status: int, due_day: int, deadline: int, as_of: int
) -> LetterState:
    """Build a LetterState from ``get_letter`` output plus ``status_at``/``due_day_of``/``deadline_of``.

    Raises DomainError (``no_such_letter``) when the row is empty (status 0).
    """
    if not row["status"] or not status:
        raise DomainError("no such letter", code="no_such_letter", letter_id="0x" + letter_id.hex())
    zero = bytes(20)
    return LetterState(
        letter_id=letter_id,
        status=LetterStatus(status),
        stored_status=LetterStatus(row["status"]),
        as_of=as_of,
        auditor=row["auditor"],
        auditor_org=row["auditor_org"],
        client_org=row["client_org"],
        bank_org=row["bank_org"],
        base_date=date_of_day(int(row["base_date"])),
        items=mask_to_items(int(row["items"])),
        letter_format=int(row["letter_format"]),
        request_hash=bytes(row["request_hash"]),
        created_at=int(row["created_at"]),
        authorised_by=row["authorised_by"] if row["authorised_by"] != zero else None,
        authorised_at=int(row["authorised_at"]),
        bank_account=row["bank_account"] if row["bank_account"] != zero else None,
        accepted_at=int(row["accepted_at"]),
        due_date=date_of_day(due_day) if due_day else None,
        deadline=deadline,
        reply_hash=bytes(row["reply_hash"]) if any(row["reply_hash"]) else None,
        replied_at=int(row["replied_at"]),
        covered_items=mask_to_items(int(row["covered_items"])),
        exception_items=mask_to_items(int(row["exception_items"])),
        paper_supplement=bool(row["paper_supplement"]),
        replied_late=bool(row["replied_late"]),
        received_at=int(row["received_at"]),
        closed_at=int(row["closed_at"]),
    )


def letter_state_from_json(data: Mapping[str, Any]) -> LetterState:
    """Parse the API's LetterPublic JSON into a LetterState; raises ClientError when malformed."""
    try:
        due = data.get("due_date")
        return LetterState(
            letter_id=from_node_hex(data["letter_id"]),
            status=LetterStatus[data["status"]],
            stored_status=LetterStatus[data["stored_status"]],
            as_of=int(data["as_of"]),
            auditor=from_node_hex(data["auditor"]),
            auditor_org=str(data["auditor_org"]),
            client_org=str(data["client_org"]),
            bank_org=str(data["bank_org"]),
            base_date=dt.date.fromisoformat(data["base_date"]),
            items=frozenset(int(i) for i in data["items"]),
            letter_format=int(data["letter_format"]),
            request_hash=from_node_hex(data["request_hash"]),
            created_at=int(data["created_at"]),
            authorised_by=from_node_hex(data["authorised_by"]) if data.get("authorised_by") else None,
            authorised_at=int(data["authorised_at"]),
            bank_account=from_node_hex(data["bank_account"]) if data.get("bank_account") else None,
            accepted_at=int(data["accepted_at"]),
            due_date=dt.date.fromisoformat(due) if due else None,
            deadline=int(data["deadline"]),
            reply_hash=from_node_hex(data["reply_hash"]) if data.get("reply_hash") else None,
            replied_at=int(data["replied_at"]),
            covered_items=frozenset(int(i) for i in data["covered_items"]),
            exception_items=frozenset(int(i) for i in data["exception_items"]),
            paper_supplement=bool(data["paper_supplement"]),
            replied_late=bool(data["replied_late"]),
            received_at=int(data["received_at"]),
            closed_at=int(data["closed_at"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ClientError("the node's letter is malformed", code="bad_response") from exc


# --- results ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LetterEvent:
    """One committed event of a letter and where it is."""

    name: str
    args: dict[str, Any]
    height: int
    tx_hash: bytes
    log_index: int


@dataclass(frozen=True, slots=True)
class LetterCreated:
    letter_id: bytes
    request_hash: bytes
    sealed_request: bytes
    receipt: ReceiptResult


@dataclass(frozen=True, slots=True)
class LetterAccepted:
    letter_id: bytes
    due_date: dt.date
    deadline: int  # unix seconds
    receipt: ReceiptResult


@dataclass(frozen=True, slots=True)
class LetterReplied:
    letter_id: bytes
    reply_hash: bytes
    sealed_reply: bytes
    paper_supplement: bool
    late: bool
    receipt: ReceiptResult


@dataclass(frozen=True, slots=True)
class LetterTransition:
    """The receipt of authorise / reject / confirm_receipt / recall and the event it emitted."""

    letter_id: bytes
    event: str
    receipt: ReceiptResult


# --- the facade --------------------------------------------------------------------------------
class Confirmations:
    """Bank confirmation letters through a node: signed writes with ``signer``, reads, sealed documents.

    Writes wait for the commit and raise ExecutionError with the contract's reason on a revert. Documents
    are sealed for their recipients before they leave this process; nothing decrypted is logged.
    """

    def __init__(self, client: Client, signer: Signer | None = None, *, address: bytes | None = None) -> None:
        self.client = client
        self.signer = signer
        self.address = address or BANK_CONFIRMATION_ADDRESS
        self.contract = Contract("BankConfirmation")

    def with_signer(self, signer: Signer) -> Confirmations:
        """Return a facade that signs writes with ``signer``."""
        return Confirmations(self.client, signer, address=self.address)

    # --- plumbing ---------------------------------------------------------------------------------------
    @property
    def chain_id(self) -> int:
        return self.client.chain_info(refresh=False).chain_id

    def _signer(self) -> Signer:
        if self.signer is None:
            raise ClientError(
                "this Confirmations facade has no signer; use with_signer(signer)", code="no_signer"
            )
        return self.signer

    def _send(self, function: str, *args: Any) -> ReceiptResult:
        data = self.contract.encode_call(function, list(args))
        info = self.client.chain_info(refresh=False)
        gas = min(info.tx_gas_limit, _BASE_GAS + _GAS_PER_BYTE * len(data))
        return self.client.send(self._signer(), self.address, data, gas_limit=gas, check=True)

    def _read(self, function: str, *args: Any) -> Any:
        out = self.client.call(self.address, self.contract.encode_call(function, list(args)))
        return self.contract.decode_output(function, out)

    def _events(self, receipt: ReceiptResult) -> list[DecodedEvent]:
        return [
            e
            for log in receipt.logs
            if log.address == self.address
            if (e := self.contract.try_decode_log(log))
        ]

    def _transition(self, function: str, letter_id: bytes, *args: Any) -> LetterTransition:
        receipt = self._send(function, _letter_id(letter_id), *args)
        events = self._events(receipt)
        if not events:
            raise ClientError("the receipt carries no letter event", code="bad_response")
        return LetterTransition(letter_id=letter_id, event=events[0].name, receipt=receipt)

    # --- writes -----------------------------------------------------------------------------------------
    def create(
        self,
        request: LetterRequest,
        *,
        bank_keys: Sequence[PublicKey],
        regulator_key: PublicKey | None = None,
        client_key: PublicKey | None = None,
        letter_id: bytes | None = None,
    ) -> LetterCreated:
        """Seal ``request`` for the auditor (this signer), the bank's keys and optional readers, and create
        the letter (it then awaits the audited company's authorisation).

        Returns the letter id (random unless given), the SM3 hash of the sealed request and the receipt.
        Raises DomainError (bad request, no bank key, document too large), ExecutionError (refused).
        """
        signer = self._signer()
        if not bank_keys:
            raise DomainError("seal the request for at least one bank key", code="invalid_recipients")
        letter_id = letter_id or secrets.token_bytes(32)
        recipients = [Recipient(RecipientRole.AUDITOR, signer.private_key.public_key)]
        recipients += [Recipient(RecipientRole.BANK, k) for k in bank_keys]
        if regulator_key is not None:
            recipients.append(Recipient(RecipientRole.REGULATOR, regulator_key))
        if client_key is not None:
            recipients.append(Recipient(RecipientRole.CLIENT, client_key))
        sealed = seal_document(
            _canonical_json(request.to_json(letter_id)),
            kind=DocumentKind.REQUEST,
            recipients=recipients,
            chain_id=self.chain_id,
            contract=self.address,
            letter_id=letter_id,
        )
        request_hash = sm3(sealed)
        receipt = self._send(
            "create",
            letter_id,
            request.client_org,
            request.bank_org,
            day_of_date(request.base_date),
            items_to_mask(request.items),
            request.letter_format,
            request_hash,
            sealed,
        )
        return LetterCreated(
            letter_id=letter_id, request_hash=request_hash, sealed_request=sealed, receipt=receipt
        )

    def authorise(self, letter_id: bytes) -> LetterTransition:
        """As an account of the audited company, authorise the letter (it is then SENT to the bank)."""
        return self._transition("authorise", letter_id)

    def accept(self, letter_id: bytes) -> LetterAccepted:
        """As the bank, accept a conforming letter; returns the due date computed on chain."""
        receipt = self._send("accept", _letter_id(letter_id))
        event = next(e for e in self._events(receipt) if e.name == "LetterAccepted")
        return LetterAccepted(
            letter_id=letter_id,
            due_date=date_of_day(int(event.args["due_day"])),
            deadline=int(event.args["deadline"]),
            receipt=receipt,
        )

    def reject(self, letter_id: bytes, reason: str) -> LetterTransition:
        """As the bank, refuse a non-conforming letter (不予受理); the reason is public (no client data)."""
        if not reason.strip() or len(reason) > MAX_REASON_CHARS:
            raise DomainError(
                f"a rejection reason is 1 to {MAX_REASON_CHARS} characters", code="invalid_reason"
            )
        return self._transition("reject", letter_id, reason)

    def reply(
        self,
        letter_id: bytes,
        reply: LetterReply,
        *,
        auditor_key: PublicKey | None = None,
        regulator_key: PublicKey | None = None,
    ) -> LetterReplied:
        """As the bank, seal ``reply`` for the auditor, this signer and an optional regulator, and record it.

        The auditor's key is the key that signed the letter's creation (by default read from the chain);
        either way it must be the key of the account the letter records as its auditor, so that no node
        and no caller can get the reply sealed to another key.
        Raises DomainError when the reply covers items the letter did not ask, or ``auditor_key_mismatch``
        when the key is not the letter's auditor's; ExecutionError when refused.
        """
        signer = self._signer()
        state = self.letter(letter_id)
        extra = reply.covered_items - state.items
        if extra:
            raise DomainError(f"the letter does not ask items {sorted(extra)}", code="invalid_reply")
        if auditor_key is None:
            auditor_key = self.creator_key(letter_id, state=state)
        validate_auditor_key(state, auditor_key)
        recipients = [
            Recipient(RecipientRole.AUDITOR, auditor_key),
            Recipient(RecipientRole.BANK, signer.private_key.public_key),
        ]
        if regulator_key is not None:
            recipients.append(Recipient(RecipientRole.REGULATOR, regulator_key))
        sealed = seal_document(
            _canonical_json(reply.to_json(letter_id)),
            kind=DocumentKind.REPLY,
            recipients=recipients,
            chain_id=self.chain_id,
            contract=self.address,
            letter_id=letter_id,
        )
        reply_hash = sm3(sealed)
        receipt = self._send(
            "reply",
            _letter_id(letter_id),
            reply_hash,
            items_to_mask(reply.covered_items),
            items_to_mask(reply.exception_items),
            sealed,
        )
        event = next(e for e in self._events(receipt) if e.name == "LetterReplied")
        return LetterReplied(
            letter_id=letter_id,
            reply_hash=reply_hash,
            sealed_reply=sealed,
            paper_supplement=bool(event.args["paper_supplement"]),
            late=bool(event.args["late"]),
            receipt=receipt,
        )

    def confirm_receipt(self, letter_id: bytes) -> LetterTransition:
        """As the audit firm, record receipt of the bank's reply (REPLIED → RECEIVED)."""
        return self._transition("confirm_receipt", letter_id)

    def recall(self, letter_id: bytes) -> LetterTransition:
        """As the audit firm, withdraw a letter the bank has not started processing."""
        return self._transition("recall", letter_id)

    # --- reads ------------------------------------------------------------------------------------------
    def letter(self, letter_id: bytes, *, as_of: int | None = None) -> LetterState:
        """Return the letter's state with the status as of ``as_of`` (unix seconds; default the head's time).

        Raises DomainError (``no_such_letter``).
        """
        lid = _letter_id(letter_id)
        when = as_of if as_of is not None else self.client.chain_info().head_timestamp_ms // 1000
        row = self._read("get_letter", lid)
        if not row["status"]:
            raise DomainError("no such letter", code="no_such_letter", letter_id="0x" + lid.hex())
        return letter_state_from_row(
            lid,
            row,
            status=int(self._read("status_at", lid, when)),
            due_day=int(self._read("due_day_of", lid)),
            deadline=int(self._read("deadline_of", lid)),
            as_of=when,
        )

    def status_at(self, letter_id: bytes, when: int | dt.datetime) -> LetterStatus:
        """Return the status the letter has at ``when`` (unix seconds or an aware datetime), given what is
        recorded now — e.g. whether it will be OVERDUE if the bank has not replied by then."""
        seconds = int(when.timestamp()) if isinstance(when, dt.datetime) else int(when)
        status = int(self._read("status_at", _letter_id(letter_id), seconds))
        if not status:
            raise DomainError("no such letter", code="no_such_letter")
        return LetterStatus(status)

    def events(self, letter_id: bytes, *, state: LetterState | None = None) -> list[LetterEvent]:
        """Return the letter's committed events in chain order (creation first)."""
        lid = _letter_id(letter_id)
        state = state or self.letter(lid)
        created_topics: list[bytes | None] = [
            self.contract.event_topic("LetterCreated"),
            self.contract.encode_topic("LetterCreated", "auditor_org", state.auditor_org),
            self.contract.encode_topic("LetterCreated", "bank_org", state.bank_org),
            self.contract.encode_topic("LetterCreated", "client_org", state.client_org),
        ]
        found: list[LetterEvent] = []
        for entry in self.client.logs(address=self.address, topics=created_topics):
            event = self._decode(entry)
            if event is not None and event.args["letter_id"] == lid:
                found.append(event)
        for entry in self.client.logs(address=self.address, topics=[None, lid]):
            event = self._decode(entry)
            if event is not None:
                found.append(event)
        found.sort(key=lambda e: (e.height, e.log_index))
        return found

    def _decode(self, entry: LogEntry) -> LetterEvent | None:
        decoded = self.contract.try_decode_log(entry.log)
        if decoded is None:
            return None
        return LetterEvent(
            name=decoded.name,
            args=decoded.args,
            height=entry.height,
            tx_hash=entry.tx_hash,
            log_index=entry.log_index,
        )

    def sealed_documents(self, letter_id: bytes) -> tuple[bytes, bytes | None]:
        """Return the sealed request and (when replied) reply from the chain, each checked against the SM3
        hash the letter records. Raises DomainError (``document_mismatch``) when a hash does not match."""
        state = self.letter(letter_id)
        request: bytes | None = None
        reply: bytes | None = None
        for event in self.events(letter_id, state=state):
            if event.name == "LetterCreated":
                request = bytes(event.args["request"])
            elif event.name == "LetterReplied":
                reply = bytes(event.args["reply"])
        if request is None or sm3(request) != state.request_hash:
            raise DomainError("the request on chain does not match its hash", code="document_mismatch")
        if reply is not None and sm3(reply) != state.reply_hash:
            raise DomainError("the reply on chain does not match its hash", code="document_mismatch")
        return request, reply

    def creator_key(self, letter_id: bytes, *, state: LetterState | None = None) -> PublicKey:
        """Return the SM2 public key that signed the letter's creation (the auditor's key), from the chain.

        The transaction the node returns must be the one the creation event names (same hash), carry a
        valid signature, and its key must be the one of the auditor account the letter records: a node
        that substitutes a key of its own is refused (``auditor_key_mismatch``).
        """
        state = state or self.letter(letter_id)
        created = next((e for e in self.events(letter_id, state=state) if e.name == "LetterCreated"), None)
        if created is None:
            raise DomainError("the letter's creation event is missing", code="no_such_letter")
        tx = self.client.transaction(created.tx_hash).transaction
        if tx is None:
            raise ClientError("the node did not return the creating transaction", code="bad_response")
        if tx.tx_hash != created.tx_hash:
            raise DomainError(
                "the node returned another transaction than the letter's creation",
                code="auditor_key_mismatch",
            )
        try:
            tx.verify_signature()
        except CryptoError as exc:
            raise DomainError(
                "the letter's creating transaction carries no valid signature", code="auditor_key_mismatch"
            ) from exc
        key = PublicKey.from_bytes(tx.public_key)
        validate_auditor_key(state, key)
        return key

    def open_request(self, letter_id: bytes) -> LetterRequest:
        """Decrypt the letter's request with this signer's key. Raises DecryptionError if not a recipient."""
        request, _ = self.sealed_documents(letter_id)
        plain = open_document(
            request,
            self._signer().private_key,
            chain_id=self.chain_id,
            contract=self.address,
            letter_id=letter_id,
        )
        return LetterRequest.from_json(json.loads(plain))

    def open_reply(self, letter_id: bytes) -> LetterReply:
        """Decrypt the bank's reply with this signer's key. Raises DomainError (``no_reply``) before a reply,
        DecryptionError if this key is not a recipient."""
        _, reply = self.sealed_documents(letter_id)
        if reply is None:
            raise DomainError("the bank has not replied yet", code="no_reply")
        plain = open_document(
            reply,
            self._signer().private_key,
            chain_id=self.chain_id,
            contract=self.address,
            letter_id=letter_id,
        )
        return LetterReply.from_json(json.loads(plain))

    # --- member queries (the node checks the signer's organisation) --------------------------------------
    def _listing(self, path: str, as_of: int | None, status: LetterStatus | None) -> list[LetterState]:
        params: dict[str, Any] = {"as_of": as_of, "status": status.name if status else None}
        body = self.client.signed_request(self._signer(), "GET", path, params=params)
        return [letter_state_from_json(x) for x in body["letters"]]

    def as_auditor(
        self, *, as_of: int | None = None, status: LetterStatus | None = None
    ) -> list[LetterState]:
        """Letters this signer's audit firm sent (member-signed query)."""
        return self._listing("/v1/confirmations/as-auditor", as_of, status)

    def as_bank(self, *, as_of: int | None = None, status: LetterStatus | None = None) -> list[LetterState]:
        """Letters addressed to this signer's bank (member-signed query)."""
        return self._listing("/v1/confirmations/as-bank", as_of, status)

    def as_client(self, *, as_of: int | None = None, status: LetterStatus | None = None) -> list[LetterState]:
        """Letters about this signer's company, e.g. awaiting its authorisation (member-signed query)."""
        return self._listing("/v1/confirmations/as-client", as_of, status)

    def due(self, *, as_of: int | None = None, role: str = "bank") -> list[LetterState]:
        """Letters accepted and awaiting a reply (ACCEPTED or OVERDUE at ``as_of``), earliest deadline first,
        for this signer's bank (``role="bank"``) or audit firm (``role="auditor"``)."""
        letters = self.as_bank(as_of=as_of) if role == "bank" else self.as_auditor(as_of=as_of)
        waiting = [x for x in letters if x.status in (LetterStatus.ACCEPTED, LetterStatus.OVERDUE)]
        return sorted(waiting, key=lambda x: x.deadline)

    def overdue(self, *, as_of: int | None = None) -> list[LetterState]:
        """Every letter OVERDUE at ``as_of``, for a finance regulator (AUDIT_ACCREDITOR) or the committee."""
        body = self.client.signed_request(
            self._signer(), "GET", "/v1/confirmations/overdue", params={"as_of": as_of}
        )
        return [letter_state_from_json(x) for x in body["letters"]]

    # --- the audit file -----------------------------------------------------------------------------------
    def export_archive(self, letter_id: bytes, path: str | Path) -> Path:
        """Write a zip for the audit file (审计工作底稿): the letter's state, its events, the sealed request
        and reply, their decrypted contents (when this signer is a recipient), and for every transaction of
        the letter its raw transaction, receipt, block header and commit certificate as served by the node,
        and its proof bundle (Merkle inclusion, quorum seals, validator handovers) for offline verification.

        Returns the path written. Raises ClientError when the node cannot serve a part.
        """
        lid = _letter_id(letter_id)
        state = self.letter(lid)
        events = self.events(lid, state=state)
        request, reply = self.sealed_documents(lid)
        files: dict[str, bytes] = {
            "letter.json": _pretty(state.to_json()),
            "events.json": _pretty([_event_json(e) for e in events]),
            "request.sealed": request,
        }
        if reply is not None:
            files["reply.sealed"] = reply
        if self.signer is not None:
            for name, sealed in (("request.json", request), ("reply.json", reply)):
                if sealed is None:
                    continue
                try:
                    plain = open_document(
                        sealed,
                        self.signer.private_key,
                        chain_id=self.chain_id,
                        contract=self.address,
                        letter_id=lid,
                    )
                except DecryptionError:
                    continue
                files[name] = _pretty(json.loads(plain))
        for event in events:
            name = f"{event.height:012d}-{event.tx_hash.hex()[:16]}.json"
            files[f"proofs/{name}"] = _pretty(self._proof(event))
            # A full proof bundle per transaction: `xinlian verify` checks it offline against the genesis.
            files[f"bundles/{name}"] = _pretty(self.client.proof_bundle(event.tx_hash))
        manifest = {
            "format": _ARCHIVE_FORMAT,
            "letter_id": "0x" + lid.hex(),
            "chain_id": self.chain_id,
            "contract": "0x" + self.address.hex(),
            "status": state.status.name,
            "files": {
                name: {"sm3": sm3(data).hex(), "bytes": len(data)} for name, data in sorted(files.items())
            },
            "note": "bundles/ verify offline with `xinlian verify FILE` against the consortium's genesis",
        }
        target = Path(path)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("manifest.json", _pretty(manifest))
            for name, data in sorted(files.items()):
                archive.writestr(name, data)
        target.write_bytes(buffer.getvalue())
        return target

    def _proof(self, event: LetterEvent) -> dict[str, Any]:
        status = self.client.transaction(event.tx_hash)
        if status.receipt is None or status.transaction is None:
            raise ClientError("the node did not return a committed transaction", code="bad_response")
        block = self.client.block(event.height)
        certificate = self.client.certificate(event.height)
        receipt = status.receipt
        return {
            "event": event.name,
            "height": event.height,
            "tx_hash": "0x" + event.tx_hash.hex(),
            "transaction_raw": "0x" + status.transaction.encode().hex(),
            "receipt": {
                "status": receipt.status,
                "gas_used": receipt.gas_used,
                "index": receipt.index,
                "block_hash": "0x" + receipt.block_hash.hex(),
                "logs": [
                    {
                        "address": "0x" + x.address.hex(),
                        "topics": ["0x" + t.hex() for t in x.topics],
                        "data": "0x" + x.data.hex(),
                    }
                    for x in receipt.logs
                ],
            },
            "block_hash": "0x" + block.block_hash.hex(),
            "header_raw": "0x" + block.header.encode().hex(),
            "certificate_raw": "0x" + certificate.encode().hex(),
        }


def _letter_id(letter_id: bytes) -> bytes:
    if not isinstance(letter_id, bytes) or len(letter_id) != 32:
        raise EncodingError("a letter id is 32 bytes", code="bad_arguments")
    return letter_id


def _pretty(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


def _event_json(event: LetterEvent) -> dict[str, Any]:
    def plain(v: Any) -> Any:
        if isinstance(v, bytes):
            return "0x" + v.hex()
        return v

    return {
        "name": event.name,
        "height": event.height,
        "tx_hash": "0x" + event.tx_hash.hex(),
        "log_index": event.log_index,
        "args": {k: plain(v) for k, v in event.args.items()},
    }


__all__ = [
    "ALL_ITEMS",
    "BANK_CONFIRMATION_ADDRESS",
    "DIGITAL_ITEMS",
    "ITEM_TYPES",
    "BankAcceptanceBill",
    "ClosedAccount",
    "CollectionBill",
    "ConfirmationItem",
    "Confirmations",
    "CustodySecurity",
    "Deposit",
    "DiscountedBill",
    "EntrustedLoanAsBorrower",
    "EntrustedLoanAsLender",
    "FxContract",
    "Guarantee",
    "ItemReply",
    "LetterAccepted",
    "LetterCreated",
    "LetterEvent",
    "LetterOfCredit",
    "LetterReplied",
    "LetterReply",
    "LetterRequest",
    "LetterState",
    "LetterStatus",
    "LetterTransition",
    "Loan",
    "OtherItem",
    "Recipient",
    "RecipientRole",
    "WealthProduct",
    "items_to_mask",
    "mask_to_items",
    "open_document",
    "seal_document",
]
