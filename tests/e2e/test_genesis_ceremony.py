"""The genesis ceremony of four independent organisations, each in its own folder (its own machine), through
the real `xinlian` CLI: keys, member files, assembling, signing, sealing, node configs; then four node
processes commit a transaction. Also: nodes refuse a genesis without a quorum of valid validator
signatures, and no private key leaves its organisation's folder."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.config import ConfigError, NodeConfig
from node.demo_network import make_uscc
from node.genesis import GLOBAL_SCOPE, GOVERNANCE_ADDRESS, GenesisFile, GenesisSignature
from node.runtime import Node
from scripts.bench.grants import encode_grant_role
from sdk.client import Client
from sdk.crypto import PrivateKey
from sdk.signer import Signer
from tests.e2e.helpers import REPO_ROOT, Network, NodeProcess, get_free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHAIN_ID = 6161
# (folder, name, roles asked for); the first organisation accredits auditors and grants one in the test.
ORGANISATIONS = (
    ("org-a", "Audit Accreditation Office", "AUDIT_ACCREDITOR"),
    ("org-b", "Commercial Bank of Example", "BANK"),
    ("org-c", "Example Certified Public Accountants", "AUDITOR"),
    ("org-d", "Provincial Drug Administration", "DRUG_REGULATOR"),
)


@dataclass(frozen=True)
class Org:
    folder: Path
    name: str
    uscc: str
    password_env: str
    password: str
    api_port: int

    @property
    def keys(self) -> Path:
        return self.folder / "keys"

    @property
    def config(self) -> Path:
        return self.folder / "node.json"

    def private_key(self, file: str) -> PrivateKey:
        return PrivateKey.from_pem((self.keys / file).read_bytes(), self.password.encode())


@dataclass(frozen=True)
class Ceremony:
    orgs: tuple[Org, ...]
    coordinator: Path  # the coordinator's folder: member files, the genesis, signatures; no private key

    @property
    def sealed(self) -> Path:
        return self.coordinator / "genesis.sealed.json"


def xinlian(*args: str | Path, env: dict[str, str] | None = None, ok: bool = True) -> str:
    """Run the `xinlian` CLI of this working tree (python -m sdk.cli) and return its output."""
    done = subprocess.run(
        [sys.executable, "-m", "sdk.cli", *map(str, args)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert (done.returncode == 0) == ok, f"xinlian {' '.join(map(str, args))} -> {done.returncode}:\n{output}"
    return output


def run_ceremony(base: Path) -> Ceremony:
    """Every step of docs/operations.md "four organisations on four machines", each in its own folder; only
    public files (member files, the genesis, signatures, the sealed genesis) are copied between folders."""
    coordinator = base / "coordinator"
    coordinator.mkdir(parents=True)
    orgs = []
    for i, (folder, name, role) in enumerate(ORGANISATIONS):
        org = Org(
            folder=base / folder,
            name=name,
            uscc=make_uscc("110000", 30_000_001 + i),
            password_env=f"XL_TEST_PW_{i}",
            password=f"pw-{folder}-{os.urandom(4).hex()}",
            api_port=get_free_port(),
        )
        env = {org.password_env: org.password}
        xinlian("genesis", "keys", "--dir", org.keys, "--password-env", org.password_env, env=env)
        xinlian(
            "genesis", "member", "--uscc", org.uscc, "--name", name, "--roles", role, "--keys", org.keys,
            "--p2p", f"127.0.0.1:{get_free_port()}", "--api", f"127.0.0.1:{org.api_port}",
            "--out", org.folder / "member.json",
        )  # fmt: skip
        shutil.copy(org.folder / "member.json", coordinator / f"{folder}.json")
        orgs.append(org)
    members = [coordinator / f"{folder}.json" for folder, _, _ in ORGANISATIONS]
    out = xinlian(
        "genesis", "assemble", *members, "--chain-id", str(CHAIN_ID), "--out", coordinator / "genesis.json",
        "--committee", orgs[0].uscc, "--committee", orgs[1].uscc, "--committee", orgs[2].uscc,
        "--param", "block_period_ms=100", "--json",
    )  # fmt: skip
    assembled = json.loads(out)
    assert (assembled["validators"], assembled["committee"], assembled["threshold"]) == (4, 3, 2)
    for org in orgs:  # each validator fetches the genesis, checks and signs it on its own machine
        shutil.copy(coordinator / "genesis.json", org.folder / "genesis.json")
        xinlian(
            "genesis", "sign", org.folder / "genesis.json", "--keys", org.keys,
            "--out", org.folder / "sig.json", "--password-env", org.password_env,
            env={org.password_env: org.password},
        )  # fmt: skip
        shutil.copy(org.folder / "sig.json", coordinator / f"sig-{org.folder.name}.json")
    signatures = sorted(coordinator.glob("sig-*.json"))
    xinlian(
        "genesis",
        "seal",
        coordinator / "genesis.json",
        *signatures,
        "--out",
        coordinator / "genesis.sealed.json",
    )
    for org in orgs:
        shutil.copy(coordinator / "genesis.sealed.json", org.folder / "genesis.sealed.json")
        for other in orgs:
            if other is not org:
                shutil.copy(
                    coordinator / f"{other.folder.name}.json", org.folder / f"peer-{other.folder.name}.json"
                )
        xinlian(
            "node", "init", "--keys", org.keys, "--member", org.folder / "member.json",
            "--genesis", org.folder / "genesis.sealed.json", *sorted(org.folder.glob("peer-*.json")),
            "--out", org.config, "--password-env", org.password_env,
        )  # fmt: skip
    return Ceremony(tuple(orgs), coordinator)


@pytest.fixture(scope="module")
def ceremony(tmp_path_factory: pytest.TempPathFactory) -> Ceremony:
    return run_ceremony(tmp_path_factory.mktemp("ceremony"))


@pytest.fixture
def passwords(ceremony: Ceremony, monkeypatch: pytest.MonkeyPatch) -> Ceremony:
    """The organisations' key passwords in the environment (each node reads its own variable)."""
    for org in ceremony.orgs:
        monkeypatch.setenv(org.password_env, org.password)
    return ceremony


