"""The signing guard: what this validator last signed, kept in a file beside the database, never inside it.

The consensus WAL lives in the node's database, so restoring a backup rolls it back: a restored validator
would no longer know what it signed after the backup and could sign a second value for a height and round
it already signed. The guard file is written (atomically, synced) after the WAL record and before the
signed message leaves the node; at start, a guard that the database's WAL and head do not reach means the
database was rolled back, and the node signs nothing at or below the guarded height until its chain has
passed it (it follows and syncs meanwhile).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from node.consensus.messages import MessageKind
from node.consensus.wal import ConsensusWal, WalRecord
from sdk.errors import ConsensusError

#: The guard's file name in the node's data folder.
GUARD_FILE_NAME = "signed-height"
GUARD_FORMAT = "xinlian-signed-height"
GUARD_VERSION = 1


class SigningGuardError(ConsensusError):
    """The guard file exists but cannot be read as one (truncated, altered, another format): the node does
    not start rather than forget what it signed."""

    code = "signing_guard_unreadable"


class SigningHeld(ConsensusError):
    """Signing at this height is withheld: the database is behind what this validator already signed."""

    code = "signing_held"


@dataclass(frozen=True, slots=True)
class SignedMark:
    """The highest step this validator signed: (height, round, step) and the value signed (WAL digest)."""

    height: int
    round: int
    step: MessageKind
    digest: bytes

    @property
    def order(self) -> tuple[int, int, int]:
        return (self.height, self.round, int(self.step))

    def matches(self, record: WalRecord) -> bool:
        return (record.height, record.round, record.step, record.digest) == (
            self.height,
            self.round,
            self.step,
            self.digest,
        )


def _fields(mark: SignedMark) -> dict[str, object]:
    return {
        "format": GUARD_FORMAT,
        "version": GUARD_VERSION,
        "height": mark.height,
        "round": mark.round,
        "step": mark.step.name,
        "digest": mark.digest.hex(),
    }


def _checksum(fields: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def encode_mark(mark: SignedMark) -> bytes:
    """The guard file's bytes for ``mark``: one JSON line with a SHA-256 of its fields."""
    fields = _fields(mark)
    return (json.dumps({**fields, "sha256": _checksum(fields)}, sort_keys=True) + "\n").encode()


def decode_mark(data: bytes, *, path: str = "") -> SignedMark:
    """The mark in a guard file's bytes. Raises SigningGuardError for anything but a well-formed mark."""
    try:
        raw = json.loads(data.decode("utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not an object")
        checksum = raw.pop("sha256")
        if raw.get("format") != GUARD_FORMAT or raw.get("version") != GUARD_VERSION:
            raise ValueError("another format or version")
        mark = SignedMark(
            height=raw["height"],
            round=raw["round"],
            step=MessageKind[raw["step"]],
            digest=bytes.fromhex(raw["digest"]),
        )
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (mark.height, mark.round)
        ):
            raise ValueError("height and round are whole numbers")
        if _fields(mark) != raw or checksum != _checksum(raw):
            raise ValueError("the checksum does not match")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise SigningGuardError(
            f"the signing guard file cannot be read ({exc}); it records what this validator signed, so the "
            "node does not start without it: see docs/operations.md (backups)",
            path=path,
        ) from exc
    return mark


class SigningGuard:
    """The guard file of one validator: read at start, advanced (never lowered) before a signed step leaves.

    ``hold_through`` is the height up to which signing is withheld (-1: none); ``arm`` sets it at start.
    Thread-safe.
    """

    def __init__(self, path: Path) -> None:
        """Read the guard at ``path`` (absent: nothing signed yet). Raises SigningGuardError if unreadable."""
        self.path = path
        self.hold_through = -1
        self._lock = threading.Lock()
        self._mark: SignedMark | None = None
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise SigningGuardError(f"the signing guard file cannot be read: {exc}", path=str(path)) from exc
        self._mark = decode_mark(data, path=str(path))

    @classmethod
    def in_folder(cls, data_dir: Path) -> SigningGuard:
        """The guard of the node whose data folder is ``data_dir``."""
        return cls(Path(data_dir) / GUARD_FILE_NAME)

    @property
    def mark(self) -> SignedMark | None:
        """The highest step signed, or None when this validator never signed (or the file was never made)."""
        return self._mark

    def arm(self, head_height: int, wal_records: Callable[[int], tuple[WalRecord, ...]]) -> int:
        """At start: withhold signing through the guarded height when the database does not reach it.

        The database reaches the guard when its head is at or above the guarded height, or its WAL holds
        the guarded step itself (a restart after a crash: the WAL is written before the guard). Otherwise
        the database was rolled back (a restored backup) and may lack steps this validator signed.
        Returns ``hold_through`` (-1 when nothing is withheld).
        """
        mark = self._mark
        if mark is None or head_height >= mark.height:
            return self.hold_through
        if any(mark.matches(record) for record in wal_records(mark.height)):
            return self.hold_through
        self.hold_through = mark.height
        return self.hold_through

    def is_held(self, height: int) -> bool:
        """Whether signing at ``height`` is withheld."""
        return height <= self.hold_through

    def check(self, height: int) -> None:
        """Raise SigningHeld when signing at ``height`` is withheld."""
        if height <= self.hold_through:
            raise SigningHeld(
                "signing is withheld: the database is behind what this validator signed before",
                height=height,
                held_through=self.hold_through,
            )

    def advance(self, mark: SignedMark) -> None:
        """Record ``mark`` durably if it is above the current one (write a temporary file, sync it, rename
        it over the guard, sync the folder). Raises OSError when it cannot be made durable."""
        with self._lock:
            current = self._mark
            if current is not None and mark.order <= current.order:
                return
            tmp = self.path.with_name(self.path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, encode_mark(mark))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            _fsync_folder(self.path.parent)
            self._mark = mark


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # some filesystems refuse to sync a directory
            os.fsync(fd)
    finally:
        os.close(fd)


class GuardedWal:
    """ConsensusWal that consults the signing guard: every signed step of the core passes ``append`` before
    it may leave the node, so this is the one place the guard is kept.

    ``append`` refuses (SigningHeld) a step at a withheld height, writes the WAL record, then advances the
    guard; the core counts a refusal in ``refused_to_sign`` and sends nothing.
    """

    def __init__(self, inner: ConsensusWal, guard: SigningGuard) -> None:
        self.inner = inner
        self.guard = guard

    def append(self, record: WalRecord) -> None:
        """Check the guard, persist ``record``, then advance the guard past it.

        Raises SigningHeld, EquivocationRefused, StorageError, or ConsensusError when the guard file cannot
        be written (then the message is not sent: the WAL holds it, and a restart repeats the same value).
        """
        self.guard.check(record.height)
        self.inner.append(record)
        try:
            self.guard.advance(SignedMark(record.height, record.round, record.step, record.digest))
        except OSError as exc:
            raise ConsensusError(
                f"the signing guard file cannot be written: {exc}", code="signing_guard_unwritable"
            ) from exc

    def get_records(self, height: int) -> tuple[WalRecord, ...]:
        return self.inner.get_records(height)

    def prune_below(self, height: int) -> None:
        self.inner.prune_below(height)
