"""QBFT in simulation: a seeded sweep over n in {1, 4, 7} and named fault scenarios; failures name seeds."""

from __future__ import annotations

import os

import pytest
from simulator import Profile, Simulation, SimulationFailure, duplicating_profile_for_seed, profile_for_seed

from node.consensus.core import compute_max_faulty

#: Share of the sweep's seeds per validator count (n = 7 runs cost the most).
SEED_SHARE = {1: 0.2, 4: 0.45, 7: 0.35}
DEFAULT_SEEDS = 1_000
#: Seeds per validator count of the sweep whose Byzantine validators pad quorums (bounded: ~0.2 s a run).
DUPLICATING_SEEDS = 24


def _sweep(config: pytest.Config) -> list[tuple[int, int]]:
    seed = config.getoption("--seed", default=None) or os.environ.get("XINLIAN_SIM_SEED")
    n_choice = config.getoption("--sim-n", default=None) or os.environ.get("XINLIAN_SIM_N")
    if seed is not None:
        sizes = [int(n_choice)] if n_choice else list(SEED_SHARE)
        return [(n, int(seed)) for n in sizes]
    total = int(os.environ.get("XINLIAN_SIM_SEEDS", str(DEFAULT_SEEDS)))
    cases: list[tuple[int, int]] = []
    for n, share in SEED_SHARE.items():
        cases += [(n, s) for s in range(max(1, round(total * share)))]
    return cases


