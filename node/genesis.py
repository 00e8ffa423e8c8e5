"""Genesis: fixed system-contract addresses, Governance role ids, the first members, and the genesis file.

A ``GenesisFile`` (genesis.json, identical on every node of a chain) is the chain config plus a
``GenesisSpec``; the execution engine turns the spec into the genesis EVM state
(``ExecutionEngine.create_genesis``): it installs runtime code at the fixed addresses and runs
``Governance.initialize`` once, then each system contract's set-up call. ``build_genesis`` makes the height-0
block from it. No EVM import here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Protocol

from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector

from node.config import PROTOCOL_VERSION, ChainConfig, ConfigError
from sdk.crypto import PrivateKey, PublicKey
from sdk.domains.calendar import encode_calendar_initialize
from sdk.domains.governance.encoders import Action, encode_payload
from sdk.encoding import encode_bytes, encode_int, encode_list
from sdk.errors import ExecutionError, XinlianError
from sdk.identifiers import validate_uscc
from sdk.proofs.certificate import compute_quorum
from sdk.proofs.merkle import MerkleAccumulator
from sdk.system import (  # defined once for SDK and node; re-exported here for node modules
    AUDIT_ACCREDITOR as AUDIT_ACCREDITOR,
    AUDITOR as AUDITOR,
    BANK as BANK,
    BANK_CONFIRMATION_ADDRESS as BANK_CONFIRMATION_ADDRESS,
    CALENDAR_ADDRESS as CALENDAR_ADDRESS,
    CALENDAR_KEEPER as CALENDAR_KEEPER,
    DATA_AUTHORISATION_ADDRESS as DATA_AUTHORISATION_ADDRESS,
    DATA_HOLDER as DATA_HOLDER,
    DATA_REGULATOR as DATA_REGULATOR,
    DATA_USER as DATA_USER,
    DISPENSER as DISPENSER,
    DISTRIBUTOR as DISTRIBUTOR,
    DRUG_REGULATOR as DRUG_REGULATOR,
    DRUG_TRACE_ADDRESS as DRUG_TRACE_ADDRESS,
    GLOBAL_SCOPE as GLOBAL_SCOPE,
    GOVERNANCE_ADDRESS as GOVERNANCE_ADDRESS,
    ISSUER as ISSUER,
    LICENCE_AUTHORITY as LICENCE_AUTHORITY,
    LICENCE_REGISTRY_ADDRESS as LICENCE_REGISTRY_ADDRESS,
    MAH as MAH,
    MAX_CHAIN_CERTIFICATE_BYTES as MAX_CHAIN_CERTIFICATE_BYTES,
    MAX_TRUST_ANCHORS as MAX_TRUST_ANCHORS,
    ROLE_IDS as ROLE_IDS,
    SYSTEM_CONTRACT_ADDRESSES as SYSTEM_CONTRACT_ADDRESSES,
)
from sdk.types import (
    Block,
    BlockHeader,
    compute_receipt_root,
    compute_tx_root,
    compute_validators_hash,
    sort_validators,
)

BUILD_DIR: Final = Path(__file__).resolve().parent.parent / "contracts" / "build"

# msg.sender of the genesis initialisation calls
GENESIS_SENDER: Final = bytes(20)


def encode_contract_name(name: str) -> bytes:
    """Return the bytes32 registry key of a system contract: its ASCII name, right-padded with zeros.

    Raises ExecutionError when the name is empty, not ASCII or longer than 32 bytes.
    """
    raw = name.encode("ascii", errors="strict") if name.isascii() else b""
    if not raw or len(raw) > 32:
        raise ExecutionError(f"invalid system contract name {name!r}", code="bad_genesis")
    return raw.ljust(32, b"\x00")


def load_runtime_code(contract_name: str, build_dir: Path = BUILD_DIR) -> bytes:
    """Return the runtime bytecode of ``contracts/build/<contract_name>.json``.

    Raises ExecutionError when the artifact is missing or malformed.
    """
    path = build_dir / f"{contract_name}.json"
    try:
        artifact = json.loads(path.read_text(encoding="utf-8"))
        return bytes.fromhex(str(artifact["deployed_bytecode"]).removeprefix("0x"))
    except (OSError, ValueError, KeyError) as exc:
        raise ExecutionError(f"cannot load contract artifact {path}", code="bad_artifact") from exc


@dataclass(frozen=True, slots=True)
class GenesisOrganisation:
    uscc: str  # 18-character unified social credit code
    name: str


@dataclass(frozen=True, slots=True)
class GenesisAccount:
    address: bytes  # 20 bytes (SM3-derived from the account's SM2 key)
    uscc: str  # the organisation it belongs to
    name: str = ""  # shown in the genesis file; not on chain


@dataclass(frozen=True, slots=True)
class GenesisRole:
    address: bytes
    role: bytes  # 32-byte role id (ROLE_IDS)
    scope: bytes = GLOBAL_SCOPE


@dataclass(frozen=True, slots=True)
class GenesisCertificate:
    """An account's SM2 X.509 certificate (DER) recorded at genesis; the genesis assembly checked it against
    the genesis trust anchors (node.ceremony)."""

    address: bytes  # the account it is bound to
    certificate: bytes  # DER


@dataclass(frozen=True, slots=True)
class SystemContract:
    """A contract installed at genesis at a fixed address and listed in the Governance registry."""

    name: str  # registry name (<= 32 ASCII bytes), e.g. "LicenceRegistry"
    address: bytes  # 20 bytes
    runtime_code: bytes
    init_data: bytes = b""  # optional call (from GENESIS_SENDER) run after Governance.initialize


DEFAULT_ROLE_ADMINS: Final[tuple[tuple[bytes, bytes], ...]] = (
    (ISSUER, LICENCE_AUTHORITY),
    (AUDITOR, AUDIT_ACCREDITOR),
    (MAH, DRUG_REGULATOR),
    (DISTRIBUTOR, DRUG_REGULATOR),
    (DISPENSER, DRUG_REGULATOR),
    (DATA_HOLDER, DATA_REGULATOR),
    (DATA_USER, DATA_REGULATOR),
)


@dataclass(frozen=True, slots=True)
class GenesisSpec:
    """What the genesis EVM state contains.

    ``validators`` are 64-byte SM2 public keys in Governance order; committee members must be listed in
    ``accounts``; ``role_admins`` are (role, admin_role) pairs. ``governance_code`` defaults to the
    committed artifact contracts/build/Governance.json. ``trust_anchors`` (CA certificates, DER) and
    ``certificates`` go into Governance through ``initialize_trust`` (``encode_trust_calls``).
    """

    validators: tuple[bytes, ...]
    organisations: tuple[GenesisOrganisation, ...]
    accounts: tuple[GenesisAccount, ...]
    committee: tuple[bytes, ...]
    threshold: int
    roles: tuple[GenesisRole, ...] = ()
    role_admins: tuple[tuple[bytes, bytes], ...] = DEFAULT_ROLE_ADMINS
    system_contracts: tuple[SystemContract, ...] = ()
    timestamp_ms: int = 0
    gas_limit: int = 1_000_000_000
    governance_code: bytes = field(default_factory=lambda: load_runtime_code("Governance"))
    trust_anchors: tuple[bytes, ...] = ()
    certificates: tuple[GenesisCertificate, ...] = ()


# --- the system contracts installed at genesis, with their set-up calls ---------------------------------
# Domain contracts in installation order (Governance is always installed first by the engine). A contract is
# installed when its artifact exists in contracts/build/.
DOMAIN_CONTRACTS: tuple[str, ...] = (
    "Calendar",
    "LicenceRegistry",
    "DataAuthorisation",
    "DrugTrace",
    "DrugLots",
    "BankConfirmation",
)


def encode_initialize_with_governance(governance: bytes) -> bytes:
    """The default set-up call: ``initialize(governance: address)``."""
    return function_signature_to_4byte_selector("initialize(address)") + abi_encode(["address"], [governance])


# Contracts whose genesis set-up needs more than the Governance address register a builder here.
INIT_DATA_BUILDERS: dict[str, Callable[[bytes], bytes]] = {
    "Calendar": encode_calendar_initialize,  # the official 2024–2026 holidays
    "DrugLots": lambda governance: b"",  # keeps no state of its own to set up: DrugTrace checks for it
}


INITIALIZE_TRUST_SELECTOR: Final = function_signature_to_4byte_selector("initialize_trust(uint8,bytes)")


def encode_trust_calls(spec: GenesisSpec) -> list[bytes]:
    """The calldata of the ``Governance.initialize_trust`` calls that record the genesis trust anchors, then
    the account certificates, as the committee's ADD_TRUST_ANCHOR and BIND_CERTIFICATE proposals would."""
    calls = [(Action.ADD_TRUST_ANCHOR, (der,)) for der in spec.trust_anchors] + [
        (Action.BIND_CERTIFICATE, (c.address, c.certificate)) for c in spec.certificates
    ]
    return [
        INITIALIZE_TRUST_SELECTOR + abi_encode(["uint8", "bytes"], [action, encode_payload(action, *values)])
        for action, values in calls
    ]


