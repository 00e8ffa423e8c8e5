"""PKCS11Signer: a KeyHolder whose SM2 private key stays on a PKCS#11 token (an HSM, a USB key), through
the maintained ``python-pkcs11`` binding (``pip install 'xinlian[hsm]'``).

SM2 signing is not ECDSA (s = (1+d)⁻¹(k − r·d) mod n over e = SM3(Z_A ‖ M)), and PKCS#11 2.40/3.0 defines
no SM2 mechanism: Chinese HSMs expose it under a vendor-defined mechanism number (CKM_VENDOR_DEFINED
0x80000000 and up), different from vendor to vendor. So the mechanism is configuration
(``sign_mechanism``), with what it takes (``sign_input``: the message, for a mechanism that computes Z_A and
SM3 itself, or the 32-byte digest e, computed here from public data). A token that does not list the
configured mechanism signs nothing: ``sign`` raises UnsupportedMechanism. SoftHSM2 is such a token: it keeps
EC keys on the SM2 curve but has only ECDSA, so it cannot make an SM2 signature.

Decryption needs only the point d·C1, which any token with ECDH1_DERIVE on the SM2 curve computes inside
(SoftHSM2 does): the token returns x2, this process recovers y2 from the curve equation (two candidates,
the one whose C3 = SM3(x2 ‖ M ‖ y2) verifies) and finishes GB/T 32918.4 with public data only.
"""

from __future__ import annotations

import hmac
import os
import threading
from pathlib import Path
from typing import Any, Final

from sdk.crypto import PublicKey, sm3
from sdk.crypto.sm2 import (
    DEFAULT_USER_ID,
    SIGNATURE_BYTES,
    A,
    B,
    P,
    signature_from_der,
    split_ciphertext,
    z_a_preimage,
)
from sdk.errors import (
    DecryptionError,
    InvalidKeyError,
    InvalidSignatureError,
    SignerError,
    SignerKeyNotFound,
    SignerLoginFailed,
    SignerUnavailable,
    UnsupportedMechanism,
)

#: DER of the SM2 curve's OID 1.2.156.10197.1.301, as CKA_EC_PARAMS holds it for an SM2 key.
SM2_EC_PARAMS: Final = bytes.fromhex("06082a811ccf5501822d")
#: CKM_ECDH1_DERIVE (PKCS#11 2.40): the token computes d·C1 for decryption.
CKM_ECDH1_DERIVE: Final = 0x1050
#: CKM_VENDOR_DEFINED: vendor SM2 mechanisms are numbered from here (check the HSM's manual).
CKM_VENDOR_DEFINED: Final = 0x80000000
#: What a sign mechanism takes: the message itself, or e = SM3(Z_A ‖ message).
SIGN_INPUTS: Final = ("message", "digest")


