"""Group commit: callers that arrive while a batch is being written share the next one; each returns only
after its own item was written, and a failed batch fails every caller in it."""

from __future__ import annotations

import threading
import time

import pytest

from node.storage.group_commit import GroupCommit
from sdk.errors import StorageError

WAITERS = 5


class Disk:
    """A batch writer that holds its first batch until released and fails the call numbered ``fail_call``."""

    def __init__(self, fail_call: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.calls = 0
        self.fail_call = fail_call
        self.release_first = threading.Event()
        self.first_started = threading.Event()

    def write(self, items: list[int]) -> None:
        call, self.calls = self.calls, self.calls + 1
        if call == 0:
            self.first_started.set()
            self.release_first.wait(timeout=30)
        if call == self.fail_call:
            raise StorageError("disk full")
        self.batches.append(list(items))

    def written(self) -> list[int]:
        return [item for batch in self.batches for item in batch]


def queue_behind_a_slow_batch(
    group: GroupCommit[int], disk: Disk
) -> tuple[list[threading.Thread], dict[int, object]]:
    """Start a writer whose batch (item 0) blocks, then WAITERS callers (items 1..) that queue behind it.

    Returns the threads and, per item, what its caller saw: "written" when its item was in a written
    batch at its return, or the exception it raised.
    """
    outcome: dict[int, object] = {}

    def call(item: int) -> None:
        try:
            group.write(item)
            outcome[item] = "written" if item in disk.written() else "returned early"
        except StorageError as exc:
            outcome[item] = exc

    threads = [threading.Thread(target=call, args=(0,))]
    threads[0].start()
    assert disk.first_started.wait(timeout=30)
    for item in range(1, WAITERS + 1):
        thread = threading.Thread(target=call, args=(item,))
        thread.start()
        threads.append(thread)
    # The private queue is the only witness that every caller is waiting for the next batch.
    deadline = time.monotonic() + 30
    while len(group._queue) < WAITERS:
        assert time.monotonic() < deadline, "the callers did not queue"
        time.sleep(0.005)
    return threads, outcome


def test_one_caller_writes_its_own_batch_and_sees_the_writers_error_unchanged() -> None:
    disk = Disk(fail_call=1)
    disk.release_first.set()
    group: GroupCommit[int] = GroupCommit(disk.write)
    group.write(7)
    assert disk.batches == [[7]]
    with pytest.raises(StorageError, match=r"^disk full$"):
        group.write(8)
    group.write(9)
    assert disk.batches == [[7], [9]]


def test_callers_arriving_during_a_write_share_the_next_batch_and_return_after_it() -> None:
    disk = Disk()
    group: GroupCommit[int] = GroupCommit(disk.write)
    threads, outcome = queue_behind_a_slow_batch(group, disk)
    disk.release_first.set()
    for thread in threads:
        thread.join(timeout=30)
    assert disk.batches == [[0], list(range(1, WAITERS + 1))]
    assert outcome == dict.fromkeys(range(WAITERS + 1), "written")


def test_a_failed_batch_fails_every_caller_in_it_and_the_next_batch_is_written() -> None:
    disk = Disk(fail_call=1)  # the batch of the callers queued behind the first
    group: GroupCommit[int] = GroupCommit(disk.write)
    threads, outcome = queue_behind_a_slow_batch(group, disk)
    disk.release_first.set()
    for thread in threads:
        thread.join(timeout=30)
    assert outcome[0] == "written"
    failures = [outcome[item] for item in range(1, WAITERS + 1)]
    assert all(isinstance(failure, StorageError) and "disk full" in str(failure) for failure in failures)
    group.write(99)
    assert disk.batches == [[0], [99]]


def test_many_items_of_one_caller_go_into_one_batch_behind_a_running_write() -> None:
    disk = Disk()
    group: GroupCommit[int] = GroupCommit(disk.write)
    threads, _ = queue_behind_a_slow_batch(group, disk)
    seen_at_return: list[int] = []

    def write_three() -> None:
        group.write_many([100, 101, 102])
        seen_at_return.extend(disk.written())

    many = threading.Thread(target=write_three)
    many.start()
    deadline = time.monotonic() + 30
    while len(group._queue) < WAITERS + 3:
        assert time.monotonic() < deadline, "the items did not queue"
        time.sleep(0.005)
    disk.release_first.set()
    for thread in [*threads, many]:
        thread.join(timeout=30)
    assert disk.batches == [[0], [*range(1, WAITERS + 1), 100, 101, 102]]
    assert {100, 101, 102} <= set(seen_at_return)  # returned only once its items were written
    group.write_many([])
    assert len(disk.batches) == 2  # nothing to write: no transaction