def get_system_contracts() -> tuple[SystemContract, ...]:
    """The domain contracts to install at genesis, at their fixed addresses, with their set-up calls."""
    installed: list[SystemContract] = []
    for name in DOMAIN_CONTRACTS:
        if not (BUILD_DIR / f"{name}.json").exists():
            continue
        build = INIT_DATA_BUILDERS.get(name, encode_initialize_with_governance)
        installed.append(
            SystemContract(
                name=name,
                address=SYSTEM_CONTRACT_ADDRESSES[name],
                runtime_code=load_runtime_code(name),
                init_data=build(GOVERNANCE_ADDRESS),
            )
        )
    return tuple(installed)


# --- the genesis file -------------------------------------------------------------------------------------
GENESIS_FORMAT: Final = "xinlian-genesis/1"
ROLE_NAMES: Final[dict[bytes, str]] = {role: name for name, role in ROLE_IDS.items()}
#: Domain tag of the message a genesis validator signs to approve a genesis (``genesis_signature_preimage``).
GENESIS_SIGNATURE_TAG: Final = b"xinlian/genesis/1"


def genesis_signature_preimage(chain_id: int, genesis_hash: bytes) -> bytes:
    """Return RLP([GENESIS_SIGNATURE_TAG, chain_id, genesis_hash]), what a validator signs to approve a
    genesis: the hash of its height-0 block, which commits to the chain parameters, the first validator set
    and the whole genesis state. Raises ConfigError for a hash that is not 32 bytes."""
    if len(genesis_hash) != 32 or chain_id < 0:
        raise ConfigError("a genesis signature covers a 32-byte genesis hash and a chain id >= 0")
    return encode_list(
        (encode_bytes(GENESIS_SIGNATURE_TAG), encode_int(chain_id), encode_bytes(genesis_hash))
    )


