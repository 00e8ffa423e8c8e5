"""`xinlian genesis …` and `xinlian node init`: the genesis ceremony of independent organisations.

The logic is in node.ceremony; these commands read and write its files. They follow the CLI conventions
(sdk.cli_common, docs/cli.md): results on stdout (``--json`` for one JSON document), typed errors as one
stderr line with the exit status of sdk.exit_codes (a bad file is 3, an existing output 2).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from node.cli import ChainIdOption
from node.config import ConfigError
from sdk.cli_common import (
    DEFAULT_PASSWORD_ENV,
    JsonOption,
    PasswordEnvOption,
    emit_json,
    read_password,
    say,
    show_rows,
)
from sdk.errors import UsageError

if TYPE_CHECKING:
    from node.genesis import GenesisFile

genesis_app = typer.Typer(
    help="Genesis ceremony: keys, member files, assembling, signing and sealing a genesis.",
    no_args_is_help=True,
)

AssembledGenesisArgument = Annotated[Path, typer.Argument(help="The assembled genesis file.")]


@genesis_app.command("keys")
def genesis_keys(
    directory: Annotated[Path, typer.Option("--dir", "-d", help="This organisation's key folder.")],
    observer: Annotated[
        bool, typer.Option(help="A non-validator: write a p2p node key instead of a validator key.")
    ] = False,
    password_env: PasswordEnvOption = DEFAULT_PASSWORD_ENV,
    encrypt: Annotated[
        bool, typer.Option(help="Encrypt the PEM files with the password (--no-encrypt: test networks only).")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Generate this organisation's account key and validator key (SM2, encrypted PEM, mode 600) and
    public.json with their public keys. Run it on the organisation's own machine; never copy the PEMs."""
    from node.ceremony import create_org_keys

    password = read_password(password_env, confirm=True) if encrypt else None
    keys = create_org_keys(directory, password=password, validator=not observer)
    address, public = "0x" + keys.address.hex(), keys.node_key
    kind = "validator" if keys.validator else "node"
    if as_json:
        emit_json(
            {
                "keys_dir": str(directory),
                "account_address": address,
                "node_key_kind": kind,
                "node_public_key": "0x" + public.hex(),
                "encrypted": encrypt,
            }
        )
        return
    show_rows(
        f"keys written to {directory} (private keys mode 600{'' if encrypt else ', NOT encrypted'})",
        [("account address", address), (f"{kind} key", "0x" + public.hex())],
    )


