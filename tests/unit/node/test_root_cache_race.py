"""The ledger's per-root answer caches (sender activity, organisation) are filled by API and gossip threads
without the ledger lock while a block commit keeps only the new root's entries. Iterating the cache in
Python while another thread inserts raised "dictionary changed size during iteration" inside
``Ledger.commit_block`` and stopped a validator's consensus driver (seen once in the 4-validator crash test).
``entries_at_root`` must survive any number of concurrent inserts."""

from __future__ import annotations

import threading

from node.ledger.chain import entries_at_root

OLD, NEW = b"\x01" * 32, b"\x02" * 32


def test_keeping_one_roots_entries_survives_concurrent_inserts() -> None:
    cache: dict[tuple[bytes, bytes], bool] = {(OLD, i.to_bytes(20, "big")): True for i in range(50_000)}
    cache.update({(NEW, i.to_bytes(20, "big")): True for i in range(50_000)})
    stop = threading.Event()

    def insert() -> None:  # the size changes all the time, as it does while threads fill the cache
        keys = [(OLD, n.to_bytes(20, "big")) for n in range(10**6, 10**6 + 1_000)]
        while not stop.is_set():
            for key in keys:
                cache[key] = True
            for key in keys:
                del cache[key]

    writer = threading.Thread(target=insert)
    writer.start()
    try:
        for _ in range(30):
            kept = entries_at_root(cache, NEW)
            assert len(kept) == 50_000
            assert all(root == NEW for root, _ in kept)
    finally:
        stop.set()
        writer.join()