@dataclass(frozen=True, slots=True)
class GenesisSignature:
    """One genesis validator's SM2 signature (64 bytes r‖s) of ``genesis_signature_preimage``."""

    validator: bytes  # the validator's 64-byte public key
    signature: bytes

    @classmethod
    def create(cls, key: PrivateKey, chain_id: int, genesis_hash: bytes) -> GenesisSignature:
        return cls(key.public_key.to_bytes(), key.sign(genesis_signature_preimage(chain_id, genesis_hash)))

    def is_valid(self, chain_id: int, genesis_hash: bytes) -> bool:
        """Whether the signature verifies for ``validator`` over this chain id and genesis hash."""
        try:
            key = PublicKey.from_bytes(self.validator)
        except (ValueError, XinlianError):
            return False
        return key.is_valid_signature(genesis_signature_preimage(chain_id, genesis_hash), self.signature)


@dataclass(frozen=True)
class GenesisFile:
    """The consortium's genesis document: every node of a chain must load the identical file.

    It is self-contained: the runtime code of Governance and of every system contract is in the file, so the
    genesis state never depends on which contract builds a node happens to have on disk. In JSON, byte
    strings are hex and roles are listed by name under the account that holds them.

    ``signatures`` (JSON ``"signatures"``) are the genesis validators' approvals of the genesis hash; they
    are not part of that hash. A node starts only from a genesis that a quorum of its validators signed
    (``check_signatures``).
    """

    chain: ChainConfig
    spec: GenesisSpec
    signatures: tuple[GenesisSignature, ...] = ()

    def with_signatures(self, signatures: Iterable[GenesisSignature]) -> GenesisFile:
        """Return this genesis carrying ``signatures`` (one per validator, in validator order)."""
        by_validator = {s.validator: s for s in signatures}
        ordered = tuple(by_validator[v] for v in self.spec.validators if v in by_validator)
        return replace(self, signatures=ordered)

    def count_valid_signatures(self, genesis_hash: bytes) -> int:
        """How many distinct genesis validators validly signed ``genesis_hash`` for this chain."""
        validators = set(self.spec.validators)
        signers = {
            s.validator
            for s in self.signatures
            if s.validator in validators and s.is_valid(self.chain.chain_id, genesis_hash)
        }
        return len(signers)

    def check_signatures(self, genesis_hash: bytes) -> int:
        """Return the number of valid validator signatures over ``genesis_hash``; raises ConfigError
        (code ``genesis_unsigned``) when they are fewer than the QBFT quorum of the genesis validators."""
        found = self.count_valid_signatures(genesis_hash)
        needed = compute_quorum(len(self.spec.validators))
        if found < needed:
            raise ConfigError(
                f"the genesis carries {found} valid validator signature(s) over its hash "
                f"0x{genesis_hash.hex()} for chain {self.chain.chain_id}; its {len(self.spec.validators)} "
                f"validators need {needed} (seal it with `xinlian genesis seal`)",
                code="genesis_unsigned",
                found=found,
                needed=needed,
                genesis_hash="0x" + genesis_hash.hex(),
            )
        return found

    @property
    def governance_address(self) -> bytes:
        return GOVERNANCE_ADDRESS

    def validator_keys(self) -> tuple[bytes, ...]:
        return self.spec.validators

    def to_json(self) -> str:
        spec = self.spec
        roles: dict[bytes, list[list[str]]] = {}
        for r in spec.roles:
            roles.setdefault(r.address, []).append([ROLE_NAMES[r.role], _hex(r.scope)])
        data: dict[str, Any] = {
            "format": GENESIS_FORMAT,
            "chain": asdict(self.chain),
            "timestamp_ms": spec.timestamp_ms,
            "validators": [v.hex() for v in spec.validators],
            "organisations": [{"uscc": o.uscc, "name": o.name} for o in spec.organisations],
            "accounts": [
                {
                    "address": _hex(a.address),
                    "uscc": a.uscc,
                    "name": a.name,
                    "roles": roles.get(a.address, []),
                }
                for a in spec.accounts
            ],
            "committee": [_hex(m) for m in spec.committee],
            "threshold": spec.threshold,
            "governance_code": _hex(spec.governance_code),
            "system_contracts": [
                {
                    "name": c.name,
                    "address": _hex(c.address),
                    "code": _hex(c.runtime_code),
                    "init": _hex(c.init_data),
                }
                for c in spec.system_contracts
            ],
        }
        if spec.trust_anchors:
            data["trust_anchors"] = [_hex(der) for der in spec.trust_anchors]
        if spec.certificates:
            data["certificates"] = [
                {"address": _hex(c.address), "certificate": _hex(c.certificate)} for c in spec.certificates
            ]
        if self.signatures:
            data["signatures"] = [
                {"validator": s.validator.hex(), "signature": s.signature.hex()} for s in self.signatures
            ]
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
        """Parse and check a genesis document. Raises ConfigError naming what is wrong."""
        if not isinstance(raw, dict) or raw.get("format") != GENESIS_FORMAT:
            raise ConfigError(f"{source}: not a {GENESIS_FORMAT} document")
        try:
            accounts = [
                (
                    GenesisAccount(address=_address(a["address"]), uscc=a["uscc"], name=a.get("name", "")),
                    [(str(r[0]), str(r[1])) for r in a.get("roles", ())],
                )
                for a in raw["accounts"]
            ]
            spec = GenesisSpec(
                validators=tuple(
                    sort_validators([_hex_bytes(v, "validator key") for v in raw["validators"]])
                ),
                organisations=tuple(
                    GenesisOrganisation(uscc=o["uscc"], name=o["name"]) for o in raw["organisations"]
                ),
                accounts=tuple(account for account, _ in accounts),
                committee=tuple(_address(m) for m in raw["committee"]),
                threshold=int(raw["threshold"]),
                roles=tuple(
                    GenesisRole(
                        address=account.address,
                        role=_role_id(account, name),
                        scope=_hex_bytes(scope, "scope"),
                    )
                    for account, roles in accounts
                    for name, scope in roles
                ),
                timestamp_ms=int(raw["timestamp_ms"]),
                governance_code=_hex_bytes(str(raw["governance_code"]), "Governance code"),
                system_contracts=tuple(
                    SystemContract(
                        name=c["name"],
                        address=_hex_bytes(c["address"], f"{c['name']} address"),
                        runtime_code=_hex_bytes(c["code"], f"{c['name']} code"),
                        init_data=_hex_bytes(c.get("init", ""), f"{c['name']} set-up call"),
                    )
                    for c in raw.get("system_contracts", ())
                ),
                trust_anchors=tuple(_hex_bytes(str(a), "trust anchor") for a in raw.get("trust_anchors", ())),
                certificates=tuple(
                    GenesisCertificate(
                        address=_address(c["address"]),
                        certificate=_hex_bytes(str(c["certificate"]), "certificate"),
                    )
                    for c in raw.get("certificates", ())
                ),
            )
            signatures = tuple(
                GenesisSignature(
                    validator=_hex_bytes(str(g["validator"]), "signature's validator key"),
                    signature=_hex_bytes(str(g["signature"]), "signature"),
                )
                for g in raw.get("signatures", ())
            )
            genesis = cls(chain=ChainConfig(**raw["chain"]), spec=spec, signatures=signatures)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: malformed genesis ({exc!r})") from exc
        genesis.validate()
        return genesis

    def validate(self) -> None:
        """Raises ConfigError when the document is inconsistent."""
        spec = self.spec
        if not spec.validators:
            raise ConfigError("genesis names no validators")
        for v in spec.validators:
            try:
                PublicKey.from_bytes(v)
            except (ValueError, XinlianError) as exc:
                raise ConfigError(f"genesis validator key {v.hex()[:16]}… is not an SM2 public key") from exc
        usccs = {o.uscc for o in spec.organisations}
        for o in spec.organisations:
            validate_uscc(o.uscc)
        addresses = {a.address for a in spec.accounts}
        for a in spec.accounts:
            if a.uscc not in usccs:
                raise ConfigError(f"account {_hex(a.address)} belongs to unknown organisation {a.uscc}")
        for r in spec.roles:
            if r.address not in addresses or r.role not in ROLE_NAMES:
                raise ConfigError(
                    f"role {r.role.hex()} of {_hex(r.address)} is not a known role of an account"
                )
        for m in spec.committee:
            if m not in addresses:
                raise ConfigError(f"committee member {_hex(m)} is not a genesis account")
        if not 1 <= spec.threshold <= len(spec.committee):
            raise ConfigError(f"threshold {spec.threshold} must be between 1 and {len(spec.committee)}")
        for label, code in [("Governance", spec.governance_code)] + [
            (c.name, c.runtime_code) for c in spec.system_contracts
        ]:
            if not code:
                raise ConfigError(f"genesis carries no runtime code for {label}")
        seen: set[str] = set()
        for c in spec.system_contracts:
            if c.name in seen or len(c.address) != 20:
                raise ConfigError(f"system contract {c.name} is repeated or has a malformed address")
            seen.add(c.name)
        self._validate_trust(addresses)

    def _validate_trust(self, addresses: set[bytes]) -> None:
        spec = self.spec
        if len(spec.trust_anchors) > MAX_TRUST_ANCHORS or len(set(spec.trust_anchors)) < len(
            spec.trust_anchors
        ):
            raise ConfigError(f"genesis trust anchors are repeated or more than {MAX_TRUST_ANCHORS}")
        if spec.certificates and not spec.trust_anchors:
            raise ConfigError("genesis binds certificates but names no trust anchor")
        bound = [c.address for c in spec.certificates]
        if len(set(bound)) < len(bound):
            raise ConfigError("genesis binds two certificates to one account")
        for der in (*spec.trust_anchors, *(c.certificate for c in spec.certificates)):
            if not 4 <= len(der) <= MAX_CHAIN_CERTIFICATE_BYTES or der[:2] != b"\x30\x82":
                raise ConfigError(
                    f"a genesis certificate is not DER of at most {MAX_CHAIN_CERTIFICATE_BYTES} bytes"
                )
        for c in spec.certificates:
            if c.address not in addresses:
                raise ConfigError(f"certificate bound to {_hex(c.address)}, which is not a genesis account")


