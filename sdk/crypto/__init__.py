"""GM cryptography for Xinlian: SM2 signatures and encryption, SM3 hashing, SM4-GCM, keys and addresses."""

from sdk.crypto.batch import batch_verify
from sdk.crypto.keys import PrivateKey, PublicKey, address_from_public_key
from sdk.crypto.sm2 import DEFAULT_USER_ID, get_backend, signature_from_der, signature_to_der
from sdk.crypto.sm3 import SM3, hmac_sm3, sm3
from sdk.crypto.sm4 import sm4_gcm_open, sm4_gcm_seal

__all__ = [
    "DEFAULT_USER_ID",
    "SM3",
    "PrivateKey",
    "PublicKey",
    "address_from_public_key",
    "batch_verify",
    "get_backend",
    "hmac_sm3",
    "signature_from_der",
    "signature_to_der",
    "sm3",
    "sm4_gcm_open",
    "sm4_gcm_seal",
]
