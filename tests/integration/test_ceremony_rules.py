"""The genesis ceremony's rules in process (node.ceremony): member files, assembling, signing, sealing, node
configs, observers, and the demo network's own signatures. Real SM2 keys, real genesis execution."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from node.ceremony import (
    MemberFile,
    OrgKeys,
    SignatureFile,
    assemble_genesis,
    compute_genesis_hash,
    create_org_keys,
    load_node_key,
    seal_genesis,
    sign_genesis,
    write_node_config,
)
from node.config import ConfigError, NodeConfig
from node.demo_network import init_network, make_uscc, seal_demo_genesis
from node.genesis import GenesisFile, GenesisSignature, genesis_signature_preimage
from node.runtime import Node
from sdk.crypto import PrivateKey
from sdk.errors import IdentifierError, InvalidKeyError

PASSWORD = b"correct horse"


def make_member(base: Path, i: int, *, validator: bool = True, roles: tuple[str, ...] = ()) -> MemberFile:
    keys = create_org_keys(base / f"org-{i}" / "keys", password=PASSWORD, validator=validator)
    member = MemberFile(
        uscc=make_uscc("330000", 40_000_001 + i),
        name=f"Organisation {i}",
        roles=roles,
        account_key=keys.account_key,
        node_key=keys.node_key,
        validator=validator,
        api=f"127.0.0.1:{18_000 + i}",
        p2p=f"127.0.0.1:{19_000 + i}",
    )
    (base / f"org-{i}" / "member.json").write_text(member.to_json(), encoding="utf-8")
    return member


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[MemberFile]]:
    """Three validators and one observer, each with its own key folder."""
    base = tmp_path_factory.mktemp("orgs")
    members = [make_member(base, i, roles=("BANK",) if i == 1 else ()) for i in range(3)]
    members.append(make_member(base, 3, validator=False))
    return base, members


def signatures(base: Path, genesis: GenesisFile, count: int) -> list[tuple[str, SignatureFile]]:
    return [
        (f"org-{i}", sign_genesis(genesis, load_node_key(base / f"org-{i}" / "keys", PASSWORD)))
        for i in range(count)
    ]


def test_keys_are_encrypted_private_and_match_public_json(tmp_path: Path) -> None:
    keys = create_org_keys(tmp_path / "k", password=PASSWORD)
    for name in ("account.pem", "validator.pem"):
        path = tmp_path / "k" / name
        assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert path.stat().st_mode & 0o777 == 0o600
    assert load_node_key(tmp_path / "k", PASSWORD).public_key.to_bytes() == keys.node_key
    assert OrgKeys.load(tmp_path / "k") == keys
    with pytest.raises(InvalidKeyError):
        load_node_key(tmp_path / "k", b"wrong")
    with pytest.raises(ConfigError, match="already holds keys"):
        create_org_keys(tmp_path / "k", password=PASSWORD)


def test_member_files_are_checked(four: tuple[Path, list[MemberFile]], tmp_path: Path) -> None:
    base, members = four
    assert MemberFile.load(base / "org-1" / "member.json") == members[1]
    assert MemberFile.load(base / "org-3" / "member.json").validator_key is None
    good = json.loads((base / "org-0" / "member.json").read_text())
    for change, message in (
        ({"roles": ["KING"]}, "unknown roles"),
        ({"p2p": "nowhere"}, "not host:port"),
        ({"api": "127.0.0.1:70000"}, "not host:port"),
        ({"account_public_key": "00" * 64}, "not an SM2 public key"),
        ({"address": "0x" + "00" * 20}, "address does not match"),
        ({"validator_public_key": members[1].node_key.hex()}, "validator key"),
    ):
        (tmp_path / "m.json").write_text(json.dumps({**good, **change}), encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            MemberFile.load(tmp_path / "m.json")
    uscc = members[0].uscc
    with pytest.raises(IdentifierError):  # a wrong check character
        dataclasses.replace(members[0], uscc=uscc[:-1] + ("1" if uscc[-1] == "0" else "0")).validate()


def test_assembling_takes_validators_committee_and_roles_from_member_files(
    four: tuple[Path, list[MemberFile]],
) -> None:
    _, members = four
    genesis = assemble_genesis(members, chain_id=9191, committee=[members[0].uscc, members[1].uscc])
    assert set(genesis.spec.validators) == {m.node_key for m in members[:3]}
    assert members[3].node_key not in genesis.spec.validators  # the observer
    assert genesis.spec.committee == (members[0].address, members[1].address)
    assert genesis.spec.threshold == 2
    assert [r.address for r in genesis.spec.roles] == [members[1].address]
    assert {a.address for a in genesis.spec.accounts} == {m.address for m in members}
    default = assemble_genesis(members, chain_id=9191, threshold=4)
    assert len(default.spec.committee) == 4 and default.spec.threshold == 4
    assert GenesisFile.from_dict(json.loads(genesis.to_json())).spec == genesis.spec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"uscc": None}, "repeat a USCC"),
        ({"p2p": None}, "repeat a p2p endpoint"),
        ({"account_key": None}, "repeat a key"),
    ],
)
def test_assembling_refuses_repeated_members(
    four: tuple[Path, list[MemberFile]], change: dict[str, None], message: str
) -> None:
    _, members = four
    field = next(iter(change))
    clone = dataclasses.replace(members[1], **{field: getattr(members[0], field)})
    with pytest.raises(ConfigError, match=message):
        assemble_genesis([members[0], clone, members[2]], chain_id=9191)


def test_assembling_refuses_unknown_committee_and_no_validator(four: tuple[Path, list[MemberFile]]) -> None:
    _, members = four
    with pytest.raises(ConfigError, match="not members"):
        assemble_genesis(members, chain_id=9191, committee=[make_uscc("110000", 99_999_999)])
    with pytest.raises(ConfigError, match="no member file carries a validator key"):
        assemble_genesis(members[3:], chain_id=9191)


def test_signing_and_sealing(four: tuple[Path, list[MemberFile]]) -> None:
    base, members = four
    genesis = assemble_genesis(members, chain_id=9191, timestamp_ms=1)
    genesis_hash = compute_genesis_hash(genesis)
    sigs = signatures(base, genesis, 3)
    assert all(s.genesis_hash == genesis_hash and s.chain_id == 9191 for _, s in sigs)
    assert SignatureFile.load(_write(base / "sig.json", sigs[0][1].to_json())) == sigs[0][1]
    # The observer's key is not a validator's: it cannot sign.
    with pytest.raises(ConfigError, match="not a validator"):
        sign_genesis(genesis, load_node_key(base / "org-3" / "keys", PASSWORD))
    # The quorum of 3 validators is ceil(2 * 3 / 3) = 2.
    with pytest.raises(ConfigError, match="need 2") as info:
        seal_genesis(genesis, sigs[:1])
    assert (info.value.detail["found"], info.value.detail["needed"]) == (1, 2)
    sealed = seal_genesis(genesis, sigs + sigs[:1])  # a repeated signature counts once
    assert len(sealed.signatures) == 3 and sealed.check_signatures(genesis_hash) == 3
    assert GenesisFile.from_dict(json.loads(sealed.to_json())).signatures == sealed.signatures
    # A signature of another genesis (another timestamp) or another chain is refused by name.
    other = assemble_genesis(members, chain_id=9191, timestamp_ms=2)
    with pytest.raises(ConfigError, match="org-0 signs genesis"):
        seal_genesis(genesis, signatures(base, other, 1) + sigs[1:])
    foreign = dataclasses.replace(sigs[0][1], chain_id=9192)
    with pytest.raises(ConfigError, match="signs chain 9192"):
        seal_genesis(genesis, [("foreign", foreign), *sigs[1:]])
    forged = dataclasses.replace(
        sigs[0][1], signature=GenesisSignature(sigs[0][1].signature.validator, bytes(64))
    )
    with pytest.raises(ConfigError, match="does not verify"):
        seal_genesis(genesis, [("forged", forged), *sigs[1:]])


def test_the_preimage_is_domain_tagged_and_carries_the_chain_id() -> None:
    preimage = genesis_signature_preimage(7, b"\x01" * 32)
    assert b"xinlian/genesis/1" in preimage and preimage != genesis_signature_preimage(8, b"\x01" * 32)
    with pytest.raises(ConfigError):
        genesis_signature_preimage(7, b"\x01" * 31)


def test_node_configs_for_validators_and_observers(
    four: tuple[Path, list[MemberFile]], tmp_path: Path
) -> None:
    base, members = four
    genesis = assemble_genesis(members, chain_id=9191)
    unsealed = _write(tmp_path / "genesis.json", genesis.to_json())
    sealed = _write(
        tmp_path / "genesis.sealed.json", seal_genesis(genesis, signatures(base, genesis, 3)).to_json()
    )
    own, others = members[0], members[1:]
    with pytest.raises(ConfigError, match="need 2"):
        write_node_config(
            tmp_path / "n.json", keys_dir=base / "org-0" / "keys", genesis_path=unsealed, own=own,
            others=others, password_env="PW",
        )  # fmt: skip
    with pytest.raises(ConfigError, match="does not carry the keys"):
        write_node_config(
            tmp_path / "n.json", keys_dir=base / "org-1" / "keys", genesis_path=sealed, own=own,
            others=others, password_env="PW",
        )  # fmt: skip
    config = write_node_config(
        tmp_path / "a" / "node.json", keys_dir=base / "org-0" / "keys", genesis_path=sealed, own=own,
        others=others, password_env="PW",
    )  # fmt: skip
    assert config.peers == tuple(m.p2p for m in others)
    assert config.allowed_peer_keys == (members[3].node_key.hex(),)
    assert (config.api_port, config.p2p_port) == (18_000, 19_000)
    loaded = NodeConfig.load(tmp_path / "a" / "node.json")
    assert Path(loaded.validator_key_path).resolve() == (base / "org-0" / "keys" / "validator.pem").resolve()
    assert Path(loaded.genesis_path).resolve() == sealed.resolve() and loaded.key_password_env == "PW"
    observer = write_node_config(
        tmp_path / "d" / "node.json", keys_dir=base / "org-3" / "keys", genesis_path=sealed, own=members[3],
        others=members[:3], password_env="PW", bind_host="0.0.0.0",
    )  # fmt: skip
    assert observer.validator_key_path == "" and observer.node_key_path.endswith("node.pem")
    assert observer.allowed_peer_keys == () and observer.p2p_host == "0.0.0.0"


def test_a_node_starts_from_the_sealed_genesis_with_its_encrypted_key(
    four: tuple[Path, list[MemberFile]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, members = four
    genesis = assemble_genesis(members, chain_id=9191)
    sealed = _write(
        tmp_path / "genesis.sealed.json", seal_genesis(genesis, signatures(base, genesis, 3)).to_json()
    )
    write_node_config(
        tmp_path / "node.json", keys_dir=base / "org-0" / "keys", genesis_path=sealed, own=members[0],
        others=members[1:], password_env="XL_CEREMONY_PW",
    )  # fmt: skip
    monkeypatch.setenv("XL_CEREMONY_PW", PASSWORD.decode())
    node = Node(NodeConfig.load(tmp_path / "node.json"))
    try:
        assert node.genesis_hash == compute_genesis_hash(genesis)
        assert node.key is not None and node.key.public_key.to_bytes() == members[0].node_key
    finally:
        node.stop()


def test_the_demo_network_signs_its_genesis_and_an_older_one_is_sealed_on_resume(tmp_path: Path) -> None:
    net = init_network(tmp_path / "net", validators=4, chain_id=4321)
    path = net / "genesis.json"
    genesis = GenesisFile.load(path)
    genesis_hash = compute_genesis_hash(genesis)
    assert genesis.check_signatures(genesis_hash) == 4
    assert not seal_demo_genesis(net)  # already signed: untouched
    path.write_text(genesis.with_signatures(()).to_json(), encoding="utf-8")  # as written before signatures
    with pytest.raises(ConfigError) as info:
        Node(NodeConfig.load(net / "nodes" / "node-0.json"))
    assert info.value.code == "genesis_unsigned" and info.value.detail == {
        "found": 0,
        "needed": 3,
        "genesis_hash": "0x" + genesis_hash.hex(),
    }
    assert seal_demo_genesis(net)
    Node(NodeConfig.load(net / "nodes" / "node-0.json")).stop()
    assert GenesisFile.load(path).check_signatures(genesis_hash) == 4


def test_outsider_signatures_do_not_count(four: tuple[Path, list[MemberFile]]) -> None:
    _, members = four
    genesis = assemble_genesis(members, chain_id=9191)
    genesis_hash = compute_genesis_hash(genesis)
    outsiders = [GenesisSignature.create(PrivateKey.generate(), 9191, genesis_hash) for _ in range(3)]
    assert genesis.with_signatures(outsiders).signatures == ()  # not validators: dropped
    forged = dataclasses.replace(genesis, signatures=tuple(outsiders))
    assert forged.count_valid_signatures(genesis_hash) == 0
    malformed = tuple(GenesisSignature(v, b"\x01" * 10) for v in genesis.spec.validators)
    assert dataclasses.replace(genesis, signatures=malformed).count_valid_signatures(genesis_hash) == 0


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
