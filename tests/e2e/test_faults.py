"""The fault loop, short: a 4-validator devnet under load through kill -9 of one and of two validators,
SIGSTOP, and two network partitions (one node cut off; two against two), with nodes 0 and 1 on PostgreSQL
and nodes 2 and 3 on their own SQLite files (all four on SQLite where no PostgreSQL is given). The seed puts
kill -9 on a PostgreSQL node, on one of each, and SIGSTOP and the lone partition on SQLite nodes; one run
covers both databases (two runs, one per database, took twice the suite's time for the same faults).

Each ends healed with every node agreeing block by block and every transaction a node accepted (202)
committed. The partitions are checked to be real: two against two commit nothing (no side has a quorum
of 3), and a node cut off alone stays behind while the other three go on. scripts/bench/faults.py runs
the same faults for as long as asked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.bench.faults import VALIDATORS, FaultResult, postgres_schemas, run_faults

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PG_URL = os.environ.get("XINLIAN_TEST_PG_URL")
SEED = 20_261_205
ON_POSTGRES = 2  # nodes 0 and 1


@pytest.fixture
def database_urls() -> Iterator[list[str | None]]:
    if PG_URL is None:
        yield []
        return
    with postgres_schemas(PG_URL, ON_POSTGRES) as urls:
        yield [*urls, *[None] * (VALIDATORS - ON_POSTGRES)]


def _check_partitions_were_real(result: FaultResult) -> None:
    for seen in result.observed:
        if seen.fault.startswith("partition ["):  # two against two
            moved = [
                late - early
                for early, late in zip(seen.early, seen.late, strict=True)
                if early is not None and late is not None
            ]
            assert moved and max(moved) == 0, f"{seen.fault}: a side without quorum committed: {seen}"
        elif seen.fault.startswith("partition {"):
            lone = int(seen.fault.split("{")[1].split("}")[0])
            early, late = seen.early[lone], seen.late[lone]
            assert early is not None and late == early, f"{seen.fault}: the lone node moved: {seen}"
            # The other three go on. A node too busy to answer /health within its timeout is not evidence
            # either way; two of the three seen moving on (a quorum needs all three) is.
            others = [
                (e, la)
                for i, (e, la) in enumerate(zip(seen.early, seen.late, strict=True))
                if i != lone and e is not None and la is not None
            ]
            assert len(others) >= 2 and all(la > e for e, la in others), seen


def test_faults_under_load_lose_no_accepted_write_and_end_in_agreement(
    tmp_path: Path, database_urls: list[str | None]
) -> None:
    result = run_faults(
        tmp_path / "net",
        rounds=1,
        # Long enough for the connected side to decide a block even after a round change on a busy machine.
        seconds_each=10,
        settle_s=3,
        rate=10,
        seed=SEED,
        database_urls=database_urls,
        log=lambda _message: None,
    )
    summary = result.to_json()
    assert result.accepted > 50, summary  # the load went on through the faults
    assert result.lost == [], summary
    assert result.disagreements == [], summary
    assert result.agreed_through >= max(result.heights) - 1, summary
    assert len(result.faults) == 5, summary
    if database_urls:  # the faults the docstring promises land on both databases
        assert result.faults[0] == "kill -9 node 0" and result.faults[1] == "kill -9 nodes 0 and 2", summary
        assert result.faults[2] == "SIGSTOP node 2" and result.faults[3] == "partition {3} | rest", summary
    _check_partitions_were_real(result)
