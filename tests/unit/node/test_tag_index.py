"""TagIndex: a listing walks each block once per key, never returns a record above the asked head, and
remembers a bounded number of keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from node.api.tag_index import TagIndex

# A chain's matching records for one key: (height, id), in chain order.
RECORDS = [(1, 10), (3, 11), (3, 12), (7, 13), (9, 14)]


class Walker:
    """Scans RECORDS and remembers every range it was asked to walk."""

    def __init__(self) -> None:
        self.walked: list[tuple[int, int]] = []

    def __call__(self, from_height: int, to_height: int) -> Iterator[tuple[int, int]]:
        self.walked.append((from_height, to_height))
        return iter([(h, i) for h, i in RECORDS if from_height <= h <= to_height])


def test_each_block_is_walked_once_per_key_and_new_blocks_extend_the_answer() -> None:
    index, walk = TagIndex[int](), Walker()
    assert index.ids("k", 3, walk) == (10, 11, 12)
    assert index.ids("k", 3, walk) == (10, 11, 12)
    assert index.ids("k", 8, walk) == (10, 11, 12, 13)
    assert index.ids("k", 20, walk) == (10, 11, 12, 13, 14)
    assert walk.walked == [(0, 3), (4, 8), (9, 20)]


def test_a_lookup_at_an_older_head_sees_no_newer_record() -> None:
    index, walk = TagIndex[int](), Walker()
    index.ids("k", 20, walk)
    assert index.ids("k", 3, walk) == (10, 11, 12)
    assert index.ids("k", 0, walk) == ()
    assert walk.walked == [(0, 20)]


def test_keys_are_separate_and_the_least_recently_used_key_leaves_first() -> None:
    index, walk = TagIndex[int](capacity=2), Walker()
    index.ids("a", 5, walk)
    index.ids("b", 5, walk)
    index.ids("a", 5, walk)  # "a" used last: "b" is the oldest
    index.ids("c", 5, walk)
    assert len(index) == 2
    walk.walked.clear()
    index.ids("a", 5, walk)
    index.ids("b", 5, walk)
    assert walk.walked == [(0, 5)]  # only "b" was forgotten and walked again from genesis


def test_a_walk_that_fails_remembers_nothing() -> None:
    index = TagIndex[int]()

    def broken(_from: int, _to: int) -> Iterator[tuple[int, int]]:
        yield (1, 10)
        raise OSError("storage went away")

    with pytest.raises(OSError):
        index.ids("k", 5, broken)
    walk = Walker()
    assert index.ids("k", 5, walk) == (10, 11, 12)
    assert walk.walked == [(0, 5)]


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TagIndex[int](capacity=0)


def test_an_index_of_caller_chosen_keys_forgets_keys_that_matched_nothing() -> None:
    index, walk = TagIndex[int](capacity=2, remember_empty=False), Walker()
    index.ids("real", 5, walk)
    for n in range(10):  # random keys match nothing and take no room
        index.ids(f"random-{n}", 5, lambda _f, _t: iter(()))
    assert len(index) == 1
    walk.walked.clear()
    assert index.ids("real", 5, walk) == (10, 11, 12)
    assert walk.walked == []
