"""GM cryptography for Xinlian: SM2 signatures and encryption, SM3 hashing, SM4-GCM, keys and addresses."""

from sdk.crypto.sm3 import SM3, sm3

__all__ = ["SM3", "sm3"]
