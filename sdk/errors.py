"""The one error tree of Xinlian: every failure raised by the SDK or the node is a XinlianError."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sdk.domains.drugs.model import DrugAlert


class XinlianError(Exception):
    """Root of all Xinlian errors.

    ``code`` is a stable machine-readable identifier (the API returns it as ``{code, message, detail}``);
    ``message`` is for people; ``detail`` carries structured fields that help a caller act on the error.
    """

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail: dict[str, Any] = detail

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "detail": self.detail}


# --- cryptography -----------------------------------------------------------------------------------
class CryptoError(XinlianError):
    code = "crypto_error"


class InvalidKeyError(CryptoError):
    code = "invalid_key"


class IdentityCertificateError(CryptoError):
    """An organisation's SM2 X.509 certificate is refused (sdk.identity.x509). ``code`` says which rule:
    x509_malformed, x509_algorithm, x509_not_yet_valid, x509_expired, x509_unknown_issuer, x509_signature,
    x509_issuer_not_ca, x509_key_mismatch, x509_uscc_mismatch, x509_chain_too_long; for certificates on
    chain (sdk.domains.governance) also x509_too_large and x509_not_bound."""

    code = "x509_refused"


class InvalidSignatureError(CryptoError):
    """A signature is malformed or does not verify."""

    code = "invalid_signature"


class DecryptionError(CryptoError):
    """A ciphertext is malformed, was made for another key, or was altered."""

    code = "decryption_failed"


class SignerError(CryptoError):
    """A key holder (sdk.keyholder.KeyHolder: a key file, a PKCS#11 token, a remote signer) could not do
    what was asked. The subclasses say why; none of them carries a key, a PIN or a password."""

    code = "signer_error"


class SignerUnavailable(SignerError):
    """The key holder cannot be reached: no PKCS#11 module or token with that label, a remote signer that
    does not answer (``detail`` says which)."""

    code = "signer_unavailable"


class SignerLoginFailed(SignerError):
    """The key holder refused the credentials: a wrong PIN for the token, a bearer token the remote signer
    does not accept."""

    code = "signer_login_failed"


class SignerKeyNotFound(SignerError):
    """The token (or the remote signer) holds no key with that label, or more than one."""

    code = "signer_key_not_found"


class SignerRefused(SignerError):
    """The remote signer refused this request: a preimage without an allowed domain tag, another chain
    id, another public key, a request too large (``detail["reason"]`` says which)."""

    code = "signer_refused"


class UnsupportedMechanism(SignerError):
    """The key holder cannot do this operation: a PKCS#11 token that lists no SM2 signature mechanism
    (SoftHSM2, for one), a remote signer not allowed to decrypt."""

    code = "unsupported_mechanism"


# --- encoding and identifiers -----------------------------------------------------------------------
class EncodingError(XinlianError):
    """Bytes or JSON that do not decode to a well-formed object."""

    code = "bad_encoding"


class IdentifierError(XinlianError, ValueError):
    """An identifier (USCC, resident ID, e-licence ID, GTIN, drug trace code …) is malformed."""

    code = "invalid_identifier"


class WeakSaltError(EncodingError):
    """A holder salt that would not hide the holder code: not 32 bytes, or a short pattern repeated (all
    zeros included). The SDK draws salts from ``secrets``; this refuses salts made any other way."""

    code = "weak_salt"


class MerkleProofError(XinlianError):
    code = "invalid_proof"


class MptProofError(XinlianError):
    """A Merkle-Patricia proof is malformed or does not lead from the root to the claimed value."""

    code = "invalid_state_proof"


class AuthenticationError(XinlianError):
    """A member-signed request is missing, stale, malformed or does not verify."""

    code = "unauthenticated"


# --- node-side branches (raised by node/, defined here so clients can catch them) -------------------
class AccessDenied(XinlianError):
    """The member is authenticated but may not read this record: its organisation is no party to it and
    holds no role that sees it (the node's read policy)."""

    code = "forbidden"


class InvalidTransaction(XinlianError):
    code = "invalid_transaction"


class TransactionExpired(InvalidTransaction):
    """The chain's head reached the transaction's expiry height and the transaction is not committed: it
    never will be. Sign a new one (a new nonce and expiry) to try again."""

    code = "expired"


class InvalidBlock(XinlianError):
    code = "invalid_block"


class ConsensusError(XinlianError):
    code = "consensus_error"


class StorageError(XinlianError):
    code = "storage_error"


class ExecutionError(XinlianError):
    code = "execution_error"


class DomainError(XinlianError):
    """A business rule refused the request (wrong role, bad lifecycle transition …)."""

    code = "domain_error"


class DrugAlertError(DomainError):
    """The contract refused the call because of the codes' state and recorded Alerts (nothing else changed).

    ``alerts`` lists them; ``reason`` is the first alert's reason; ``tx_hash`` the refusing transaction.
    """

    code = "drug_alert"

    def __init__(self, message: str, *, alerts: Sequence[DrugAlert], tx_hash: bytes, **detail: Any) -> None:
        super().__init__(
            message,
            reason=alerts[0].reason if alerts else "",
            reasons=sorted({a.reason for a in alerts}),
            tx_hash="0x" + tx_hash.hex(),
            **detail,
        )
        self.alerts = tuple(alerts)
        self.tx_hash = tx_hash

    @property
    def reason(self) -> str:
        return str(self.detail.get("reason", ""))


class ConfigError(XinlianError):
    """A node or network configuration is missing, malformed or inconsistent (node.config reads them)."""

    code = "bad_config"


class ClientError(XinlianError):
    """The node answered with an error, or could not be reached."""

    code = "client_error"


class NodeUnreachable(ClientError):
    """No answer from a node: refused or broken connection, failed TLS, or no answer in time (``code``
    ``unreachable`` or ``timeout``). A transaction sent before may still be committed: resubmitting the
    same signed transaction is safe (``Client.deliver``)."""

    code = "unreachable"


# --- the command line (sdk/exit_codes.py maps every error to the exit status it ends `xinlian` with) -------
class UsageError(XinlianError):
    """A command was called in a way it cannot run: an output exists without --force, an environment
    variable it was pointed at is empty, a command needs the node extra that is not installed."""

    code = "usage"


class InputError(XinlianError):
    """An input a command was given cannot be read: a missing or unreadable file, a malformed bundle, trust
    file, payload, identifier or code. Raised before anything is checked, so it never means "not valid"."""

    code = "unreadable_input"


class OutputError(XinlianError):
    """A file a command was asked to write cannot be written."""

    code = "cannot_write"


class CheckFailed(XinlianError):
    """A check came out negative: a licence that is not VALID, a drug code that is not authentic or is held,
    a failed self-test. The command still printed what it found."""

    code = "check_failed"


# --- verification -----------------------------------------------------------------------------------
class VerificationError(XinlianError):
    """Offline verification failed; ``diagnostics()`` explains what and where."""

    code = "verification_failed"

    def diagnostics(self) -> str:
        parts = [self.message]
        parts += [f"  {k}: {v}" for k, v in self.detail.items()]
        return "\n".join(parts)


class CertificateError(VerificationError):
    """A commit certificate does not prove its block (wrong block, too few or invalid seals)."""

    code = "invalid_certificate"


class FormatError(VerificationError):
    """The bundle is malformed: wrong format or version, bad hex or RLP, missing or inconsistent fields."""

    code = "bundle_format"


class ChainError(VerificationError):
    """The bundle does not belong to the trusted chain, or its headers do not link (ids, hashes, sets)."""

    code = "bundle_chain"


class SignatureError(VerificationError):
    """A transaction signature or a validator seal does not verify."""

    code = "bundle_signature"


class QuorumError(VerificationError):
    """A commit certificate has fewer than quorum distinct seals of the validator set in force."""

    code = "bundle_quorum"


class ProofError(VerificationError):
    """A Merkle inclusion proof (transaction, receipt, history) or an EVM state proof does not hold."""

    code = "bundle_proof"


class StatusError(VerificationError):
    """The event is proven but its status is not good: a reverted transaction, a revoked licence …"""

    code = "bundle_status"


class LicenceIdentifierError(VerificationError):
    """A proven licence issuance whose identifier (read from the proven transaction) cannot be read, does not
    hash to the licence's id hash, or names another issuing organisation or type than the issuance's."""

    code = "bundle_licence_identifier"