def _duplicating_sweep(config: pytest.Config) -> list[tuple[int, int]]:
    seed = config.getoption("--seed", default=None) or os.environ.get("XINLIAN_SIM_SEED")
    n_choice = config.getoption("--sim-n", default=None) or os.environ.get("XINLIAN_SIM_N")
    sizes = [int(n_choice)] if n_choice else [4, 7]
    if seed is not None:
        return [(n, int(seed)) for n in sizes]
    return [(n, s) for n in sizes for s in range(DUPLICATING_SEEDS)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if {"n", "seed"} <= set(metafunc.fixturenames):
        cases = _sweep(metafunc.config)
        metafunc.parametrize(("n", "seed"), cases, ids=[f"n{n}-seed{s}" for n, s in cases])
    if {"dup_n", "dup_seed"} <= set(metafunc.fixturenames):
        cases = _duplicating_sweep(metafunc.config)
        metafunc.parametrize(("dup_n", "dup_seed"), cases, ids=[f"n{n}-seed{s}" for n, s in cases])


@pytest.mark.slow
def test_seeded_run(n: int, seed: int) -> None:
    """Safety after every step, liveness after healing, for the seed's random mix of faults."""
    Simulation(profile_for_seed(n, seed)).run()


@pytest.mark.slow
def test_seeded_run_with_quorum_padding_byzantines(dup_n: int, dup_seed: int) -> None:
    """Up to f validators pad quorums with their own re-signed messages, mix in strangers' and forge
    certificates; besides agreement, every correct step must rest on enough distinct real signers.

    Replay one: pytest tests/simulation -k quorum_padding --seed S --sim-n N.
    """
    Simulation(duplicating_profile_for_seed(dup_n, dup_seed)).run()


# --- named scenarios ----------------------------------------------------------------------------------
def quiet(n: int, **overrides: object) -> Profile:
    """A profile with no random faults: scenario tests script their own."""
    fields: dict[str, object] = {"n": n, "seed": 0, "crashes": 0, "partitions": 0, "clock_skew_ms": 0}
    fields.update(overrides)
    return Profile(**fields)  # type: ignore[arg-type]


def test_single_validator_commits_through_the_same_code_path() -> None:
    sim = Simulation(quiet(1))
    sim.boot()
    sim.heal()
    sim.run_until_height(10, deadline_ms=10 * 500 + 1_000)
    assert sim.nodes[0].core is not None and sim.nodes[0].core.quorum == 1


def test_four_validators_commit_one_chain_at_the_block_period() -> None:
    sim = Simulation(quiet(4))
    sim.boot()
    sim.heal()
    sim.run_until_height(6, deadline_ms=6 * 600 + 500)
    chains = {tuple(b.hash for b in node.app.chain[:7]) for node in sim.nodes}
    assert len(chains) == 1
    assert all(len(c.seals) >= 3 for node in sim.nodes for c in node.app.certificates[1:7] if c)


def test_one_of_four_down_continues_two_down_stalls_restart_resumes() -> None:
    """Besu's soak test in miniature: stop one (continue), stop two (stall), restart (resume)."""
    sim = Simulation(quiet(4))
    sim.boot()
    sim.heal()
    sim.run_until(3_000)
    sim.crash(3)
    start = max(sim.heights()[:3])
    sim.run_until_height(start + 3, deadline_ms=sim.now_ms + 20_000)
    sim.crash(2)
    stalled = sim.heights()
    sim.run_until(sim.now_ms + 30_000)
    assert sim.heights() == stalled, "two of four down must stall (no quorum of 3)"
    sim.restart(2)
    sim.restart(3)
    sim.run_until_height(max(stalled) + 2, deadline_ms=sim.now_ms + 60_000)


def test_even_split_partition_stalls_then_heals() -> None:
    sim = Simulation(quiet(4, drop_p=0.0))
    sim.boot()
    sim.run_until(2_000)
    sim.partition = {0: 0, 1: 0, 2: 1, 3: 1}
    before = sim.heights()
    sim.run_until(sim.now_ms + 20_000)
    # Blocks already decided may still land, but no new height is committed by a 2-2 split.
    assert max(sim.heights()) <= max(before) + 1
    sim.heal()
    sim.run_until_height(max(sim.heights()) + 2, deadline_ms=sim.now_ms + 60_000)


@pytest.mark.parametrize("seed", range(6))
def test_restarted_validators_never_sign_two_values(seed: int) -> None:
    """Crash-restart storms with the WAL: the simulator checks every signed message of correct nodes."""
    profile = Profile(n=4, seed=seed, crashes=8, drop_p=0.1, fault_ms=8_000, partitions=1)
    Simulation(profile).run()


def test_amnesia_without_the_wal_is_caught_as_double_signing() -> None:
    """Negative control: wiping the WAL on restart makes the same storms produce a second signed value."""
    failures = 0
    for seed in range(12):
        profile = Profile(n=4, seed=seed, crashes=8, drop_p=0.1, fault_ms=8_000, amnesia=True)
        try:
            Simulation(profile).run()
        except SimulationFailure as exc:
            assert "signed two values" in str(exc) or "fork" in str(exc)
            failures += 1
    assert failures > 0, "the double-signing check never fired: it cannot catch amnesia"


@pytest.mark.parametrize("n", [4, 7])
def test_byzantine_validators_up_to_f_cannot_fork_or_stall(n: int) -> None:
    byzantine = tuple(range(compute_max_faulty(n)))
    tricks = ("equivocate", "conflicting_votes", "bad_seals", "forged_justification", "future", "stale")
    for seed in range(3):
        profile = Profile(
            n=n, seed=seed, byzantine=byzantine, byzantine_tricks=tricks, outsider=True, drop_p=0.1
        )
        Simulation(profile).run()


def test_rerounding_under_a_round_covering_hash_forks_the_chain() -> None:
    """Why SimApp (and Xinlian's ledger) re-propose prepared blocks unchanged.

    With Dafny/Besu re-rounding, one validator may commit the round-0 header while the others commit the
    same payload re-rounded to round 1: two block hashes at one height once the hash covers the round.
    Seed 29 with n = 4 reproduces it; the unchanged re-proposal (the default) commits one chain.
    """
    profile = profile_for_seed(4, 29)
    Simulation(profile).run()
    with pytest.raises(SimulationFailure, match="fork at height"):
        Simulation(Profile(**{**profile.__dict__, "reround": True})).run()


# --- quorums padded by one validator ------------------------------------------------------------------
def padding(n: int, tricks: tuple[str, ...], seed: int, **overrides: object) -> Profile:
    """Validator 1 (of 4) or validators 1 and 2 (of 7) play ``tricks``; the network drops some messages."""
    byzantine = (1,) if n == 4 else (1, 2)
    fields: dict[str, object] = {"n": n, "seed": seed, "byzantine": byzantine, "byzantine_tricks": tricks}
    fields.update({"drop_p": 0.05, "fault_ms": 6_000, **overrides})
    return Profile(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [4, 7])
def test_padded_prepare_certificates_never_steer_a_correct_node(n: int) -> None:
    """ROUND-CHANGEs and re-proposals 'proven' by one validator's PREPAREs repeated, or by PREPAREs for
    other values or from a non-validator: refused, so no correct node prepares the forged block."""
    refused = 0
    for seed in range(3):
        sim = Simulation(padding(n, ("duplicate_justification", "duplicate_round_change", "withhold"), seed))
        sim.run()
        reasons = sim.correct_reasons()
        refused += reasons["bad_prepared_certificate"] + reasons["justification_bad_prepares"]
    assert refused > 0, "no padded prepared certificate reached a correct node: the scenario tests nothing"


@pytest.mark.parametrize("n", [4, 7])
def test_padded_round_change_quorums_never_move_a_correct_node(n: int) -> None:
    """Proposals justified by one validator's ROUND-CHANGE re-signed quorum times (or with a stranger's),
    and f+1 copies of one ROUND-CHANGE for a later round: no correct node prepares, proposes or jumps."""
    refused = 0
    for seed in range(3):
        sim = Simulation(padding(n, ("duplicate_justification", "duplicate_round_change"), seed))
        sim.run()
        reasons = sim.correct_reasons()
        refused += reasons["justification_repeated_author"] + reasons["justification_non_validator"]
    assert refused > 0, "no padded justification reached a correct node: the scenario tests nothing"


def test_an_equivocating_proposers_re_signed_votes_never_make_a_quorum_for_its_twin() -> None:
    """The round-0 proposer gives one victim a twin block and quorum-many re-signed PREPAREs and COMMITs
    for it: the victim must neither COMMIT nor decide the twin (one validator is not a quorum)."""
    ignored = 0
    for seed in range(3):
        sim = Simulation(padding(4, ("duplicate_votes",), seed, drop_p=0.0))
        sim.run()
        ignored += sim.correct_ignored()["duplicate_vote"]
    assert ignored > 0, "no re-signed vote reached a correct node: the scenario tests nothing"


def test_synced_blocks_with_padded_or_strangers_certificates_are_refused() -> None:
    """A Byzantine peer answers sync requests first, with a forged block whose certificate repeats its
    own seal or adds seals from outside the set; the lagging node must wait for the real block."""
    sim = Simulation(padding(4, ("forged_certificate",), 0, drop_p=0.0))
    sim.boot()
    sim.heal()
    sim.run_until(3_000)
    sim.crash(3)
    sim.run_until(8_000)
    sim.restart(3)
    sim.run_until_height(max(sim.heights()) + 2, deadline_ms=sim.now_ms + 30_000)
    assert sim.correct_reasons()["synced_block_refused"] > 0
