"""Genesis files and local network initialisation: keys, genesis, node configs for a consortium."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from node.config import ChainConfig, ConfigError, NodeConfig
from node.execution import ExecutionEngine
from node.genesis import (
    GOVERNANCE_ADDRESS,
    ROLE_IDS,
    GenesisAccount,
    GenesisOrganisation,
    GenesisRole,
    GenesisSpec,
    SystemContract,
    load_runtime_code,
)
from node.genesis_init import get_system_contracts
from node.ledger.chain import make_genesis_block
from sdk.crypto import PrivateKey, PublicKey, address_from_public_key
from sdk.errors import XinlianError
from sdk.identifiers import compute_org_code_check, compute_uscc_check, validate_uscc
from sdk.types import Block, sort_validators

GENESIS_FORMAT = "xinlian-genesis/1"


@dataclass(frozen=True)
class GenesisOrg:
    uscc: str
    name: str


@dataclass(frozen=True)
class GenesisMember:
    """An account at genesis: its address, organisation and roles (role name, scope hex)."""

    address: str  # 0x-hex, 20 bytes
    uscc: str
    name: str = ""
    roles: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class GenesisContract:
    """A system contract fixed by the genesis file: its code and set-up call travel in the file itself."""

    name: str
    address: str  # 0x-hex, 20 bytes
    code: str  # 0x-hex runtime bytecode
    init: str = ""  # 0x-hex calldata of its genesis set-up call


@dataclass(frozen=True)
class GenesisFile:
    """The consortium's genesis document: every node of a chain must load the identical file.

    It is self-contained: the runtime code of Governance and of every system contract is in the file, so the
    genesis state never depends on which contract builds a node happens to have on disk.
    """

    chain: ChainConfig
    timestamp_ms: int
    validators: tuple[str, ...]  # 64-byte SM2 public keys, hex
    organisations: tuple[GenesisOrg, ...]
    accounts: tuple[GenesisMember, ...]
    committee: tuple[str, ...]  # member addresses, hex
    threshold: int
    governance_code: str  # 0x-hex runtime bytecode of Governance
    system_contracts: tuple[GenesisContract, ...] = ()

    @property
    def governance_address(self) -> bytes:
        return GOVERNANCE_ADDRESS

    def validator_keys(self) -> tuple[bytes, ...]:
        return tuple(sort_validators([bytes.fromhex(v.removeprefix("0x")) for v in self.validators]))

    def to_json(self) -> str:
        data: dict[str, Any] = {"format": GENESIS_FORMAT, **asdict(self)}
        return json.dumps(data, indent=2, ensure_ascii=False)

    @classmethod
    def load(cls, path: str | Path) -> GenesisFile:
        """Read and check a genesis file. Raises ConfigError naming what is wrong."""
        p = Path(path)
        try:
            raw = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"genesis file {p} does not exist") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"genesis file {p} is not valid JSON: {exc}") from exc
        return cls.from_dict(raw, source=str(p))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str = "genesis") -> GenesisFile:
        if not isinstance(raw, dict) or raw.get("format") != GENESIS_FORMAT:
            raise ConfigError(f"{source}: not a {GENESIS_FORMAT} document")
        try:
            genesis = cls(
                chain=ChainConfig(**raw["chain"]),
                timestamp_ms=int(raw["timestamp_ms"]),
                validators=tuple(raw["validators"]),
                organisations=tuple(GenesisOrg(**o) for o in raw["organisations"]),
                accounts=tuple(
                    GenesisMember(
                        address=a["address"],
                        uscc=a["uscc"],
                        name=a.get("name", ""),
                        roles=tuple((r[0], r[1]) for r in a.get("roles", ())),
                    )
                    for a in raw["accounts"]
                ),
                committee=tuple(raw["committee"]),
                threshold=int(raw["threshold"]),
                governance_code=str(raw["governance_code"]),
                system_contracts=tuple(GenesisContract(**c) for c in raw.get("system_contracts", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: malformed genesis ({exc!r})") from exc
        genesis.validate()
        return genesis

    def validate(self) -> None:
        """Raises ConfigError when the document is inconsistent."""
        if not self.validators:
            raise ConfigError("genesis names no validators")
        for v in self.validators:
            try:
                PublicKey.from_bytes(bytes.fromhex(v.removeprefix("0x")))
            except (ValueError, XinlianError) as exc:
                raise ConfigError(f"genesis validator key {v[:16]}… is not an SM2 public key") from exc
        usccs = {o.uscc for o in self.organisations}
        for o in self.organisations:
            validate_uscc(o.uscc)
        addresses = {a.address.lower() for a in self.accounts}
        for a in self.accounts:
            if a.uscc not in usccs:
                raise ConfigError(f"account {a.address} belongs to unknown organisation {a.uscc}")
            for role, _scope in a.roles:
                if role not in ROLE_IDS:
                    raise ConfigError(
                        f"account {a.address} has unknown role {role}; known: {sorted(ROLE_IDS)}"
                    )
        for m in self.committee:
            if m.lower() not in addresses:
                raise ConfigError(f"committee member {m} is not a genesis account")
        if not 1 <= self.threshold <= len(self.committee):
            raise ConfigError(f"threshold {self.threshold} must be between 1 and {len(self.committee)}")
        for label, code in [("Governance", self.governance_code)] + [
            (c.name, c.code) for c in self.system_contracts
        ]:
            if not _hex_bytes(code, f"{label} code"):
                raise ConfigError(f"genesis carries no runtime code for {label}")
        seen: set[str] = set()
        for c in self.system_contracts:
            if c.name in seen or len(_hex_bytes(c.address, f"{c.name} address")) != 20:
                raise ConfigError(f"system contract {c.name} is repeated or has a malformed address")
            seen.add(c.name)
            _hex_bytes(c.init, f"{c.name} set-up call")

    def to_spec(self) -> GenesisSpec:
        """The execution engine's view of this genesis."""
        return GenesisSpec(
            validators=self.validator_keys(),
            organisations=tuple(GenesisOrganisation(uscc=o.uscc, name=o.name) for o in self.organisations),
            accounts=tuple(GenesisAccount(address=_addr(a.address), uscc=a.uscc) for a in self.accounts),
            committee=tuple(_addr(m) for m in self.committee),
            threshold=self.threshold,
            roles=tuple(
                GenesisRole(
                    address=_addr(a.address),
                    role=ROLE_IDS[role],
                    scope=bytes.fromhex(scope.removeprefix("0x")),
                )
                for a in self.accounts
                for role, scope in a.roles
            ),
            timestamp_ms=self.timestamp_ms,
            governance_code=_hex_bytes(self.governance_code, "Governance code"),
            system_contracts=tuple(
                SystemContract(
                    name=c.name,
                    address=_hex_bytes(c.address, f"{c.name} address"),
                    runtime_code=_hex_bytes(c.code, f"{c.name} code"),
                    init_data=_hex_bytes(c.init, f"{c.name} set-up call"),
                )
                for c in self.system_contracts
            ),
        )


