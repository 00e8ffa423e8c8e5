"""What the domain facades share: the signer of their writes and member-signed queries, and for the
facades over one contract, how they are built and re-built with another signer."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Self

from sdk.contracts import Contract
from sdk.errors import ClientError
from sdk.keyholder import KeyHolder

if TYPE_CHECKING:
    from sdk.client import Client


class SignerFacade:
    """A facade whose writes (and member-signed queries) are signed by ``signer`` (None: reads only)."""

    signer: KeyHolder | None

    def _require_signer(self) -> KeyHolder:
        """The facade's signer; raises ClientError (``no_signer``) when it has none."""
        if self.signer is None:
            raise ClientError(
                f"this {type(self).__name__} facade has no signer; use with_signer(signer)", code="no_signer"
            )
        return self.signer


class ContractFacade(SignerFacade):
    """A facade over the contract named ``CONTRACT``: reads through ``client`` (as ``signer``, when given)
    and writes signed by ``signer``. An ``address`` of None is resolved by the subclass's ``address``."""

    CONTRACT: ClassVar[str]

    def __init__(
        self, client: Client, signer: KeyHolder | None = None, *, address: bytes | None = None
    ) -> None:
        self.client = client.reading_as(signer)
        self.signer = signer
        self._address = address
        self.contract = Contract(self.CONTRACT)

    def with_signer(self, signer: KeyHolder) -> Self:
        """Return a facade of the same contract (and address) that signs writes with ``signer``."""
        return type(self)(self.client, signer, address=self._address)
