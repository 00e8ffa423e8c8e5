"""The 14 items of a bank confirmation letter (财会〔2020〕12号 format): typed rows, validation, JSON form
and the on-chain item bitmask."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Final

from sdk.errors import DomainError, EncodingError

ITEM_COUNT: Final = 14


ALL_ITEMS: Final = frozenset(range(1, ITEM_COUNT + 1))


DIGITAL_ITEMS: Final = frozenset(range(1, 14))  # a digital reply must cover items 1-13 (财会〔2022〕39号)


# --- the 14 items (财会〔2020〕12号 format) -------------------------------------------------
_CURRENCY = re.compile(r"^[A-Z]{3}$")


_ACCOUNT = re.compile(r"^[0-9A-Za-z-]{1,40}$")


_MAX_TEXT = 200


def check_text(cls: str, name: str, value: Any, *, required: bool) -> None:
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
                check_text(name, f.name, value, required=kind == "text")
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
class _EntrustedLoan(ConfirmationItem):
    """Items 4 and 5 share their columns; only the counterparty's label says which way the money went."""

    account_name: str = field(metadata=_meta("账户名称"))
    settlement_account: str = field(metadata=_meta("银行结算账号", "account"))
    counterparty: str = field(metadata=_meta("交易对手"))
    currency: str = field(metadata=_meta("币种", "currency"))
    interest_rate: Decimal = field(metadata=_meta("利率", "rate"))
    balance: Decimal = field(metadata=_meta("余额", "amount"))
    value_date: dt.date = field(metadata=_meta("贷款起息日", "date"))
    due_date: dt.date = field(metadata=_meta("贷款到期日", "date"))
    remarks: str = field(default="", metadata=_meta("备注", "optional"))


@dataclass(frozen=True, slots=True, repr=False)
class EntrustedLoanAsLender(_EntrustedLoan):
    ITEM: ClassVar[int] = 4
    TITLE: ClassVar[str] = "委托贷款(作为贷款方)"
    counterparty: str = field(metadata=_meta("资金借入方"))


@dataclass(frozen=True, slots=True, repr=False)
class EntrustedLoanAsBorrower(_EntrustedLoan):
    ITEM: ClassVar[int] = 5
    TITLE: ClassVar[str] = "委托贷款(作为借款方)"
    counterparty: str = field(metadata=_meta("资金借出方"))


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
class _CommercialBill(ConfirmationItem):
    """The columns items 8 and 9 share: the commercial bill itself."""

    bill_number: str = field(metadata=_meta("商业汇票号码", "account"))
    acceptor: str = field(metadata=_meta("承兑人名称"))
    currency: str = field(metadata=_meta("币种", "currency"))
    face_amount: Decimal = field(metadata=_meta("票面金额", "amount"))
    issue_date: dt.date = field(metadata=_meta("出票日", "date"))
    due_date: dt.date = field(metadata=_meta("到期日", "date"))


@dataclass(frozen=True, slots=True, repr=False)
class DiscountedBill(_CommercialBill):
    ITEM: ClassVar[int] = 8
    TITLE: ClassVar[str] = "本公司向贵行已贴现而尚未到期的商业汇票"
    discount_date: dt.date = field(metadata=_meta("贴现日", "date"))
    discount_rate: Decimal = field(metadata=_meta("贴现率", "rate"))
    net_amount: Decimal = field(metadata=_meta("贴现净额", "amount"))


@dataclass(frozen=True, slots=True, repr=False)
class CollectionBill(_CommercialBill):
    ITEM: ClassVar[int] = 9
    TITLE: ClassVar[str] = "本公司为持票人且由贵行托收的商业汇票"


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


def rows_to_json(rows: Mapping[int, Sequence[ConfirmationItem]]) -> dict[str, list[dict[str, Any]]]:
    return {str(i): [r.to_json() for r in rows[i]] for i in sorted(rows)}


def rows_from_json(data: Any) -> dict[int, tuple[ConfirmationItem, ...]]:
    if not isinstance(data, dict):
        raise EncodingError("item rows must be an object", code="bad_document")
    out: dict[int, tuple[ConfirmationItem, ...]] = {}
    for key, rows in data.items():
        cls = ITEM_TYPES.get(int(key)) if str(key).isdigit() else None
        if cls is None or not isinstance(rows, list):
            raise EncodingError(f"unknown item {key!r}", code="bad_document")
        out[cls.ITEM] = tuple(cls.from_json(r) for r in rows)
    return out


def check_rows(rows: Mapping[int, Sequence[ConfirmationItem]], allowed: frozenset[int]) -> None:
    for item, entries in rows.items():
        if item not in allowed:
            raise DomainError(f"rows given for item {item}, which is not requested", code="invalid_item")
        for row in entries:
            if not isinstance(row, ConfirmationItem) or item != row.ITEM:
                raise DomainError(
                    f"a row under item {item} is not a {ITEM_TYPES[item].__name__}", code="invalid_item"
                )
