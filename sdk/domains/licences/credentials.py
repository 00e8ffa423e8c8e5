"""What a holder keeps and shows off chain: the credential file that opens the holder commitment, and the
holder-signed consent to one use of a licence."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

from sdk.crypto import PrivateKey
from sdk.domains.licences.encoders import (
    HOLDER_SALT_BYTES,
    NONCE_BYTES,
    compute_consent_message,
    compute_holder_commitment,
    compute_licence_hash,
    compute_purpose_hash,
    to_unix_seconds,
)
from sdk.encoding import encode, from_hex, readable_repr, to_hex
from sdk.errors import DomainError, EncodingError
from sdk.proofs.base45 import b45encode
from sdk.system import LICENCE_REGISTRY_ADDRESS

if TYPE_CHECKING:
    pass


CREDENTIAL_FORMAT: Final = "xinlian/licence-credential/1"

#: The holder QR's text: "XLH1:" + base45(RLP [1, id hash, salt, code type, code]) (``holder_qr_text``).
HOLDER_QR_PREFIX: Final = "XLH1:"


# HolderCredential field -> its GB/T 36903 metadata name in the credential file
_CREDENTIAL_LABELS: Final[dict[str, str]] = {
    "licence_name": "证照名称",
    "type_code": "证照类型代码",
    "identifier": "证照标识",
    "issuer_code": "颁发机构代码",
    "issue_date": "颁发日期",
    "valid_from": "有效期起始",
    "valid_until": "有效期截止",
    "jurisdiction": "所属管辖属地编码",
    "holder_name": "持证主体",
    "holder_code": "持证主体代码",
    "holder_code_type": "持证主体代码类型",
}


@readable_repr
@dataclass(frozen=True, slots=True)
class HolderCredential:
    """The holder's credential file: GB/T 36903 metadata, the commitment's salt and the commit location.

    Holds personal data (the holder's name and code): it is the holder's to keep, never sent to the chain.
    """

    licence_name: str  # 证照名称
    type_code: str  # 证照类型代码
    identifier: str  # 证照标识
    issuer_code: str  # 颁发机构代码
    issue_date: str  # 颁发日期 (ISO date, China time)
    valid_from: str  # 有效期起始 (ISO datetime, UTC+8)
    valid_until: str  # 有效期截止 (ISO datetime, or "长期" for no end date)
    jurisdiction: str  # 所属管辖属地编码
    holder_name: str = field(repr=False)  # 持证主体 (personal: never in a repr or log)
    holder_code: str = field(repr=False)  # 持证主体代码
    holder_code_type: str  # 持证主体代码类型
    holder_salt: bytes = field(repr=False)
    document_hash: bytes
    chain_id: int
    registry: bytes
    id_hash: bytes
    holder_commitment: bytes
    holder_key_hash: bytes
    #: the id hash the holder key was derived for (HolderKeys.key_for_credential): this licence's when it
    #: was issued with a key, an earlier version's after a renewal (which keeps the key), else zero
    holder_key_id_hash: bytes = bytes(32)
    tx_hash: bytes = b""
    height: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the credential as JSON-ready data: Chinese metadata keys plus a ``xinlian`` section."""
        values = asdict(self)
        out: dict[str, Any] = {label: values[name] for name, label in _CREDENTIAL_LABELS.items()}
        out["xinlian"] = {
            "format": CREDENTIAL_FORMAT,
            "holder_salt": to_hex(self.holder_salt),
            "document_hash": to_hex(self.document_hash),
            "chain_id": self.chain_id,
            "registry": to_hex(self.registry),
            "id_hash": to_hex(self.id_hash),
            "holder_commitment": to_hex(self.holder_commitment),
            "holder_key_hash": to_hex(self.holder_key_hash),
            "holder_key_id_hash": to_hex(self.holder_key_id_hash),
            "tx_hash": to_hex(self.tx_hash),
            "height": self.height,
        }
        return out

    def holder_opening(self) -> bytes:
        """Return what opens the holder commitment, for a verifier: RLP [1, id hash, salt, code type, code].

        No key is in it. It holds the holder code: given only to whoever the holder shows her licence to."""
        return encode(
            [1, self.id_hash, self.holder_salt, self.holder_code_type.encode(), self.holder_code.encode()]
        )

    def holder_qr_text(self) -> str:
        """Return the holder QR text ``XLH1:<base45(holder_opening)>`` (QR alphanumeric mode): scanned on
        /verify after the licence is verified, it checks the holder code against the licence's commitment."""
        return HOLDER_QR_PREFIX + b45encode(self.holder_opening())

    def verify_link(self, base_url: str) -> str:
        """Return ``{base}/verify#licence=0x<id hash>&h=<base64url(holder_opening)>``: one QR code a phone
        opens; the page fetches the licence's proof, verifies it and checks the holder in the browser (the
        fragment never reaches the server)."""
        opening = base64.urlsafe_b64encode(self.holder_opening()).rstrip(b"=").decode()
        return f"{base_url.rstrip('/')}/verify#licence={to_hex(self.id_hash)}&h={opening}"

    def to_json(self) -> str:
        """Return the credential file's text (UTF-8 JSON, Chinese keys kept readable)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> HolderCredential:
        """Parse a credential file and check it: identifier, holder code and the commitment's opening.

        Raises EncodingError for malformed JSON or fields, IdentifierError for a bad identifier or code,
        DomainError (``commitment_mismatch``) when salt and holder code do not open the commitment.
        """
        try:
            body = json.loads(text)
            chain = body["xinlian"]
            if chain.get("format") != CREDENTIAL_FORMAT:
                raise EncodingError("not a Xinlian licence credential", code="bad_encoding")
            fields = {name: str(body[label]) for name, label in _CREDENTIAL_LABELS.items()}
            credential = cls(
                **fields,
                holder_salt=from_hex(chain["holder_salt"], "holder_salt", size=HOLDER_SALT_BYTES),
                document_hash=from_hex(chain["document_hash"], "document_hash", size=32),
                chain_id=int(chain["chain_id"]),
                registry=from_hex(chain["registry"], "registry", size=20),
                id_hash=from_hex(chain["id_hash"], "id_hash", size=32),
                holder_commitment=from_hex(chain["holder_commitment"], "holder_commitment", size=32),
                holder_key_hash=from_hex(chain["holder_key_hash"], "holder_key_hash", size=32),
                holder_key_id_hash=from_hex(
                    chain.get("holder_key_id_hash", "0x" + "00" * 32), "holder_key_id_hash", size=32
                ),
                tx_hash=from_hex(chain.get("tx_hash", "0x"), "tx_hash"),
                height=int(chain.get("height", 0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EncodingError(
                f"malformed licence credential: {type(exc).__name__} (contents not echoed)",
                code="bad_encoding",
            ) from exc
        credential.validate()
        return credential

    def validate(self) -> None:
        """Return None when identifier, id hash and commitment are consistent; raise otherwise.

        Raises IdentifierError for a bad identifier or holder code, DomainError (``commitment_mismatch``)
        when the id hash or the salted holder code do not match.
        """
        if compute_licence_hash(self.identifier) != self.id_hash:
            raise DomainError("the credential's id hash is not its identifier's", code="commitment_mismatch")
        commitment = compute_holder_commitment(self.holder_salt, self.holder_code_type, self.holder_code)
        if commitment != self.holder_commitment:
            raise DomainError(
                "the credential's salt and holder code do not open its commitment", code="commitment_mismatch"
            )


@readable_repr
@dataclass(frozen=True, slots=True)
class Consent:
    """A holder's SM2-signed consent to one use of a licence by one account (用证授权)."""

    id_hash: bytes
    user: bytes  # the account that will record the use
    purpose_hash: bytes
    nonce: bytes
    not_after: int  # unix seconds
    holder_public_key: bytes  # 64 bytes x‖y
    signature: bytes  # 64 bytes r‖s
    chain_id: int = 0
    registry: bytes = field(default=LICENCE_REGISTRY_ADDRESS)

    @classmethod
    def create(
        cls,
        holder_key: PrivateKey,
        *,
        chain_id: int,
        id_hash: bytes,
        user: bytes,
        purpose: str | bytes,
        not_after: int | dt.datetime,
        registry: bytes = LICENCE_REGISTRY_ADDRESS,
        nonce: bytes | None = None,
    ) -> Consent:
        """Sign a consent with the holder's key (offline; nothing is sent).

        Takes the holder's private key, the chain id, the licence id hash, the using account, the purpose
        (hashed), the last second it may be used, the registry address and an optional 32-byte nonce.
        Raises EncodingError for a field of the wrong size.
        """
        nonce = secrets.token_bytes(NONCE_BYTES) if nonce is None else nonce
        deadline = to_unix_seconds(not_after)
        purpose_hash = compute_purpose_hash(purpose)
        message = compute_consent_message(
            chain_id=chain_id,
            registry=registry,
            id_hash=id_hash,
            user=user,
            purpose_hash=purpose_hash,
            nonce=nonce,
            not_after=deadline,
        )
        return cls(
            id_hash=id_hash,
            user=user,
            purpose_hash=purpose_hash,
            nonce=nonce,
            not_after=deadline,
            holder_public_key=holder_key.public_key.to_bytes(),
            signature=holder_key.sign(message),
            chain_id=chain_id,
            registry=registry,
        )

    def message(self) -> bytes:
        """Return the signed consent message."""
        return compute_consent_message(
            chain_id=self.chain_id,
            registry=self.registry,
            id_hash=self.id_hash,
            user=self.user,
            purpose_hash=self.purpose_hash,
            nonce=self.nonce,
            not_after=self.not_after,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the consent as JSON-ready data (hex bytes), e.g. to hand it to the using organisation."""
        return {
            "id_hash": to_hex(self.id_hash),
            "user": to_hex(self.user),
            "purpose_hash": to_hex(self.purpose_hash),
            "nonce": to_hex(self.nonce),
            "not_after": self.not_after,
            "holder_public_key": to_hex(self.holder_public_key),
            "signature": to_hex(self.signature),
            "chain_id": self.chain_id,
            "registry": to_hex(self.registry),
        }

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Consent:
        """Parse ``to_dict`` output; raises EncodingError for missing or malformed fields."""
        try:
            return cls(
                id_hash=from_hex(body["id_hash"], "id_hash", size=32),
                user=from_hex(body["user"], "user", size=20),
                purpose_hash=from_hex(body["purpose_hash"], "purpose_hash", size=32),
                nonce=from_hex(body["nonce"], "nonce", size=32),
                not_after=int(body["not_after"]),
                holder_public_key=from_hex(body["holder_public_key"], "holder_public_key", size=64),
                signature=from_hex(body["signature"], "signature", size=64),
                chain_id=int(body["chain_id"]),
                registry=from_hex(body["registry"], "registry", size=20),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EncodingError(
                f"malformed consent: {type(exc).__name__} (contents not echoed)", code="bad_encoding"
            ) from exc