def compose_genesis(
    chain: ChainConfig,
    *,
    validators: Sequence[bytes],
    members: Sequence[tuple[GenesisOrganisation, GenesisAccount, Sequence[str]]],
    committee: Sequence[bytes],
    threshold: int,
    timestamp_ms: int,
    trust_anchors: Sequence[bytes] = (),
    certificates: Sequence[GenesisCertificate] = (),
) -> GenesisFile:
    """Return a checked, unsigned genesis: ``validators`` (64-byte SM2 keys, any order), one
    (organisation, admin account, global role names) per member, the committee's account addresses and its
    threshold, with Governance and the system contracts built in contracts/build/.

    Used by the demo network and by the genesis ceremony (node.ceremony). Raises ConfigError naming an
    unknown role or an inconsistent document; IdentifierError for a malformed USCC.
    """
    roles: list[GenesisRole] = []
    for _, account, names in members:
        roles.extend(GenesisRole(address=account.address, role=_role_id(account, name)) for name in names)
    genesis = GenesisFile(
        chain=chain,
        spec=GenesisSpec(
            validators=tuple(sort_validators(list(validators))),
            organisations=tuple(org for org, _, _ in members),
            accounts=tuple(account for _, account, _ in members),
            committee=tuple(committee),
            threshold=threshold,
            roles=tuple(roles),
            system_contracts=get_system_contracts(),
            timestamp_ms=timestamp_ms,
            governance_code=load_runtime_code("Governance"),
            trust_anchors=tuple(trust_anchors),
            certificates=tuple(certificates),
        ),
    )
    genesis.validate()
    return genesis


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _hex_bytes(value: str, what: str) -> bytes:
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except ValueError as exc:
        raise ConfigError(f"genesis {what} is not hex") from exc


