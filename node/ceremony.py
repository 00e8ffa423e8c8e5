"""The genesis ceremony: independent organisations build, approve and run one chain without sharing a key.

1. Each organisation, on its own machine, generates its keys (``create_org_keys``: an account key and a
   validator key, or a p2p node key for a non-validator, PEM encrypted with its password) and writes a
   member file (``MemberFile``): public keys, USCC, name, the roles it asks for and its endpoints.
2. A coordinator assembles the genesis from the member files only (``assemble_genesis``).
3. Each validator recomputes the genesis hash from the file and signs it (``sign_genesis``); the coordinator
   puts a quorum of those signatures into the genesis (``seal_genesis``). Nodes refuse a genesis without a
   quorum of valid validator signatures (``GenesisFile.check_signatures``, called by ``node.runtime.Node``).
4. Each organisation writes its node config from its own keys, the sealed genesis and the others' member
   files (``write_node_config``).

No private key ever leaves its organisation's folder: the coordinator handles public files only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from node.config import ChainConfig, ConfigError, NodeConfig
from node.genesis import (
    ROLE_IDS,
    GenesisAccount,
    GenesisCertificate,
    GenesisFile,
    GenesisOrganisation,
    GenesisSignature,
    build_genesis,
    compose_genesis,
)
from sdk.crypto import PrivateKey, PublicKey, address_from_public_key
from sdk.domains.governance.certificates import chain_certificate, checked_anchor
from sdk.errors import IdentityCertificateError, XinlianError
from sdk.identifiers import validate_uscc
from sdk.identity.x509 import MAX_CERTIFICATE_BYTES, check_certificate

MEMBER_FORMAT: Final = "xinlian-member/1"
SIGNATURE_FORMAT: Final = "xinlian-genesis-signature/1"
PUBLIC_KEYS_FORMAT: Final = "xinlian-org-keys/1"
#: The files ``create_org_keys`` writes in an organisation's key folder.
ACCOUNT_KEY_FILE: Final = "account.pem"
VALIDATOR_KEY_FILE: Final = "validator.pem"
NODE_KEY_FILE: Final = "node.pem"  # the p2p identity of a non-validator node
PUBLIC_KEYS_FILE: Final = "public.json"

_HOST = re.compile(r"^[A-Za-z0-9.\-]+$")


# --- keys -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OrgKeys:
    """The public side of an organisation's key folder (``public.json``)."""

    account_key: bytes  # 64-byte SM2 public key of the organisation's admin account
    node_key: bytes  # 64-byte SM2 public key its node is known by on p2p links
    validator: bool  # whether ``node_key`` is a validator key (validator.pem) or an observer's (node.pem)

    @property
    def address(self) -> bytes:
        return address_from_public_key(self.account_key)

    @property
    def node_key_file(self) -> str:
        return VALIDATOR_KEY_FILE if self.validator else NODE_KEY_FILE

    @classmethod
    def load(cls, directory: Path) -> OrgKeys:
        """Read ``directory/public.json``. Raises ConfigError when it is missing or malformed."""
        path = directory / PUBLIC_KEYS_FILE
        raw = _read_json(path, "key folder", PUBLIC_KEYS_FORMAT, " (run `xinlian genesis keys`)")
        try:
            return cls(
                account_key=_public_key(raw["account_public_key"], f"{path} account key"),
                node_key=_public_key(raw["node_public_key"], f"{path} node key"),
                validator=bool(raw["validator"]),
            )
        except KeyError as exc:
            raise ConfigError(f"{path} lacks {exc}") from exc