@pytest.fixture
def nodes(passwords: Ceremony) -> Iterator[list[NodeProcess]]:
    processes = [
        NodeProcess(
            Network(org.folder, org.config, org.api_port, CHAIN_ID, (), ()), log_path=org.folder / "node.log"
        )
        for org in passwords.orgs
    ]
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.wait_healthy(timeout_s=120)
        yield processes
    finally:
        for process in processes:
            process.terminate()


def test_four_organisations_commit_a_transaction_on_a_sealed_genesis(
    ceremony: Ceremony, nodes: list[NodeProcess]
) -> None:
    accreditor, bank = ceremony.orgs[0], ceremony.orgs[1]  # the accreditor makes the bank an auditor too
    signer = Signer(accreditor.private_key("account.pem"))
    target = Signer(bank.private_key("account.pem")).address
    urls = [f"http://127.0.0.1:{org.api_port}" for org in ceremony.orgs]
    with Client(urls[0], signer=signer, chain_id=CHAIN_ID) as client:
        tx_hash = client.send(
            signer, GOVERNANCE_ADDRESS, encode_grant_role(target, "AUDITOR", GLOBAL_SCOPE),
            gas_limit=300_000, wait=False,
        )  # fmt: skip
    receipts = []
    for url, process in zip(urls, nodes, strict=True):
        with Client(url, signer=signer, chain_id=CHAIN_ID) as client:
            try:
                receipts.append(client.wait(tx_hash, timeout=120, check=True))
            except Exception as exc:
                raise AssertionError(f"{url}: {exc}\n{process.log_tail()}") from exc
    assert {(r.height, r.block_hash) for r in receipts} == {(receipts[0].height, receipts[0].block_hash)}
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