@genesis_app.command("member")
def genesis_member(
    uscc: Annotated[str, typer.Option(help="The organisation's unified social credit code.")],
    name: Annotated[str, typer.Option(help="The organisation's registered name.")],
    keys: Annotated[Path, typer.Option("--keys", help="The key folder written by `genesis keys`.")],
    p2p: Annotated[str, typer.Option(help="host:port where the other nodes reach this node.")],
    api: Annotated[str, typer.Option(help="host:port of this node's API.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Member file to write (JSON).")],
    roles: Annotated[
        list[str] | None,
        typer.Option(help="Governance roles asked for (repeat or comma-separate), e.g. BANK,AUDITOR."),
    ] = None,
    certificate: Annotated[
        Path | None,
        typer.Option(help="PEM of the organisation's SM2 X.509 certificate for its account key (optional)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write this organisation's member file: public keys, USCC, name, roles and endpoints only."""
    from node.ceremony import MemberFile, OrgKeys

    org = OrgKeys.load(keys)
    member = MemberFile(
        uscc=uscc.strip().upper(),
        name=name.strip(),
        roles=tuple(r.strip().upper() for group in roles or () for r in group.split(",") if r.strip()),
        account_key=org.account_key,
        node_key=org.node_key,
        validator=org.validator,
        api=api,
        p2p=p2p,
        certificate=None if certificate is None else _read_text(certificate, "certificate"),
    )
    member.validate()
    _write(out, member.to_json())
    if as_json:
        emit_json({"member_file": str(out), "uscc": member.uscc, "validator": member.validator})
        return
    say(f"member file written to {out}: send it to the coordinator and the other members")


@genesis_app.command("assemble")
def genesis_assemble(
    members: Annotated[list[Path], typer.Argument(help="Every member's member file.")],
    chain_id: ChainIdOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Genesis file to write.")],
    committee: Annotated[
        list[str] | None, typer.Option(help="USCC of a committee member (repeat; default: every member).")
    ] = None,
    threshold: Annotated[
        int | None, typer.Option(min=1, help="Committee approvals a proposal needs (default: a majority).")
    ] = None,
    timestamp_ms: Annotated[
        int | None, typer.Option(help="Genesis timestamp in ms since the epoch (default: now).")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(help="Chain parameter NAME=VALUE (node.config.ChainConfig), e.g. block_period_ms=500."),
    ] = None,
    ca: Annotated[
        list[Path] | None,
        typer.Option("--ca", help="A trusted CA certificate (PEM) for member certificates (repeat)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Assemble the unsigned genesis from member files: validators are the members with a validator key."""
    from node.ceremony import MemberFile, assemble_genesis, compute_genesis_hash

    chain_params: dict[str, int] = {}
    for item in param or ():
        key, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise ConfigError(f"chain parameter {item!r} is not NAME=INTEGER")
        chain_params[key.strip()] = int(value)
    try:
        genesis = assemble_genesis(
            [MemberFile.load(p) for p in members],
            chain_id=chain_id,
            committee=[c.strip().upper() for group in committee or () for c in group.split(",") if c.strip()],
            threshold=threshold,
            timestamp_ms=int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
            chain_params=chain_params,
            cas=[_read_text(p, "CA certificate").encode("utf-8") for p in ca or ()],
        )
    except TypeError as exc:  # an unknown ChainConfig field
        raise ConfigError(f"unknown chain parameter: {exc}") from exc
    if out.exists():
        raise UsageError(f"{out} exists; remove it first")
    _write(out, genesis.to_json() + "\n")
    _describe(
        genesis,
        compute_genesis_hash(genesis),
        f"unsigned genesis written to {out}: each validator signs it (`genesis sign`)",
        as_json=as_json,
        genesis_file=str(out),
    )


@genesis_app.command("sign")
def genesis_sign(
    genesis_path: AssembledGenesisArgument,
    keys: Annotated[Path, typer.Option("--keys", help="This validator's key folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Signature file to write (JSON).")],
    password_env: PasswordEnvOption = DEFAULT_PASSWORD_ENV,
    as_json: JsonOption = False,
) -> None:
    """Recompute the genesis hash and sign it with this organisation's validator key.

    Read what it prints (chain id, validators, organisations, roles) before sending the signature: it is
    this organisation's approval of exactly that genesis."""
    from node.ceremony import load_node_key, sign_genesis
    from node.genesis import GenesisFile

    genesis = GenesisFile.load(genesis_path)
    key = load_node_key(keys, read_password(password_env))
    signature = sign_genesis(genesis, key)
    _write(out, signature.to_json())
    _describe(
        genesis,
        signature.genesis_hash,
        f"signature of this genesis written to {out}",
        as_json=as_json,
        signature_file=str(out),
    )


@genesis_app.command("seal")
def genesis_seal(
    genesis_path: AssembledGenesisArgument,
    signatures: Annotated[list[Path], typer.Argument(help="Signature files of the validators.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Sealed genesis to write (what nodes load).")],
    as_json: JsonOption = False,
) -> None:
    """Put the validators' signatures into the genesis; refuses invalid ones and fewer than a quorum."""
    from node.ceremony import SignatureFile, seal_genesis
    from node.genesis import GenesisFile

    genesis = GenesisFile.load(genesis_path)
    sealed = seal_genesis(genesis, [(str(p), SignatureFile.load(p)) for p in signatures])
    _write(out, sealed.to_json() + "\n")
    if as_json:
        emit_json(
            {
                "sealed_genesis": str(out),
                "signatures": len(sealed.signatures),
                "validators": len(sealed.spec.validators),
            }
        )
        return
    say(
        f"sealed genesis with {len(sealed.signatures)} of {len(sealed.spec.validators)} validator signatures "
        f"written to {out}: every organisation's node loads this file"
    )


def node_init(
    keys: Annotated[Path, typer.Option("--keys", help="This organisation's key folder.")],
    member: Annotated[Path, typer.Option("--member", help="This organisation's member file.")],
    genesis_path: Annotated[Path, typer.Option("--genesis", help="The sealed genesis file.")],
    others: Annotated[list[Path], typer.Argument(help="The other members' member files.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Node config to write.")],
    password_env: PasswordEnvOption = DEFAULT_PASSWORD_ENV,
    bind: Annotated[
        str | None, typer.Option(help="Address to listen on (default: the member file's hosts).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data folder (default: data/ next to the config).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Node name and API audience (default: node-<uscc>).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write this organisation's node config: its own key, the sealed genesis, the others as peers."""
    from node.ceremony import MemberFile, write_node_config

    own = MemberFile.load(member)
    peers = [MemberFile.load(p) for p in others]
    if any(p.uscc == own.uscc for p in peers):
        raise ConfigError("pass the other members' files, not this organisation's own, as peers")
    config = write_node_config(
        out,
        keys_dir=keys,
        genesis_path=genesis_path,
        own=own,
        others=peers,
        password_env=password_env,
        bind_host=bind,
        data_dir=data_dir,
        name=name,
    )
    if as_json:
        emit_json({"node_config": str(out), "name": config.name, "peers": list(config.peers)})
        return
    say(
        f"node config written to {out} ({len(config.peers)} peers); run it with "
        f"`{password_env}=… xinlian node run --config {out}`"
    )


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from exc


def _write(path: Path, text: str) -> None:
    """Write a ceremony file (UTF-8), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _describe(
    genesis: GenesisFile, genesis_hash: bytes, title: str, *, as_json: bool, **written: str
) -> None:
    """Show what a genesis holds, for the operator to check before approving it, and what was written."""
    from node.genesis import ROLE_NAMES

    spec = genesis.spec
    roles: dict[bytes, list[str]] = {}
    for r in spec.roles:
        roles.setdefault(r.address, []).append(ROLE_NAMES[r.role])
    organisations = [
        {
            "uscc": account.uscc,
            "name": account.name,
            "account": "0x" + account.address.hex(),
            "committee": account.address in spec.committee,
            "roles": roles.get(account.address, []),
        }
        for account in spec.accounts
    ]
    if as_json:
        emit_json(
            {
                **written,
                "chain_id": genesis.chain.chain_id,
                "genesis_hash": "0x" + genesis_hash.hex(),
                "validators": len(spec.validators),
                "committee": len(spec.committee),
                "threshold": spec.threshold,
                "organisations": organisations,
            }
        )
        return
    rows = [
        ("chain id", str(genesis.chain.chain_id)),
        ("genesis hash", "0x" + genesis_hash.hex()),
        ("validators", str(len(spec.validators))),
        ("committee", f"{len(spec.committee)}, threshold {spec.threshold}"),
    ]
    for account in spec.accounts:
        committee = " committee" if account.address in spec.committee else ""
        held = ",".join(roles.get(account.address, [])) or "-"
        rows.append((account.uscc, f"{account.name} 0x{account.address.hex()}{committee} {held}"))
    show_rows(title, rows)
