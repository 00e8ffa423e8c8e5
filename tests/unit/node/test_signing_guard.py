"""The signing guard file: monotonic, atomic, unreadable → typed error (never silently reset), and the
WAL wrapper that consults it before a signed step may leave the node."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from node.consensus.messages import MessageKind
from node.consensus.signing_guard import (
    GUARD_FILE_NAME,
    GuardedWal,
    SignedMark,
    SigningGuard,
    SigningGuardError,
    SigningHeld,
    decode_mark,
    encode_mark,
)
from node.consensus.wal import EquivocationRefused, InMemoryWal, WalRecord
from sdk.errors import ConsensusError


def record(
    height: int, round_: int = 0, step: MessageKind = MessageKind.PREPARE, digest: bytes = b"\x01" * 32
):
    return WalRecord(height, round_, step, digest)


def test_a_missing_guard_means_nothing_signed_and_nothing_held(tmp_path: Path) -> None:
    guard = SigningGuard.in_folder(tmp_path)
    assert guard.mark is None
    assert guard.arm(0, lambda h: ()) == -1
    guard.check(1)


def test_the_guard_only_moves_up_and_survives_a_reopen(tmp_path: Path) -> None:
    guard = SigningGuard.in_folder(tmp_path)
    guard.advance(SignedMark(5, 1, MessageKind.PREPARE, b"\x02" * 32))
    guard.advance(SignedMark(5, 1, MessageKind.COMMIT, b"\x02" * 32))
    guard.advance(SignedMark(5, 0, MessageKind.COMMIT, b"\x03" * 32))  # lower: ignored
    guard.advance(SignedMark(4, 9, MessageKind.ROUND_CHANGE, b"\x04" * 32))  # lower: ignored
    expected = SignedMark(5, 1, MessageKind.COMMIT, b"\x02" * 32)
    assert guard.mark == expected
    assert SigningGuard.in_folder(tmp_path).mark == expected
    assert not (tmp_path / (GUARD_FILE_NAME + ".tmp")).exists()  # written beside, then renamed over


def test_a_write_that_dies_before_the_rename_leaves_the_old_mark(tmp_path: Path, monkeypatch) -> None:
    guard = SigningGuard.in_folder(tmp_path)
    guard.advance(SignedMark(3, 0, MessageKind.COMMIT, b"\x05" * 32))

    def crash(src, dst):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        guard.advance(SignedMark(4, 0, MessageKind.PREPARE, b"\x06" * 32))
    monkeypatch.undo()
    assert SigningGuard.in_folder(tmp_path).mark == SignedMark(3, 0, MessageKind.COMMIT, b"\x05" * 32)
    assert guard.mark == SignedMark(3, 0, MessageKind.COMMIT, b"\x05" * 32)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: data.replace(b'"height": 7', b'"height": 2'), id="height-lowered"),
        pytest.param(lambda data: b"\xff\xfe garbage", id="garbage"),
        pytest.param(lambda data: b"[1, 2]", id="not-an-object"),
    ],
)
def test_an_unreadable_guard_is_a_typed_error_not_a_reset(tmp_path: Path, damage) -> None:
    SigningGuard.in_folder(tmp_path).advance(SignedMark(7, 2, MessageKind.COMMIT, b"\x07" * 32))
    path = tmp_path / GUARD_FILE_NAME
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(SigningGuardError) as refused:
        SigningGuard.in_folder(tmp_path)
    assert refused.value.code == "signing_guard_unreadable"
    assert path.exists()  # left for the operator to look at


def test_encoding_round_trips() -> None:
    mark = SignedMark(2**40, 3, MessageKind.ROUND_CHANGE, bytes(range(32)))
    assert decode_mark(encode_mark(mark)) == mark


def test_a_database_behind_the_guard_holds_signing_through_the_guarded_height(tmp_path: Path) -> None:
    guard = SigningGuard.in_folder(tmp_path)
    guard.advance(SignedMark(10, 1, MessageKind.COMMIT, b"\x0a" * 32))
    restored = SigningGuard.in_folder(tmp_path)
    assert restored.arm(6, lambda height: ()) == 10  # head 6, WAL without the step: rolled back
    wal = GuardedWal(InMemoryWal(), restored)
    for height in (7, 10):
        with pytest.raises(SigningHeld):
            wal.append(record(height))
    assert len(wal.inner) == 0  # nothing reached the WAL
    wal.append(record(11))  # past the guarded height: signs again, and the guard moves on
    assert restored.mark == SignedMark(11, 0, MessageKind.PREPARE, b"\x01" * 32)


def test_a_crash_restart_whose_wal_holds_the_guarded_step_is_not_held(tmp_path: Path) -> None:
    inner = InMemoryWal()
    wal = GuardedWal(inner, SigningGuard.in_folder(tmp_path))
    wal.append(record(10, 0, MessageKind.PREPARE))
    wal.append(record(10, 0, MessageKind.COMMIT))
    restarted = SigningGuard.in_folder(tmp_path)
    assert restarted.arm(9, inner.get_records) == -1
    assert restarted.arm(10, lambda height: ()) == -1  # the head passed it: nothing to hold


def test_the_wal_is_written_before_the_guard_and_equivocation_still_refused(tmp_path: Path) -> None:
    guard = SigningGuard.in_folder(tmp_path)
    wal = GuardedWal(InMemoryWal(), guard)
    wal.append(record(3, digest=b"\x01" * 32))
    with pytest.raises(EquivocationRefused):
        wal.append(record(3, digest=b"\x02" * 32))
    assert guard.mark is not None and guard.mark.digest == b"\x01" * 32


def test_a_guard_that_cannot_be_written_refuses_the_step(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()
    wal = GuardedWal(InMemoryWal(), SigningGuard.in_folder(folder))
    folder.rmdir()
    with pytest.raises(ConsensusError) as refused:
        wal.append(record(1))
    assert refused.value.code == "signing_guard_unwritable"