def create_org_keys(directory: Path, *, password: bytes | None, validator: bool = True) -> OrgKeys:
    """Generate (CSPRNG) an organisation's account key and its validator key (or, with ``validator=False``,
    its p2p node key) into ``directory``: PKCS#8 PEM, encrypted with ``password`` when given, mode 600; and
    ``public.json`` with their public keys. Raises ConfigError when the folder already holds keys."""
    node_file = VALIDATOR_KEY_FILE if validator else NODE_KEY_FILE
    for name in (ACCOUNT_KEY_FILE, node_file, PUBLIC_KEYS_FILE):
        if (directory / name).exists():
            raise ConfigError(f"{directory / name} exists: this folder already holds keys")
    directory.mkdir(parents=True, exist_ok=True)
    account, node = PrivateKey.generate(), PrivateKey.generate()
    _write_private(directory / ACCOUNT_KEY_FILE, account.to_pem(password))
    _write_private(directory / node_file, node.to_pem(password))
    keys = OrgKeys(account.public_key.to_bytes(), node.public_key.to_bytes(), validator)
    public = {
        "format": PUBLIC_KEYS_FORMAT,
        "account_public_key": keys.account_key.hex(),
        "address": "0x" + keys.address.hex(),
        "node_public_key": keys.node_key.hex(),
        "validator": validator,
    }
    (directory / PUBLIC_KEYS_FILE).write_text(json.dumps(public, indent=2) + "\n", encoding="utf-8")
    return keys


def load_node_key(directory: Path, password: bytes | None) -> PrivateKey:
    """Load the validator (or node) private key of a key folder and check it matches ``public.json``.

    Raises ConfigError (missing folder files, a key that is not the one published) or InvalidKeyError
    (wrong password, malformed PEM).
    """
    keys = OrgKeys.load(directory)
    path = directory / keys.node_key_file
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    key = PrivateKey.from_pem(pem, password)
    if key.public_key.to_bytes() != keys.node_key:
        raise ConfigError(f"{path} does not hold the key published in {directory / PUBLIC_KEYS_FILE}")
    return key


