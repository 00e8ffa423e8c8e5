"""Power-on self-test of the cryptography: standard known answers and cross-backend SM2 round trips."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

# GB/T 32905-2016 Appendix A and GB/T 32907-2016 Appendix A.
_SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
_SM3_ABCD16 = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
_SM4_KEY = "0123456789abcdeffedcba9876543210"
_SM4_CT = "681edf34d206965e86b3e94f536e4246"


def _check_sm3() -> bool:
    from sdk.crypto import sm3

    return sm3(b"abc").hex() == _SM3_ABC and sm3(b"abcd" * 16).hex() == _SM3_ABCD16


def _check_sm4() -> bool:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = bytes.fromhex(_SM4_KEY)
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305 - single-block known answer
    return (enc.update(key) + enc.finalize()).hex() == _SM4_CT


def _check_sm2_cross(signer: str, verifier: str) -> Callable[[], bool]:
    def check() -> bool:
        from sdk.crypto import PrivateKey
        from sdk.errors import InvalidSignatureError

        key = PrivateKey.generate()
        message = b"xinlian self-test"
        signature = key.sign(message, backend=signer)
        key.public_key.verify(message, signature, backend=verifier)
        try:
            key.public_key.verify(message + b"!", signature, backend=verifier)
        except InvalidSignatureError:  # a changed message must fail
            return True
        return False

    return check


def _check_sm2_encrypt() -> bool:
    from sdk.crypto import PrivateKey

    key = PrivateKey.generate()
    return key.decrypt(key.public_key.encrypt(b"xinlian")) == b"xinlian"


def _check_sm4_gcm() -> bool:
    import secrets

    from sdk.crypto import sm4_gcm_open, sm4_gcm_seal

    key = secrets.token_bytes(16)
    return sm4_gcm_open(key, sm4_gcm_seal(key, b"payload", aad=b"ad"), aad=b"ad") == b"payload"


def run_selftest() -> Iterator[tuple[str, bool, float]]:
    """Yield (check name, passed, elapsed ms) for each self-test check; never raises for a failed check.

    Where tongsuopy is not installed (a light install on a platform it has no wheel for), the SM2 round
    trip runs on the gmssl backend alone instead of across both backends.
    """
    from sdk.crypto.sm2 import tongsuo_available

    sm2_checks: list[tuple[str, Callable[[], bool]]] = (
        [
            ("SM2 sign tongsuo → verify gmssl", _check_sm2_cross("tongsuo", "gmssl")),
            ("SM2 sign gmssl → verify tongsuo", _check_sm2_cross("gmssl", "tongsuo")),
        ]
        if tongsuo_available()
        else [("SM2 sign gmssl → verify gmssl (tongsuopy not installed)", _check_sm2_cross("gmssl", "gmssl"))]
    )
    checks: list[tuple[str, Callable[[], bool]]] = [
        ("SM3 known answers (GB/T 32905)", _check_sm3),
        ("SM4 known answer (GB/T 32907)", _check_sm4),
        ("SM4-GCM seal/open", _check_sm4_gcm),
        *sm2_checks,
        ("SM2 encrypt/decrypt", _check_sm2_encrypt),
    ]
    for name, check in checks:
        started = time.perf_counter()
        try:
            passed = check()
        except Exception:
            passed = False
        yield name, passed, (time.perf_counter() - started) * 1000
