"""The demo consortium: writes keys, a genesis file and node configs for a local network to run and test.

A real consortium writes its genesis file itself (node.genesis.GenesisFile); this builds one with a demo
organisation per user family, each with an admin account, and one node per validator.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from node.ceremony import compute_genesis_hash
from node.config import ChainConfig, ConfigError, NodeConfig
from node.genesis import (
    GenesisAccount,
    GenesisFile,
    GenesisOrganisation,
    GenesisSignature,
    compose_genesis,
)
from node.tls import create_local_ca, issue_node_certificate
from sdk.crypto import PrivateKey, address_from_public_key
from sdk.identifiers import compute_org_code_check, compute_uscc_check


def make_uscc(region: str, serial: int) -> str:
    """A well-formed demo USCC (department 9, category 1) for ``region`` and organisation ``serial``."""
    org_body = f"{serial:08d}"
    org_code = org_body + compute_org_code_check(org_body)
    body = "91" + region + org_code
    return body + compute_uscc_check(body)


# The demo consortium: one organisation per user family, each with an admin account. No organisation holds
# conflicting duties: the data holder and the data regulator (who vouches for data subjects' keys and
# approves core-data requests) are separate organisations. New organisations go at the end: scripts and
# tests address some by their position in orgs.json.
DEMO_ORGANISATIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Consortium Committee Office", "110000", ()),
    ("Municipal Market Regulation Bureau", "110000", ("LICENCE_AUTHORITY", "ISSUER")),
    ("Provincial Drug Administration", "330000", ("DRUG_REGULATOR",)),
    ("Audit Accreditation Office", "110000", ("AUDIT_ACCREDITOR",)),
    ("Hangzhou Pharma Co., Ltd.", "330100", ("MAH",)),
    ("Commercial Bank of Example", "310000", ("BANK",)),
    ("Example Certified Public Accountants", "310000", ("AUDITOR",)),
    ("Data Exchange Authority", "440300", ("DATA_HOLDER",)),
    ("Municipal Data Administration", "440300", ("DATA_REGULATOR",)),
)


def get_local_ca_path(out_dir: str | Path) -> Path:
    """Return where ``init_network(..., tls=True)`` writes the network's local CA certificate."""
    return Path(out_dir) / "tls" / "ca.pem"


def _write_key(path: Path, key: PrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.to_pem())


def seal_demo_genesis(out_dir: str | Path) -> bool:
    """Sign the genesis of a demo network written before genesis signatures existed with the validator keys
    its folder holds (keys/validator-N.pem), so that its nodes start again; returns whether it rewrote
    genesis.json. Raises ConfigError for a missing or malformed genesis."""
    path = Path(out_dir) / "genesis.json"
    genesis = GenesisFile.load(path)
    if genesis.signatures:
        return False
    keys = [PrivateKey.from_pem(p.read_bytes()) for p in sorted(path.parent.glob("keys/validator-*.pem"))]
    genesis_hash = compute_genesis_hash(genesis)
    chain_id = genesis.chain.chain_id
    sealed = genesis.with_signatures(
        GenesisSignature.create(k, chain_id, genesis_hash)
        for k in keys
        if k.public_key.to_bytes() in genesis.spec.validators
    )
    path.write_text(sealed.to_json(), encoding="utf-8")
    return True