def _address(value: str) -> bytes:
    raw = _hex_bytes(value, "address")
    if len(raw) != 20:
        raise ConfigError(f"{value} is not a 20-byte address")
    return raw


def _role_id(account: GenesisAccount, name: str) -> bytes:
    role = ROLE_IDS.get(name)
    if role is None:
        raise ConfigError(
            f"account {_hex(account.address)} has unknown role {name}; known: {sorted(ROLE_IDS)}"
        )
    return role


# --- the height-0 block -----------------------------------------------------------------------------------
class GenesisExecutor(Protocol):
    """What builds the genesis state: ``node.execution.ExecutionEngine``."""

    def create_genesis(self, genesis: GenesisSpec) -> bytes: ...


def build_genesis(engine: GenesisExecutor, genesis: GenesisFile) -> Block:
    """Execute the genesis spec (deterministic) and return the height-0 block."""
    state_root = engine.create_genesis(genesis.spec)
    return make_genesis_block(genesis.chain, state_root, genesis.validator_keys(), genesis.spec.timestamp_ms)


def make_genesis_block(
    chain: ChainConfig, state_root: bytes, validators: Sequence[bytes], timestamp_ms: int
) -> Block:
    """The height-0 block: no transactions, carries the first validator set, links to nothing."""
    ordered = tuple(sort_validators(list(validators)))
    vhash = compute_validators_hash(ordered)
    header = BlockHeader(
        version=PROTOCOL_VERSION,
        chain_id=chain.chain_id,
        height=0,
        parent_hash=b"\x00" * 32,
        timestamp_ms=timestamp_ms,
        round=0,
        proposer_index=0,
        tx_root=compute_tx_root(()),
        receipt_root=compute_receipt_root(()),
        state_root=state_root,
        history_root=MerkleAccumulator().root(),
        validators_hash=vhash,
        next_validators_hash=vhash,
        gas_used=0,
    )
    return Block(header=header, transactions=(), next_validators=ordered)
