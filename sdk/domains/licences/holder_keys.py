"""A licence holder's keys: one SM2 key per licence, derived from the holder's master secret.

The registry binds SM3 of a holder key to a licence (its public events show the hash) and a use record
carries the key itself. One key for all of a holder's licences would link them, and their uses, for whoever
reads two of them; so the holder's wallet keeps one 32-byte master secret and derives each licence's key
from it and the licence, deterministically (nothing more to back up, and a lost device loses no key):

    okm = HKDF-SM3(IKM = master secret, salt = none, L = 64,
                   info = "xinlian/licence-holder-key/1" ‖ chain_id (32) ‖ registry (20) ‖ id_hash (32))
    d   = 1 + (okm mod (n − 2))          (okm big-endian; n the SM2 group order; d ∈ [1, n − 2])

(RFC 5869 HKDF with SM3, through ``cryptography``; integers big-endian). Reducing 512 bits mod n − 2 leaves
a bias below 2^-250. ``id_hash`` is the licence the key was derived for: the licence's own, or for a
renewal — which keeps the holder key — the version it was bound to (``HolderCredential.holder_key_id_hash``).
Keys of different licences, chains or registries are unrelated without the master secret.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sdk.crypto import PrivateKey, PublicKey
from sdk.crypto.sm2 import N
from sdk.errors import EncodingError
from sdk.system import LICENCE_REGISTRY_ADDRESS

if TYPE_CHECKING:
    from sdk.domains.licences.credentials import HolderCredential


#: Domain tag of a holder key's derivation (HKDF info prefix).
HOLDER_KEY_TAG: Final = b"xinlian/licence-holder-key/1"


MASTER_SECRET_BYTES: Final = 32


_OKM_BYTES: Final = 64  # twice the group order's size: a negligible bias after the reduction


#: A master secret that repeats a pattern this short (one byte, e.g. all zeros, up to 8 bytes) is refused.
_MAX_REPEATED_PATTERN: Final = 8


def new_holder_master_secret() -> bytes:
    """Return a fresh holder master secret: 32 bytes from the OS CSPRNG (``secrets``)."""
    return secrets.token_bytes(MASTER_SECRET_BYTES)


def validate_holder_master_secret(secret: bytes) -> bytes:
    """Return ``secret`` when it can seed holder keys; raise EncodingError (``weak_secret``) for anything but
    32 bytes, or 32 bytes repeating a pattern of 1 to 8 bytes (all zeros included)."""
    if not isinstance(secret, bytes) or len(secret) != MASTER_SECRET_BYTES:
        raise EncodingError(
            f"a holder master secret is {MASTER_SECRET_BYTES} random bytes",
            code="weak_secret",
            field="secret",
        )
    for period in range(1, _MAX_REPEATED_PATTERN + 1):
        if secret == (secret[:period] * (MASTER_SECRET_BYTES // period + 1))[:MASTER_SECRET_BYTES]:
            raise EncodingError(
                "the holder master secret repeats a short pattern: use new_holder_master_secret()",
                code="weak_secret",
                field="secret",
            )
    return secret


def derive_holder_key(
    master_secret: bytes, *, chain_id: int, id_hash: bytes, registry: bytes = LICENCE_REGISTRY_ADDRESS
) -> PrivateKey:
    """Return the holder's SM2 key for the licence ``id_hash`` of ``registry`` on chain ``chain_id``
    (the module's derivation: HKDF-SM3, then reduced into [1, n − 2]).

    Raises EncodingError for a weak master secret (``weak_secret``) or a field of the wrong size.
    """
    validate_holder_master_secret(master_secret)
    if not isinstance(id_hash, bytes) or len(id_hash) != 32:
        raise EncodingError("id_hash must be 32 bytes", code="bad_arguments", field="id_hash")
    if not isinstance(registry, bytes) or len(registry) != 20:
        raise EncodingError("registry must be a 20-byte address", code="bad_arguments", field="registry")
    if isinstance(chain_id, bool) or not isinstance(chain_id, int) or not 0 <= chain_id < 2**256:
        raise EncodingError("chain_id must fit 256 bits", code="bad_arguments", field="chain_id")
    info = HOLDER_KEY_TAG + chain_id.to_bytes(32, "big") + registry + id_hash
    okm = HKDF(algorithm=hashes.SM3(), length=_OKM_BYTES, salt=None, info=info).derive(master_secret)
    return PrivateKey(1 + int.from_bytes(okm, "big") % (N - 2))


@dataclass(frozen=True, slots=True)
class HolderKeys:
    """A licence holder's master secret (her wallet's one secret) and the per-licence keys derived from it.

    Give an issuer ``public_key_for(...)`` of the licence being issued (or bound); sign a use consent with
    ``key_for(...)`` / ``key_for_credential(credential)``. Never shown in a repr.
    """

    master_secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        validate_holder_master_secret(self.master_secret)

    @classmethod
    def generate(cls) -> HolderKeys:
        """Return a holder with a fresh master secret (``new_holder_master_secret``)."""
        return cls(new_holder_master_secret())

    def key_for(
        self, *, chain_id: int, id_hash: bytes, registry: bytes = LICENCE_REGISTRY_ADDRESS
    ) -> PrivateKey:
        """Return the holder key of licence ``id_hash`` (``derive_holder_key``)."""
        return derive_holder_key(self.master_secret, chain_id=chain_id, id_hash=id_hash, registry=registry)

    def public_key_for(
        self, *, chain_id: int, id_hash: bytes, registry: bytes = LICENCE_REGISTRY_ADDRESS
    ) -> PublicKey:
        """Return the public holder key of licence ``id_hash``: what the issuer binds (its SM3)."""
        return self.key_for(chain_id=chain_id, id_hash=id_hash, registry=registry).public_key

    def key_for_credential(self, credential: HolderCredential) -> PrivateKey:
        """Return the holder key of the licence in ``credential``: derived for its ``holder_key_id_hash``
        (the version the key was bound to; a renewal keeps it), or its own id hash when the credential names
        none (a key bound after issuance), on the credential's chain and registry."""
        basis = credential.holder_key_id_hash
        return self.key_for(
            chain_id=credential.chain_id,
            id_hash=basis if basis != bytes(32) else credential.id_hash,
            registry=credential.registry,
        )
