"""SM2 signer and verifiers for consensus: the key adapter, a bounded memo of verification results, and
that memo shared by threads."""

from __future__ import annotations

import threading
from collections import OrderedDict

from node.consensus.messages import SignatureVerifier
from sdk.crypto import PrivateKey, PublicKey
from sdk.errors import InvalidSignatureError, XinlianError

#: Default number of (public key, message, signature) results the memo keeps.
DEFAULT_VERIFY_CACHE_ENTRIES: int = 65_536
#: Parsed public keys kept by Sm2Verifier (a validator set is small; this bounds hostile variety).
MAX_CACHED_PUBLIC_KEYS: int = 4_096


class Sm2Signer:
    """Signer backed by an SM2 private key (default user ID)."""

    def __init__(self, key: PrivateKey) -> None:
        self._key = key
        self._public_key = key.public_key.to_bytes()

    @property
    def public_key(self) -> bytes:
        """The 64-byte public key x‖y."""
        return self._public_key

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte r‖s SM2 signature of ``message``."""
        return self._key.sign(message)


class Sm2Verifier:
    """SignatureVerifier over sdk.crypto that keeps parsed public keys (parsing costs a tenth of a verify)."""

    def __init__(self) -> None:
        self._keys: OrderedDict[bytes, PublicKey] = OrderedDict()

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        """Return None when the signature verifies; raise InvalidSignatureError otherwise (bad key too)."""
        key = self._keys.get(public_key)
        if key is None:
            try:
                key = PublicKey.from_bytes(public_key)
            except XinlianError as exc:
                raise InvalidSignatureError("the signer's public key is not a valid SM2 key") from exc
            self._keys[public_key] = key
            if len(self._keys) > MAX_CACHED_PUBLIC_KEYS:
                self._keys.popitem(last=False)
        key.verify(message, signature)


class CachingVerifier:
    """Memoises another verifier's verdicts in a bounded LRU keyed by (public key, message, signature).

    Every validator verifies the same gossip and the same justifications again; the verdict of a given
    triple never changes, so repeating it is wasted work. One instance may be shared by simulated nodes.
    """

    def __init__(self, inner: SignatureVerifier, *, max_entries: int = DEFAULT_VERIFY_CACHE_ENTRIES) -> None:
        if max_entries <= 0:
            raise ValueError("max_entries must be positive")
        self._inner = inner
        self._max_entries = max_entries
        self._verdicts: OrderedDict[tuple[bytes, bytes, bytes], bool] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        """Return None when the signature verifies; raise InvalidSignatureError otherwise."""
        key = (public_key, message, signature)
        verdict = self._verdicts.get(key)
        if verdict is None:
            self.misses += 1
            try:
                self._inner.verify(public_key, message, signature)
                verdict = True
            except InvalidSignatureError:
                verdict = False
            self._verdicts[key] = verdict
            if len(self._verdicts) > self._max_entries:
                self._verdicts.popitem(last=False)
        else:
            self.hits += 1
            self._verdicts.move_to_end(key)
        if not verdict:
            raise InvalidSignatureError("SM2 signature does not verify (memoised verdict)")

    def __len__(self) -> int:
        return len(self._verdicts)


class LockedVerifier:
    """A SignatureVerifier shared by threads: one memo of verdicts behind a lock."""

    def __init__(self, inner: SignatureVerifier | None = None) -> None:
        self._inner = inner or CachingVerifier(Sm2Verifier())
        self._lock = threading.Lock()

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        """Return None when the signature verifies; raise InvalidSignatureError otherwise."""
        with self._lock:
            self._inner.verify(public_key, message, signature)
