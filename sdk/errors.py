"""The one error tree of Xinlian: every failure raised by the SDK or the node is a XinlianError."""

from __future__ import annotations

from typing import Any


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


class InvalidSignatureError(CryptoError):
    """A signature is malformed or does not verify."""

    code = "invalid_signature"


class DecryptionError(CryptoError):
    """A ciphertext is malformed, was made for another key, or was altered."""

    code = "decryption_failed"


# --- encoding and identifiers -----------------------------------------------------------------------
class EncodingError(XinlianError):
    """Bytes or JSON that do not decode to a well-formed object."""

    code = "bad_encoding"


class IdentifierError(XinlianError, ValueError):
    """An identifier (USCC, resident ID, e-licence ID, GTIN, drug trace code …) is malformed."""

    code = "invalid_identifier"


class MerkleProofError(XinlianError):
    code = "invalid_proof"


# --- node-side branches (raised by node/, defined here so clients can catch them) -------------------
class InvalidTransaction(XinlianError):
    code = "invalid_transaction"


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


class ClientError(XinlianError):
    """The node answered with an error, or could not be reached."""

    code = "client_error"


# --- verification -----------------------------------------------------------------------------------
class VerificationError(XinlianError):
    """Offline verification failed; ``diagnostics()`` explains what and where."""

    code = "verification_failed"

    def diagnostics(self) -> str:
        parts = [self.message]
        parts += [f"  {k}: {v}" for k, v in self.detail.items()]
        return "\n".join(parts)
