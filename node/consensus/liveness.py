"""Consensus liveness as operators see it: is the driver running, and how long since it last decided."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: With no decided height for this long the node reports consensus as stalled (empty blocks come every few
#: seconds, and a round timeout backs off to at most 30 s by default, so a live chain decides well within).
STALL_AFTER_S: float = 60.0

LivenessStatus = Literal["ok", "stalled", "down"]


@dataclass(frozen=True)
class ConsensusLiveness:
    """A snapshot of the consensus driver: what /health reports.

    ``decided_age_s`` counts from the last decided (or synced) height, or from the driver's start when it
    has decided nothing yet; ``error`` says why the driver stopped, when it did; ``signing_held_through``
    is the height through which the signing guard withholds this validator's signatures, if any.
    """

    running: bool
    height: int
    round: int
    decided_age_s: float
    error: str | None = None
    #: While set, this validator signs nothing through this height: its database is behind what it signed
    #: before (a restored backup), and it follows the chain until its head passes it.
    signing_held_through: int | None = None

    @property
    def status(self) -> LivenessStatus:
        """``down`` when the driver stopped, ``stalled`` when it decided nothing for STALL_AFTER_S."""
        if not self.running or self.error is not None:
            return "down"
        if self.decided_age_s > STALL_AFTER_S:
            return "stalled"
        return "ok"