def _write_private(path: Path, pem: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


# --- member files -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MemberFile:
    """What an organisation publishes to join a genesis: public material only."""

    uscc: str
    name: str
    roles: tuple[str, ...]  # Governance role names (ROLE_IDS) it asks for, globally
    account_key: bytes  # 64-byte SM2 public key of its admin account
    node_key: bytes  # its node's p2p identity: the validator key when it is a validator
    validator: bool
    api: str  # host:port of its node's API
    p2p: str  # host:port where the other nodes reach its node
    #: PEM of the organisation's SM2 X.509 certificate for its account key (optional; checked at assembly).
    certificate: str | None = None

    @property
    def address(self) -> bytes:
        return address_from_public_key(self.account_key)

    @property
    def validator_key(self) -> bytes | None:
        return self.node_key if self.validator else None

    def validate(self) -> None:
        """Raises ConfigError (or IdentifierError for the USCC) naming what is wrong."""
        validate_uscc(self.uscc)
        if not self.name.strip():
            raise ConfigError(f"member {self.uscc} has no name")
        unknown = [r for r in self.roles if r not in ROLE_IDS]
        if unknown:
            raise ConfigError(
                f"member {self.uscc} asks for unknown roles {unknown}; known: {sorted(ROLE_IDS)}"
            )
        for key, what in ((self.account_key, "account key"), (self.node_key, "node key")):
            _public_key(key.hex(), f"member {self.uscc} {what}")
        if self.account_key == self.node_key:
            raise ConfigError(f"member {self.uscc} uses one key as account key and node key")
        if self.certificate is not None and len(self.certificate) > MAX_CERTIFICATE_BYTES:
            raise ConfigError(f"member {self.uscc} certificate exceeds {MAX_CERTIFICATE_BYTES} bytes")
        parse_endpoint(self.api, f"member {self.uscc} api")
        parse_endpoint(self.p2p, f"member {self.uscc} p2p")

    def to_json(self) -> str:
        data = {
            "format": MEMBER_FORMAT,
            "uscc": self.uscc,
            "name": self.name,
            "roles": list(self.roles),
            "account_public_key": self.account_key.hex(),
            "address": "0x" + self.address.hex(),
            "validator_public_key": self.node_key.hex() if self.validator else None,
            "node_public_key": self.node_key.hex(),
            "api": self.api,
            "p2p": self.p2p,
        }
        if self.certificate is not None:
            data["certificate"] = self.certificate
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def load(cls, path: Path) -> MemberFile:
        """Read and check a member file. Raises ConfigError naming the file and what is wrong."""
        raw = _read_json(path, "member file", MEMBER_FORMAT)
        try:
            node_key = _public_key(str(raw["node_public_key"]), f"{path} node key")
            validator_hex = raw.get("validator_public_key")
            if validator_hex is not None and _public_key(str(validator_hex), f"{path}") != node_key:
                raise ConfigError(f"{path}: a validator's node key is its validator key")
            member = cls(
                uscc=str(raw["uscc"]),
                name=str(raw["name"]),
                roles=tuple(str(r) for r in raw.get("roles", ())),
                account_key=_public_key(str(raw["account_public_key"]), f"{path} account key"),
                node_key=node_key,
                validator=validator_hex is not None,
                api=str(raw["api"]),
                p2p=str(raw["p2p"]),
                certificate=None if raw.get("certificate") is None else str(raw["certificate"]),
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: malformed member file ({exc!r})") from exc
        if "address" in raw and raw["address"].lower() != "0x" + member.address.hex():
            raise ConfigError(f"{path}: address does not match the account public key")
        try:
            member.validate()
        except XinlianError as exc:
            raise ConfigError(f"{path}: {exc.message}") from exc
        return member


def parse_endpoint(value: str, what: str) -> tuple[str, int]:
    """Split ``host:port``. Raises ConfigError when it is not a host name or IPv4 address and a port."""
    host, sep, port = value.rpartition(":")
    if not sep or not _HOST.match(host) or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"{what} endpoint {value!r} is not host:port")
    return host, int(port)


# --- assembling, signing, sealing -------------------------------------------------------------------------
def assemble_genesis(
    members: Sequence[MemberFile],
    *,
    chain_id: int,
    committee: Sequence[str] = (),
    threshold: int | None = None,
    timestamp_ms: int = 0,
    chain_params: dict[str, int] | None = None,
    cas: Sequence[bytes] = (),
    at: dt.datetime | None = None,
) -> GenesisFile:
    """Build the unsigned genesis from member files: validators are the members with a validator key; the
    committee is the members with the USCCs in ``committee`` (default: every member), its threshold a
    majority unless given. Raises ConfigError for repeated USCCs, keys or endpoints, an unknown committee
    USCC or a genesis without validators.

    A member file carrying a certificate must pass ``sdk.identity.x509.check_certificate`` against the
    trusted CA certificates ``cas`` at ``at`` (default: the genesis timestamp, or now when it is 0) for its
    account key and USCC; otherwise ConfigError (``detail["reason"]`` is the refusal's code).
    """
    when = at or _genesis_time(timestamp_ms)
    check_member_certificates(members, cas, when)
    trust_anchors, certificates = genesis_trust(members, cas, when)
    for label, values in (
        ("USCC", [m.uscc for m in members]),
        ("key", [k.hex()[:16] + "…" for m in members for k in (m.account_key, m.node_key)]),
        ("API endpoint", [m.api for m in members]),
        ("p2p endpoint", [m.p2p for m in members]),
    ):
        repeated = {v for v in values if values.count(v) > 1}
        if repeated:
            raise ConfigError(f"member files repeat a {label}: {sorted(repeated)}")
    by_uscc = {m.uscc: m for m in members}
    unknown = [u for u in committee if u not in by_uscc]
    if unknown:
        raise ConfigError(f"committee USCCs {unknown} are not members")
    chosen = [by_uscc[u] for u in dict.fromkeys(committee)] if committee else list(members)
    if not chosen:
        raise ConfigError("the committee is empty")
    validators = [m.node_key for m in members if m.validator]
    if not validators:
        raise ConfigError("no member file carries a validator key: a chain needs at least one validator")
    return compose_genesis(
        ChainConfig(chain_id=chain_id, **(chain_params or {})),
        validators=validators,
        members=[
            (
                GenesisOrganisation(uscc=m.uscc, name=m.name),
                GenesisAccount(address=m.address, uscc=m.uscc, name=m.name),
                m.roles,
            )
            for m in members
        ],
        committee=[m.address for m in chosen],
        threshold=threshold if threshold is not None else len(chosen) // 2 + 1,
        timestamp_ms=timestamp_ms,
        trust_anchors=trust_anchors,
        certificates=certificates,
    )


def genesis_trust(
    members: Sequence[MemberFile], cas: Sequence[bytes], at: dt.datetime
) -> tuple[list[bytes], list[GenesisCertificate]]:
    """What the genesis records in Governance: the CA certificates as trust anchors (each an SM2 CA valid at
    ``at``) and each member's checked certificate bound to its account, all as DER. Raises ConfigError."""
    try:
        anchors = [checked_anchor(ca, at=at) for ca in cas]
        bound = [
            GenesisCertificate(
                address=m.address, certificate=chain_certificate(m.certificate.encode("utf-8"))
            )
            for m in members
            if m.certificate is not None
        ]
    except IdentityCertificateError as exc:
        raise ConfigError(
            f"a genesis certificate is refused ({exc.code}): {exc.message}", reason=exc.code
        ) from exc
    return list(dict.fromkeys(anchors)), bound


def check_member_certificates(members: Sequence[MemberFile], cas: Sequence[bytes], at: dt.datetime) -> None:
    """Check every member certificate against ``cas`` at ``at``. Raises ConfigError naming the member."""
    for m in members:
        if m.certificate is None:
            continue
        if not cas:
            raise ConfigError(f"member {m.uscc} carries a certificate but no CA certificate was given")
        try:
            check_certificate(
                m.certificate.encode("utf-8"), cas=cas, public_key=m.account_key, uscc=m.uscc, at=at
            )
        except IdentityCertificateError as exc:
            raise ConfigError(
                f"member {m.uscc}: certificate refused ({exc.code}): {exc.message}", reason=exc.code
            ) from exc


def _genesis_time(timestamp_ms: int) -> dt.datetime:
    if timestamp_ms <= 0:
        return dt.datetime.now(dt.UTC)
    return dt.datetime.fromtimestamp(timestamp_ms / 1000, dt.UTC)


def compute_genesis_hash(genesis: GenesisFile) -> bytes:
    """Execute the genesis (reference EVM, in memory) and return the hash of its height-0 block, the value
    every node computes at start-up and validators sign."""
    from node.execution import ExecutionEngine

    return build_genesis(ExecutionEngine({}, genesis.chain.chain_id), genesis).header.block_hash


@dataclass(frozen=True)
class SignatureFile:
    """One validator's approval of a genesis, as exchanged between the validators and the coordinator."""

    chain_id: int
    genesis_hash: bytes
    signature: GenesisSignature

    def to_json(self) -> str:
        data = {
            "format": SIGNATURE_FORMAT,
            "chain_id": self.chain_id,
            "genesis_hash": "0x" + self.genesis_hash.hex(),
            "validator": self.signature.validator.hex(),
            "signature": self.signature.signature.hex(),
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> SignatureFile:
        raw = _read_json(path, "signature file", SIGNATURE_FORMAT)
        try:
            return cls(
                chain_id=int(raw["chain_id"]),
                genesis_hash=bytes.fromhex(str(raw["genesis_hash"]).removeprefix("0x")),
                signature=GenesisSignature(
                    bytes.fromhex(str(raw["validator"])), bytes.fromhex(str(raw["signature"]))
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: malformed signature file ({exc!r})") from exc


def sign_genesis(genesis: GenesisFile, key: PrivateKey) -> SignatureFile:
    """Recompute the genesis hash and sign it with a genesis validator's key.

    Raises ConfigError when ``key`` is not one of the genesis validators.
    """
    if key.public_key.to_bytes() not in genesis.spec.validators:
        raise ConfigError("this key is not a validator of the genesis: only its validators sign it")
    genesis_hash = compute_genesis_hash(genesis)
    chain_id = genesis.chain.chain_id
    return SignatureFile(chain_id, genesis_hash, GenesisSignature.create(key, chain_id, genesis_hash))


def seal_genesis(genesis: GenesisFile, signatures: Sequence[tuple[str, SignatureFile]]) -> GenesisFile:
    """Return the genesis carrying the given validator signatures (``(source name, file)`` pairs).

    Every one must be a valid signature of a genesis validator over this chain id and the recomputed
    genesis hash, and together they must reach the QBFT quorum of the validator set. Raises ConfigError
    naming the first bad file, or how many valid signatures there are and how many are needed.
    """
    genesis_hash = compute_genesis_hash(genesis)
    chain_id = genesis.chain.chain_id
    for source, sig in signatures:
        if sig.chain_id != chain_id:
            raise ConfigError(f"{source} signs chain {sig.chain_id}, not chain {chain_id}")
        if sig.genesis_hash != genesis_hash:
            raise ConfigError(
                f"{source} signs genesis 0x{sig.genesis_hash.hex()}, not this one (0x{genesis_hash.hex()})"
            )
        if sig.signature.validator not in genesis.spec.validators:
            raise ConfigError(f"{source} is signed by a key that is not a genesis validator")
        if not sig.signature.is_valid(chain_id, genesis_hash):
            raise ConfigError(f"{source}: the signature does not verify")
    sealed = genesis.with_signatures(sig.signature for _, sig in signatures)
    sealed.check_signatures(genesis_hash)
    return sealed


# --- node configs -----------------------------------------------------------------------------------------
def write_node_config(
    out: Path,
    *,
    keys_dir: Path,
    genesis_path: Path,
    own: MemberFile,
    others: Sequence[MemberFile],
    password_env: str,
    bind_host: str | None = None,
    data_dir: Path | None = None,
    name: str | None = None,
) -> NodeConfig:
    """Write the node config of organisation ``own`` to ``out``: its key from ``keys_dir``, the sealed
    genesis, the p2p endpoints of the other members as peers and their non-validator node keys as allowed
    peers. Paths are written relative to ``out``'s folder.

    Raises ConfigError when the member file is not this key folder's, the member or a peer is not in the
    genesis, or the genesis is not sealed by a quorum.
    """
    keys = OrgKeys.load(keys_dir)
    if (keys.account_key, keys.node_key) != (own.account_key, own.node_key):
        raise ConfigError(f"the member file of {own.uscc} does not carry the keys of {keys_dir}")
    genesis = GenesisFile.load(genesis_path)
    accounts = {a.address for a in genesis.spec.accounts}
    for member in (own, *others):
        if member.address not in accounts:
            raise ConfigError(f"member {member.uscc} ({member.name}) is not an account of the genesis")
        if member.validator and member.node_key not in genesis.spec.validators:
            raise ConfigError(f"member {member.uscc} has a validator key the genesis does not list")
    genesis.check_signatures(compute_genesis_hash(genesis))
    api_host, api_port = parse_endpoint(own.api, "own api")
    p2p_host, p2p_port = parse_endpoint(own.p2p, "own p2p")
    base = out.resolve().parent
    key_path = keys_dir.resolve() / keys.node_key_file
    config = NodeConfig(
        name=name or f"node-{own.uscc.lower()}",
        data_dir=os.path.relpath((data_dir or base / "data").resolve(), base),
        genesis_path=os.path.relpath(genesis_path.resolve(), base),
        validator_key_path=os.path.relpath(key_path, base) if keys.validator else "",
        node_key_path="" if keys.validator else os.path.relpath(key_path, base),
        key_password_env=password_env,
        api_host=bind_host or api_host,
        api_port=api_port,
        p2p_host=bind_host or p2p_host,
        p2p_port=p2p_port,
        peers=tuple(m.p2p for m in others),
        allowed_peer_keys=tuple(m.node_key.hex() for m in others if not m.validator),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(config.to_json() + "\n", encoding="utf-8")
    return config


# --- helpers ----------------------------------------------------------------------------------------------
def _read_json(path: Path, what: str, file_format: str, hint: str = "") -> dict[str, Any]:
    """The JSON object in ``path``, a ``what`` whose ``format`` field must be ``file_format``. Raises
    ConfigError naming the file (and adding ``hint`` when the format is not the one wanted)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} {path} does not exist") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{what} {path} cannot be read as JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} {path} is not a JSON object")
    if raw.get("format") != file_format:
        raise ConfigError(f"{path} is not a {file_format} file{hint}")
    return raw


def _public_key(value: str, what: str) -> bytes:
    try:
        return PublicKey.from_hex(value.removeprefix("0x")).to_bytes()
    except (ValueError, XinlianError) as exc:
        raise ConfigError(f"{what} is not an SM2 public key") from exc