def init_network(
    out_dir: str | Path,
    *,
    validators: int = 1,
    chain_id: int = 1001,
    api_port: int = 8545,
    p2p_port: int = 30300,
    timestamp_ms: int = 0,
    committee_size: int = 3,
    chain_overrides: dict[str, int] | None = None,
    tls: bool = False,
) -> Path:
    """Create keys, a genesis file and one node config per validator under ``out_dir``.

    Layout: genesis.json, keys/validator-N.pem, keys/org-N.pem, nodes/node-N.json, orgs.json (names,
    USCCs, addresses and key files of the demo organisations). Keys are written unencrypted with mode 600:
    this is for local networks; production keys belong in PEM files with a password (``keys new``).
    With ``tls``, a local CA (tls/ca.pem; clients trust it with ``Client(url, ca=...)``) and one API
    certificate per node for 127.0.0.1 and localhost (tls/node-N.pem), named in the node configs.
    Raises ConfigError when ``out_dir`` already holds a network.
    """
    out = Path(out_dir)
    if (out / "genesis.json").exists():
        raise ConfigError(f"{out} already holds a network (genesis.json exists)")
    if validators < 1:
        raise ConfigError("a network needs at least one validator")
    out.mkdir(parents=True, exist_ok=True)
    validator_keys = [PrivateKey.generate() for _ in range(validators)]
    for i, key in enumerate(validator_keys):
        _write_key(out / "keys" / f"validator-{i}.pem", key)

    members: list[tuple[GenesisOrganisation, GenesisAccount, tuple[str, ...]]] = []
    directory: list[dict[str, Any]] = []
    for i, (name, region, role_names) in enumerate(DEMO_ORGANISATIONS):
        uscc = make_uscc(region, 10_000_001 + i)
        key = PrivateKey.generate()
        key_path = out / "keys" / f"org-{i}.pem"
        _write_key(key_path, key)
        address = address_from_public_key(key.public_key.to_bytes())
        members.append(
            (
                GenesisOrganisation(uscc=uscc, name=name),
                GenesisAccount(address=address, uscc=uscc, name=name),
                role_names,
            )
        )
        directory.append(
            {
                "name": name,
                "uscc": uscc,
                "address": "0x" + address.hex(),
                "key": f"keys/org-{i}.pem",
                "roles": list(role_names),
            }
        )
    committee = tuple(
        account.address for _, account, _ in members[: max(1, min(committee_size, len(members)))]
    )
    unsigned = compose_genesis(
        ChainConfig(chain_id=chain_id, **(chain_overrides or {})),
        validators=[k.public_key.to_bytes() for k in validator_keys],
        members=members,
        committee=committee,
        threshold=len(committee) // 2 + 1,
        timestamp_ms=timestamp_ms,
    )
    # This demo holds every validator key, so it approves its own genesis with all of them; a real
    # consortium's validators each sign on their own machine (node.ceremony, docs/operations.md).
    genesis_hash = compute_genesis_hash(unsigned)
    genesis = unsigned.with_signatures(
        GenesisSignature.create(k, chain_id, genesis_hash) for k in validator_keys
    )
    (out / "genesis.json").write_text(genesis.to_json(), encoding="utf-8")
    (out / "orgs.json").write_text(json.dumps(directory, indent=2, ensure_ascii=False), encoding="utf-8")
    peers = [f"127.0.0.1:{p2p_port + i}" for i in range(validators)]
    if tls:
        create_local_ca(get_local_ca_path(out), out / "tls" / "ca-key.pem")
    for i in range(validators):
        if tls:
            issue_node_certificate(
                get_local_ca_path(out),
                out / "tls" / "ca-key.pem",
                out / "tls" / f"node-{i}.pem",
                out / "tls" / f"node-{i}-key.pem",
                name=f"node-{i}",
                hosts=["127.0.0.1", "localhost"],
            )
        cfg = NodeConfig(
            name=f"node-{i}",
            data_dir=f"../data/node-{i}",
            genesis_path="../genesis.json",
            validator_key_path=f"../keys/validator-{i}.pem",
            api_port=api_port + i,
            p2p_port=p2p_port + i,
            peers=tuple(p for j, p in enumerate(peers) if j != i),
            api_tls_cert=f"../tls/node-{i}.pem" if tls else "",
            api_tls_key=f"../tls/node-{i}-key.pem" if tls else "",
        )
        (out / "nodes").mkdir(exist_ok=True)
        (out / "nodes" / f"node-{i}.json").write_text(cfg.to_json(), encoding="utf-8")
    return out
