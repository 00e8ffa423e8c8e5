"""RemoteSigner: a KeyHolder whose key stays with a signing service a key custodian runs
(``xinlian signer serve``, sdk.signer_service), reached over HTTPS with a bearer token.

The wire contract, shared with the service:

* ``GET /v1/key`` → ``{"public_key", "address", "chain_id", "decrypt"}``
* ``POST /v1/sign`` ``{"message": hex}`` → ``{"signature": hex}``: the service signs only the SDK's
  domain-tagged preimages for its chain (``check_preimage``).
* ``POST /v1/decrypt`` ``{"ciphertext": hex}`` → ``{"plaintext": hex}``: only when the custodian allowed it,
  and only ciphertexts of a key's size (a member session key, a sealed document's wrapped SM4 key).
* every request carries ``Authorization: Bearer <token>``; refusals are ``{code, message, detail}`` as
  sdk.errors.XinlianError.to_dict gives them.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any, Final

import httpx

from sdk.auth import QUERY_TAG
from sdk.crypto import PublicKey
from sdk.encoding import decode, decode_int, decode_list
from sdk.errors import (
    DecryptionError,
    EncodingError,
    InvalidKeyError,
    SignerError,
    SignerKeyNotFound,
    SignerLoginFailed,
    SignerRefused,
    SignerUnavailable,
    UnsupportedMechanism,
)
from sdk.types import TX_TAG

#: The preimages a remote signer signs, by domain tag: a transaction (sdk.types) and a member-signed
#: request (sdk.auth). Both are RLP lists of 8 items whose second is the chain id.
SIGNABLE_TAGS: Final = {TX_TAG: "transaction", QUERY_TAG: "query"}
_PREIMAGE_ITEMS: Final = 8
#: Index of the signer's public key in a transaction preimage.
_TX_PUBLIC_KEY_ITEM: Final = 7
#: The largest preimage: a transaction of the chain's default max_tx_bytes (128 KiB, docs/limits.md).
MAX_PREIMAGE_BYTES: Final = 128 * 1024
#: The largest request body the service reads (the preimage in hex, and JSON around it).
MAX_REQUEST_BYTES: Final = 2 * MAX_PREIMAGE_BYTES + 1024
#: The largest ciphertext the service decrypts: C1 (65) ‖ C3 (32) ‖ a 32-byte key (session keys are 32
#: bytes, the wrapped keys of sealed documents 16).
MAX_DECRYPT_CIPHERTEXT_BYTES: Final = 65 + 32 + 32
#: The least length of a bearer token (characters).
MIN_TOKEN_CHARS: Final = 32


def check_preimage(message: bytes, *, chain_id: int, public_key: bytes) -> str:
    """Return what ``message`` is ("transaction" or "query") when a remote signer may sign it.

    Takes: the message, the chain id the signer serves, the signer's 64-byte public key.
    Raises: SignerRefused (``detail["reason"]``: ``too_large``, ``not_a_preimage`` — not an RLP list of 8
    items —, ``unknown_tag``, ``wrong_chain``, ``wrong_key`` — a transaction naming another sender key).
    """
    if len(message) > MAX_PREIMAGE_BYTES:
        raise SignerRefused(
            f"the message is larger than {MAX_PREIMAGE_BYTES} bytes", reason="too_large", size=len(message)
        )
    try:
        items = decode_list(decode(message), "preimage")
    except EncodingError as exc:
        raise SignerRefused("the message is not an RLP list", reason="not_a_preimage") from exc
    if len(items) != _PREIMAGE_ITEMS or not isinstance(items[0], bytes):
        raise SignerRefused("the message is not a Xinlian signing preimage", reason="not_a_preimage")
    kind = SIGNABLE_TAGS.get(items[0])
    if kind is None:
        raise SignerRefused("this signer does not sign messages with that domain tag", reason="unknown_tag")
    try:
        chain = decode_int(items[1], "chain_id")
    except EncodingError as exc:
        raise SignerRefused("the preimage's chain id is malformed", reason="not_a_preimage") from exc
    if chain != chain_id:
        raise SignerRefused(
            f"this signer signs for chain {chain_id} only", reason="wrong_chain", chain_id=chain
        )
    if kind == "transaction" and items[_TX_PUBLIC_KEY_ITEM] != public_key:
        raise SignerRefused("the transaction names another sender key", reason="wrong_key")
    return kind


def read_token(path: str | os.PathLike[str]) -> str:
    """Return the bearer token in the file at ``path`` (surrounding whitespace removed).

    Raises: SignerError (``bad_token_file``) when the file cannot be read or holds fewer than
    MIN_TOKEN_CHARS printable ASCII characters.
    """
    try:
        token = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SignerError(f"cannot read the token file {path}", code="bad_token_file") from exc
    if len(token) < MIN_TOKEN_CHARS or not token.isprintable() or " " in token:
        raise SignerError(
            f"the token in {path} must be at least {MIN_TOKEN_CHARS} printable characters without spaces",
            code="bad_token_file",
        )
    return token


class RemoteSigner:
    """A KeyHolder whose key is with a remote signing service (``xinlian signer serve``).

    ``RemoteSigner(url, token_file=..., ca=...)``: the service's https URL, its bearer token (``token`` or
    ``token_file``), the CA certificate (PEM path) its TLS certificate is checked against (default: the
    system's trust store), and optionally the ``address`` the caller expects (refused when the service
    holds another key). Asks the service for its key once, at construction. ``repr`` never shows the token.
    Raises (constructor, sign, decrypt): SignerUnavailable (no answer, TLS failure), SignerLoginFailed (the
    token is refused), SignerKeyNotFound (another key than ``address``), SignerRefused, UnsupportedMechanism
    (decrypt not allowed), DecryptionError, SignerError (a malformed answer).
    """

    __slots__ = ("_address", "_http", "_public_key", "can_decrypt", "chain_id", "url")

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        token_file: str | os.PathLike[str] | None = None,
        ca: str | os.PathLike[str] | None = None,
        address: bytes | None = None,
        timeout: float = 10.0,
    ) -> None:
        if (token is None) == (token_file is None):
            raise SignerError("give the remote signer's token or token_file (one of them)", code="no_token")
        secret = token if token is not None else read_token(token_file)  # type: ignore[arg-type]
        self.url = url.rstrip("/")
        if not self.url.startswith("https://"):
            raise SignerError("a remote signer is reached over https only", code="insecure_transport")
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca is not None else True
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            verify=verify,
            headers={"authorization": f"Bearer {secret}", "user-agent": "xinlian-sdk"},
        )
        info = self._call("GET", "/v1/key")
        try:
            self._public_key = bytes.fromhex(info["public_key"])
            self.chain_id = int(info["chain_id"])
            self.can_decrypt = bool(info.get("decrypt", False))
            self._address = PublicKey.from_bytes(self._public_key).address
        except (KeyError, TypeError, ValueError, InvalidKeyError) as exc:
            raise SignerError("the remote signer's key answer is malformed", code="bad_response") from exc
        if address is not None and address != self._address:
            raise SignerKeyNotFound(
                "the remote signer holds another key than the expected address",
                expected=f"0x{address.hex()}",
                found=f"0x{self._address.hex()}",
            )

    @property
    def address(self) -> bytes:
        """The 20-byte account address of the remote key."""
        return self._address

    @property
    def public_key(self) -> bytes:
        """The 64-byte public key x‖y of the remote key."""
        return self._public_key

    def sign(self, message: bytes) -> bytes:
        """Return the service's 64-byte SM2 signature of ``message`` (a preimage ``check_preimage`` allows).

        Raises: SignerRefused (not an allowed preimage, another chain), SignerUnavailable,
        SignerLoginFailed, SignerError (a malformed answer).
        """
        body = self._call("POST", "/v1/sign", {"message": message.hex()})
        try:
            signature = bytes.fromhex(body["signature"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SignerError("the remote signer's answer is malformed", code="bad_response") from exc
        if len(signature) != 64:
            raise SignerError("the remote signer returned no 64-byte signature", code="bad_response")
        return signature

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Return the plaintext of a key-sized SM2 ciphertext made for the remote key.

        Raises: UnsupportedMechanism (the custodian does not allow decryption), SignerRefused (larger than
        a key), DecryptionError (not for this key, altered), SignerUnavailable, SignerLoginFailed.
        """
        if not self.can_decrypt:
            raise UnsupportedMechanism("this remote signer does not decrypt", reason="decrypt_disabled")
        body = self._call("POST", "/v1/decrypt", {"ciphertext": ciphertext.hex()})
        try:
            return bytes.fromhex(body["plaintext"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SignerError("the remote signer's answer is malformed", code="bad_response") from exc

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _call(self, method: str, path: str, payload: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, json=payload)
        except httpx.HTTPError as exc:
            raise SignerUnavailable(
                f"the remote signer at {self.url} did not answer: {type(exc).__name__}", url=self.url
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise SignerError(
                f"the remote signer answered {response.status_code} without JSON",
                code="bad_response",
                http_status=response.status_code,
            )
        if response.status_code == 200:
            return body
        message = str(body.get("message", "refused"))
        raw_detail = body.get("detail")
        detail: dict[str, Any] = raw_detail if isinstance(raw_detail, dict) else {}
        status = response.status_code
        if status == 401:
            raise SignerLoginFailed(message, url=self.url)
        if status in (403, 413):
            raise SignerRefused(message, **detail)
        if status == 501:
            raise UnsupportedMechanism(message, **detail)
        if status == 422:
            raise DecryptionError(message)
        raise SignerError(message, code="remote_signer_error", http_status=status)

    def __repr__(self) -> str:
        return f"RemoteSigner({self.url!r}, address=0x{self._address.hex()})"