def _hex_bytes(value: str, what: str) -> bytes:
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except ValueError as exc:
        raise ConfigError(f"genesis {what} is not hex") from exc


def _addr(value: str) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 20:
        raise ConfigError(f"{value} is not a 20-byte address")
    return raw


def build_genesis(engine: ExecutionEngine, genesis: GenesisFile) -> Block:
    """Execute the genesis spec (deterministic) and return the height-0 block."""
    state_root = engine.create_genesis(genesis.to_spec())
    return make_genesis_block(genesis.chain, state_root, genesis.validator_keys(), genesis.timestamp_ms)


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


def _write_key(path: Path, key: PrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.to_pem())


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
) -> Path:
    """Create keys, a genesis file and one node config per validator under ``out_dir``.

    Layout: genesis.json, keys/validator-N.pem, keys/org-N.pem, nodes/node-N.json, orgs.json (names,
    USCCs, addresses and key files of the demo organisations). Keys are written unencrypted with mode 600:
    this is for local networks; production keys belong in PEM files with a password (``keys new``).
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

    orgs: list[GenesisOrg] = []
    members: list[GenesisMember] = []
    directory: list[dict[str, Any]] = []
    for i, (name, region, roles) in enumerate(DEMO_ORGANISATIONS):
        uscc = make_uscc(region, 10_000_001 + i)
        key = PrivateKey.generate()
        key_path = out / "keys" / f"org-{i}.pem"
        _write_key(key_path, key)
        address = "0x" + address_from_public_key(key.public_key.to_bytes()).hex()
        orgs.append(GenesisOrg(uscc=uscc, name=name))
        members.append(
            GenesisMember(
                address=address, uscc=uscc, name=name, roles=tuple((r, "0x" + "00" * 32) for r in roles)
            )
        )
        directory.append(
            {"name": name, "uscc": uscc, "address": address, "key": f"keys/org-{i}.pem", "roles": list(roles)}
        )
    committee = tuple(m.address for m in members[: max(1, min(committee_size, len(members)))])
    genesis = GenesisFile(
        chain=ChainConfig(chain_id=chain_id, **(chain_overrides or {})),
        timestamp_ms=timestamp_ms,
        validators=tuple(k.public_key.to_bytes().hex() for k in validator_keys),
        organisations=tuple(orgs),
        accounts=tuple(members),
        committee=committee,
        threshold=len(committee) // 2 + 1,
        governance_code="0x" + load_runtime_code("Governance").hex(),
        system_contracts=tuple(
            GenesisContract(
                name=c.name,
                address="0x" + c.address.hex(),
                code="0x" + c.runtime_code.hex(),
                init="0x" + c.init_data.hex(),
            )
            for c in get_system_contracts()
        ),
    )
    genesis.validate()
    (out / "genesis.json").write_text(genesis.to_json(), encoding="utf-8")
    (out / "orgs.json").write_text(json.dumps(directory, indent=2, ensure_ascii=False), encoding="utf-8")
    peers = [f"127.0.0.1:{p2p_port + i}" for i in range(validators)]
    for i in range(validators):
        cfg = NodeConfig(
            name=f"node-{i}",
            data_dir=f"../data/node-{i}",
            genesis_path="../genesis.json",
            validator_key_path=f"../keys/validator-{i}.pem",
            api_port=api_port + i,
            p2p_port=p2p_port + i,
            peers=tuple(p for j, p in enumerate(peers) if j != i),
        )
        (out / "nodes").mkdir(exist_ok=True)
        (out / "nodes" / f"node-{i}.json").write_text(cfg.to_json(), encoding="utf-8")
    return out
