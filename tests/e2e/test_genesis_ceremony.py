"""The genesis ceremony of four independent organisations, each in its own folder (its own machine), through
the real `xinlian` CLI: keys, member files, assembling, signing, sealing, node configs; then four node
processes commit a transaction. Also: nodes refuse a genesis without a quorum of valid validator
signatures, and no private key leaves its organisation's folder."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.config import ConfigError, NodeConfig
from node.genesis import GenesisFile, GenesisSignature
from node.runtime import Node
from tests.e2e.helpers import (
    CEREMONY_CHAIN_ID as CHAIN_ID,
    REPO_CLI as xinlian,
    Ceremony,
    NodeProcess,
    commit_grant,
    run_ceremony,
    start_ceremony_nodes,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def ceremony(tmp_path_factory: pytest.TempPathFactory) -> Ceremony:
    return run_ceremony(tmp_path_factory.mktemp("ceremony"))


@pytest.fixture
def passwords(ceremony: Ceremony, monkeypatch: pytest.MonkeyPatch) -> Ceremony:
    """The organisations' key passwords in the environment (each node reads its own variable)."""
    for name, value in ceremony.passwords.items():
        monkeypatch.setenv(name, value)
    return ceremony


@pytest.fixture
def nodes(passwords: Ceremony) -> Iterator[list[NodeProcess]]:
    with start_ceremony_nodes(passwords) as processes:
        yield processes


def test_four_organisations_commit_a_transaction_on_a_sealed_genesis(
    ceremony: Ceremony, nodes: list[NodeProcess]
) -> None:
    _, committed = commit_grant(ceremony, nodes)  # the accreditor makes the bank an auditor too
    assert len(set(committed)) == 1
    genesis = GenesisFile.load(ceremony.sealed)
    assert len(genesis.signatures) == 4 and len(genesis.spec.validators) == 4


def test_no_private_key_leaves_its_organisation(ceremony: Ceremony) -> None:
    every_file = [p for p in ceremony.coordinator.parent.rglob("*") if p.is_file()]
    for path in every_file:
        if ceremony.coordinator in path.parents:
            assert b"PRIVATE KEY" not in path.read_bytes(), f"the coordinator holds a private key: {path}"
    for org in ceremony.orgs:
        secrets: list[bytes] = []
        for file in ("account.pem", "validator.pem"):
            pem = (org.keys / file).read_bytes()
            assert b"ENCRYPTED PRIVATE KEY" in pem
            assert (org.keys / file).stat().st_mode & 0o077 == 0
            scalar = org.private_key(file).to_bytes()
            secrets += [pem.strip().splitlines()[1], scalar, scalar.hex().encode()]
        for path in every_file:
            if org.folder in path.parents:
                continue
            data = path.read_bytes()
            assert not any(s in data for s in secrets), f"{path} holds a key of {org.folder.name}"
        member = json.loads((org.folder / "member.json").read_text())
        assert "PRIVATE" not in json.dumps(member).upper()


# --- nodes refuse a genesis without a quorum of valid validator signatures ---------------------------------
def config_with_genesis(ceremony: Ceremony, genesis: GenesisFile, tmp_path: Path) -> NodeConfig:
    """Organisation A's node config, on a fresh data folder, loading ``genesis``."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "genesis.json"
    path.write_text(genesis.to_json(), encoding="utf-8")
    config = NodeConfig.load(ceremony.orgs[0].config)
    return dataclasses.replace(config, genesis_path=str(path), data_dir=str(tmp_path / "data"))


def refusal(ceremony: Ceremony, genesis: GenesisFile, tmp_path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        Node(config_with_genesis(ceremony, genesis, tmp_path))
    assert info.value.code == "genesis_unsigned"
    return info.value


def test_a_node_refuses_too_few_signatures(passwords: Ceremony, tmp_path: Path) -> None:
    sealed = GenesisFile.load(passwords.sealed)
    error = refusal(passwords, dataclasses.replace(sealed, signatures=sealed.signatures[:2]), tmp_path)
    assert (error.detail["found"], error.detail["needed"]) == (2, 3)
    assert "2 valid validator signature(s)" in error.message and "need 3" in error.message
    # With three of four (the quorum), it starts.
    Node(
        config_with_genesis(
            passwords, dataclasses.replace(sealed, signatures=sealed.signatures[:3]), tmp_path
        )
    ).stop()


def test_a_node_refuses_invalid_and_foreign_signatures(passwords: Ceremony, tmp_path: Path) -> None:
    sealed = GenesisFile.load(passwords.sealed)
    broken = tuple(
        GenesisSignature(s.validator, s.signature[:-1] + bytes([s.signature[-1] ^ 1]))
        for s in sealed.signatures
    )
    assert (
        refusal(passwords, dataclasses.replace(sealed, signatures=broken), tmp_path / "a").detail["found"]
        == 0
    )
    # Signatures of keys that are not genesis validators (here the organisations' account keys) count for
    # nothing, even over the right hash.
    genesis_hash = bytes.fromhex(refusal(passwords, sealed.with_signatures(()), tmp_path / "b").detail[
        "genesis_hash"].removeprefix("0x"))  # fmt: skip
    outsiders = tuple(
        GenesisSignature.create(org.private_key("account.pem"), CHAIN_ID, genesis_hash)
        for org in passwords.orgs
    )
    assert (
        refusal(passwords, dataclasses.replace(sealed, signatures=outsiders), tmp_path / "c").detail["found"]
        == 0
    )


def test_a_node_refuses_signatures_for_another_chain(passwords: Ceremony, tmp_path: Path) -> None:
    sealed = GenesisFile.load(passwords.sealed)
    genesis_hash = bytes.fromhex(refusal(passwords, sealed.with_signatures(()), tmp_path / "a").detail[
        "genesis_hash"].removeprefix("0x"))  # fmt: skip
    other_chain = tuple(
        GenesisSignature.create(org.private_key("validator.pem"), CHAIN_ID + 1, genesis_hash)
        for org in passwords.orgs
    )
    error = refusal(passwords, dataclasses.replace(sealed, signatures=other_chain), tmp_path / "b")
    assert error.detail["found"] == 0


def test_the_unsealed_genesis_stops_node_run_with_a_clear_error(passwords: Ceremony, tmp_path: Path) -> None:
    org = passwords.orgs[0]
    config = json.loads(org.config.read_text())
    config.update(genesis_path=str(passwords.coordinator / "genesis.json"), data_dir=str(tmp_path / "data"))
    path = tmp_path / "node.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    out = xinlian("node", "run", "--config", path, ok=False)
    assert "genesis_unsigned" in out or "0 valid validator signature(s)" in out
    assert "need 3" in out


def test_seal_refuses_a_signature_over_another_genesis(ceremony: Ceremony, tmp_path: Path) -> None:
    sig = json.loads((ceremony.coordinator / "sig-org-a.json").read_text())
    sig["genesis_hash"] = "0x" + "11" * 32
    (tmp_path / "sig-bad.json").write_text(json.dumps(sig), encoding="utf-8")
    signatures = [tmp_path / "sig-bad.json", *sorted(ceremony.coordinator.glob("sig-org-[bcd].json"))]
    out = xinlian(
        "genesis",
        "seal",
        ceremony.coordinator / "genesis.json",
        *signatures,
        "--out",
        tmp_path / "s.json",
        ok=False,
    )
    assert "not this one" in out and not (tmp_path / "s.json").exists()