def read_pin(*, pin_env: str | None = None, pin_file: str | os.PathLike[str] | None = None) -> str:
    """Return a token PIN from the environment variable ``pin_env`` or the first line of ``pin_file``.

    Raises SignerLoginFailed when neither holds one (the PIN itself is never part of an error).
    """
    if pin_env:
        value = os.environ.get(pin_env, "")
        if value:
            return value
        raise SignerLoginFailed(f"no PIN: the environment variable {pin_env} is empty or unset")
    if pin_file is not None:
        try:
            lines = Path(pin_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SignerLoginFailed(f"cannot read the PIN file {pin_file}") from exc
        if lines and lines[0].strip():
            return lines[0].strip()
        raise SignerLoginFailed(f"the PIN file {pin_file} is empty")
    raise SignerLoginFailed("no PIN: give pin, pin_env or pin_file")


def _kdf(z: bytes, length: int) -> bytes:
    """GB/T 32918.4's KDF: SM3(z ‖ ct) for ct = 1, 2, … (32-bit big-endian), truncated to ``length``."""
    out = b"".join(sm3(z + ct.to_bytes(4, "big")) for ct in range(1, (length + 31) // 32 + 1))
    return out[:length]


def _mechanism(value: int) -> Any:
    """The binding's Mechanism for ``value``. python-pkcs11 passes on only Mechanism instances, and its
    enum lists no vendor-defined numbers, so a vendor mechanism is made an instance carrying its number."""
    from pkcs11 import Mechanism

    try:
        return Mechanism(value)
    except ValueError:
        member = int.__new__(Mechanism, value)
        member._name_ = f"VENDOR_0x{value:08x}"
        member._value_ = value
        return member


class PKCS11Signer:
    """A KeyHolder whose SM2 key is on a PKCS#11 token; the SDK never sees the private key.

    Takes: the PKCS#11 module (the vendor's .so), the token label, the user PIN (``pin``, or ``pin_env`` /
    ``pin_file``: see ``read_pin``), the label of the key pair (private and public key objects share it),
    the vendor's SM2 signature mechanism number (``sign_mechanism``, None when the token has none) and
    what it takes (``sign_input``: "message" or "digest").
    Raises: SignerUnavailable (the binding is not installed, the module cannot be loaded, no token with
    that label), SignerLoginFailed (wrong, locked or missing PIN), SignerKeyNotFound (no private/public key
    pair with that label, or several), InvalidKeyError (the key is not on the SM2 curve).
    ``sign`` raises UnsupportedMechanism when the token does not list ``sign_mechanism``; ``decrypt`` when
    it has no ECDH1_DERIVE. ``repr`` shows the token and key labels and the address, never the PIN.
    """

    def __init__(
        self,
        module: str | os.PathLike[str],
        *,
        token_label: str,
        key_label: str,
        pin: str | None = None,
        pin_env: str | None = None,
        pin_file: str | os.PathLike[str] | None = None,
        sign_mechanism: int | None = None,
        sign_input: str = "message",
    ) -> None:
        if sign_input not in SIGN_INPUTS:
            raise SignerError(f"sign_input is one of {SIGN_INPUTS}, not {sign_input!r}", code="bad_config")
        try:
            import pkcs11
            from pkcs11 import Attribute, ObjectClass, exceptions as p11
        except ImportError as exc:
            raise SignerUnavailable(
                "PKCS#11 needs the hsm extra: pip install 'xinlian[hsm]'", missing="python-pkcs11"
            ) from exc
        self._p11 = p11
        self.token_label = token_label
        self.key_label = key_label
        self.sign_mechanism = sign_mechanism
        self.sign_input = sign_input
        secret = pin if pin is not None else read_pin(pin_env=pin_env, pin_file=pin_file)
        try:
            lib = pkcs11.lib(str(module))
        except (RuntimeError, OSError) as exc:
            raise SignerUnavailable(f"cannot load the PKCS#11 module {module}", module=str(module)) from exc
        try:
            token = lib.get_token(token_label=token_label)
        except (p11.NoSuchToken, p11.TokenNotPresent, p11.TokenNotRecognised) as exc:
            raise SignerUnavailable(f"no PKCS#11 token labelled {token_label!r}", token=token_label) from exc
        except p11.MultipleTokensReturned as exc:
            raise SignerUnavailable(
                f"several tokens are labelled {token_label!r}", token=token_label
            ) from exc
        try:
            self._session = token.open(user_pin=secret)
        except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange, p11.PinExpired) as exc:
            raise SignerLoginFailed(f"the token {token_label!r} refused the PIN", token=token_label) from exc
        except p11.PinLocked as exc:
            raise SignerLoginFailed(f"the token {token_label!r} is locked", token=token_label) from exc
        except p11.PKCS11Error as exc:
            raise SignerUnavailable(
                f"cannot open a session on {token_label!r}: {type(exc).__name__}", token=token_label
            ) from exc
        del secret
        try:
            self._private: Any = self._session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=key_label)
            public = self._session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=key_label)
        except (p11.NoSuchKey, p11.MultipleObjectsReturned) as exc:
            self._session.close()
            raise SignerKeyNotFound(
                f"the token holds no single SM2 key pair labelled {key_label!r}", key=key_label
            ) from exc
        try:
            params = bytes(public[Attribute.EC_PARAMS])
            point = bytes(public[Attribute.EC_POINT])
        except p11.PKCS11Error as exc:
            self._session.close()
            raise InvalidKeyError(f"the key {key_label!r} is not an EC key", key=key_label) from exc
        if params != SM2_EC_PARAMS:
            self._session.close()
            raise InvalidKeyError(f"the key {key_label!r} is not on the SM2 curve", key=key_label)
        if len(point) == 67 and point[:2] == b"\x04\x41":
            point = point[2:]  # a DER OCTET STRING around 04‖x‖y (PKCS#11 2.40)
        self._public = PublicKey.from_bytes(point)
        self._public_key = self._public.to_bytes()
        self._mechanisms = {int(m) for m in token.slot.get_mechanisms()}
        self._lock = threading.Lock()  # one operation at a time on the session (PKCS#11 sessions are serial)

    @property
    def address(self) -> bytes:
        """The 20-byte account address of the token's key."""
        return self._public.address

    @property
    def public_key(self) -> bytes:
        """The 64-byte public key x‖y read from the token's public key object."""
        return self._public_key

    @property
    def can_sign(self) -> bool:
        """Whether the token lists the configured SM2 signature mechanism."""
        return self.sign_mechanism is not None and self.sign_mechanism in self._mechanisms

    def sign(self, message: bytes) -> bytes:
        """Return the token's 64-byte SM2 signature (default user ID) of ``message``, verified here.

        Raises: UnsupportedMechanism (no mechanism configured, or the token does not list it),
        SignerError (the token failed, or returned a signature that does not verify).
        """
        if not self.can_sign:
            raise UnsupportedMechanism(
                f"the token {self.token_label!r} lists no SM2 signature mechanism "
                + (
                    f"0x{self.sign_mechanism:08x}" if self.sign_mechanism is not None else "(none configured)"
                ),
                token=self.token_label,
                mechanism=self.sign_mechanism,
            )
        assert self.sign_mechanism is not None
        data = message
        if self.sign_input == "digest":
            data = sm3(sm3(z_a_preimage(DEFAULT_USER_ID, self._public_key)) + message)
        try:
            with self._lock:
                raw = bytes(self._private.sign(data, mechanism=_mechanism(self.sign_mechanism)))
        except self._p11.PKCS11Error as exc:
            raise SignerError(
                f"the token failed to sign: {type(exc).__name__}", code="token_error", token=self.token_label
            ) from exc
        try:
            signature = raw if len(raw) == SIGNATURE_BYTES else signature_from_der(raw)
            self._public.verify(message, signature)
        except (InvalidSignatureError, ValueError) as exc:
            raise SignerError(
                "the token's signature does not verify as SM2 (is sign_mechanism/sign_input right?)",
                code="bad_signature_from_signer",
                token=self.token_label,
            ) from exc
        return signature

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Return the plaintext of an SM2 C1‖C3‖C2 ciphertext for the token's key: d·C1 is computed on the
        token (ECDH1_DERIVE), the rest of GB/T 32918.4 here.

        Raises: UnsupportedMechanism (no ECDH1_DERIVE), DecryptionError (malformed, altered, another key),
        SignerError (the token failed).
        """
        if CKM_ECDH1_DERIVE not in self._mechanisms:
            raise UnsupportedMechanism(
                f"the token {self.token_label!r} has no ECDH1_DERIVE", token=self.token_label
            )
        from pkcs11 import KDF, Attribute, KeyType, Mechanism

        x1, y1, c3, c2 = split_ciphertext(ciphertext)
        c1 = b"\x04" + x1.to_bytes(32, "big") + y1.to_bytes(32, "big")
        try:
            with self._lock:
                shared = self._private.derive_key(
                    KeyType.GENERIC_SECRET,
                    256,
                    mechanism=Mechanism.ECDH1_DERIVE,
                    mechanism_param=(KDF.NULL, None, c1),
                    template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
                    store=False,
                )
                x2_bytes = bytes(shared[Attribute.VALUE])
        except self._p11.PKCS11Error as exc:
            raise SignerError(
                f"the token failed to derive: {type(exc).__name__}",
                code="token_error",
                token=self.token_label,
            ) from exc
        x2 = int.from_bytes(x2_bytes, "big")
        y_squared = (x2 * x2 * x2 + A * x2 + B) % P
        y = pow(y_squared, (P + 1) // 4, P)  # P ≡ 3 (mod 4)
        found: bytes | None = None
        for y2 in (y, P - y):
            y2_bytes = y2.to_bytes(32, "big")
            mask = _kdf(x2_bytes + y2_bytes, len(c2))
            if not any(mask):
                continue
            plain = bytes(a ^ b for a, b in zip(c2, mask, strict=True))
            if hmac.compare_digest(sm3(x2_bytes + plain + y2_bytes), c3) and found is None:
                found = plain
        if found is None:
            raise DecryptionError("the ciphertext was not made for this key, or was altered")
        return found

    def close(self) -> None:
        """Log out and close the token session."""
        self._session.close()

    def __repr__(self) -> str:
        return (
            f"PKCS11Signer(token={self.token_label!r}, key={self.key_label!r}, "
            f"address=0x{self.address.hex()})"
        )


def describe_token(signer: PKCS11Signer) -> dict[str, Any]:
    """What a token offers for SM2 (for diagnostics): whether it can sign and decrypt with its key."""
    return {
        "token": signer.token_label,
        "key": signer.key_label,
        "address": f"0x{signer.address.hex()}",
        "sign_mechanism": signer.sign_mechanism,
        "can_sign": signer.can_sign,
        "can_decrypt": CKM_ECDH1_DERIVE in signer._mechanisms,
    }
