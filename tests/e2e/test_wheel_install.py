"""The built wheel, installed (not editable) into fresh venvs and run outside the repository, no PYTHONPATH:

- with the node extra, four organisations in four folders (four machines) create their keys, exchange only
  public member files, assemble, sign and seal a genesis, and run a 4-validator network that commits a
  transaction; the installed `xinlian verify` checks that transaction's proof bundle;
- two organisations bring SM2 certificates from a CA to the ceremony; the light install's `xinlian
  certificate check`, signing its reads with a member's encrypted PEM key without tongsuopy, checks one
  from chain state while the network runs;
- the light install (no extras) without tongsuopy, as on a platform tongsuopy ships no wheel for, verifies
  the same bundle on the gmssl backend, and its node commands say in one line what to install.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from sdk.client import Client
from sdk.signer import Signer
from tests import sm2_certs
from tests.e2e.helpers import (
    CEREMONY_CHAIN_ID,
    REPO_ROOT,
    Venv,
    commit_grant,
    run_ceremony,
    start_ceremony_nodes,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: What the light install must leave out (the node's stack) and must carry (keccak with a backend).
NODE_ONLY = ("web3", "py-evm", "pyrevm", "fastapi", "uvicorn", "sqlmodel", "psycopg")
LIGHT = ("xinlian", "cryptography", "gmssl", "eth-hash", "pycryptodome", "rlp", "eth-abi", "httpx")


def installed_from(venv: Venv) -> str:
    """Where the venv's python imports `sdk` from, run as its `xinlian` runs (from its home, its env)."""
    where = subprocess.run(
        [str(venv.python), "-c", "import sdk; print(sdk.__file__)"],
        capture_output=True, text=True, cwd=venv.home, env=venv.env(), check=True,
    )  # fmt: skip
    return where.stdout.strip()


def test_the_light_install_leaves_the_node_out_and_says_what_to_install(light_venv: Venv) -> None:
    packages = light_venv.packages()
    assert not [name for name in NODE_ONLY if name in packages], packages
    assert all(name in packages for name in LIGHT), packages
    assert "tongsuopy" not in packages  # removed, as where it has no wheel
    assert installed_from(light_venv).startswith(str(light_venv.path))
    cli = light_venv.cli()
    assert "verify" in cli("--help") and "needs xinlian[node]" in cli("--help")
    for command in (["node", "run", "--config", "node.json"], ["network", "init", "--dir", "net"]):
        done = cli.run(*command)
        assert done.returncode == 2, done.stdout + done.stderr  # USAGE (docs/cli.md)
        assert done.stdout == "" and done.stderr.count("\n") == 1
        assert done.stderr.startswith("error: this command needs the node extra: pip install 'xinlian[node]'")
    assert "gmssl → verify gmssl" in cli("selftest")


def test_four_organisations_run_a_network_from_the_installed_wheel(
    node_venv: Venv, light_venv: Venv, tmp_path: Path
) -> None:
    site = installed_from(node_venv)
    assert site.startswith(str(node_venv.path)) and str(REPO_ROOT) not in site
    cli = node_venv.cli()
    # A one-validator network from the installed layout alone (contracts/build comes from the wheel).
    cli("network", "init", "--dir", tmp_path / "single", "--validators", "1")
    assert len(json.loads((tmp_path / "single" / "genesis.json").read_text())["system_contracts"]) > 0

    authority = tmp_path / "authority"  # the CA (e.g. CFCA) that certifies two organisations' keys
    authority.mkdir()
    ceremony = run_ceremony(
        tmp_path / "machines", cli, ca=sm2_certs.self_signed_ca(authority, "Consortium CA")
    )
    with start_ceremony_nodes(ceremony, cli=cli) as nodes:
        tx_hash, committed = commit_grant(ceremony, nodes)
        assert len(set(committed)) == 1  # the same block at every validator
        # any member, with only the light install (no tongsuopy: its encrypted PEM key opens all the same),
        # checks an organisation's certificate from chain state
        certified, reader = ceremony.orgs[1], ceremony.orgs[3]
        address = "0x" + Signer(certified.private_key("account.pem")).address.hex()
        out = light_venv.cli()(
            "certificate", "check", address, "--key", reader.keys / "account.pem",
            "--password-env", reader.password_env, "--url", ceremony.orgs[2].url, "--json",
            env={reader.password_env: reader.password},
        )  # fmt: skip
        checked = json.loads(out.splitlines()[0])
        assert (
            checked["verified"] is True and checked["uscc"] == certified.uscc and checked["bound_block"] == 0
        )
        uncertified = "0x" + Signer(reader.private_key("account.pem")).address.hex()
        done = light_venv.cli().run(
            "certificate", "check", uncertified, "--key", reader.keys / "account.pem",
            "--password-env", reader.password_env, "--url", ceremony.orgs[2].url, "--json",
            env={reader.password_env: reader.password},
        )  # fmt: skip
        assert done.returncode == 1 and json.loads(done.stdout)["code"] == "x509_not_bound", done.stderr
        accreditor = ceremony.orgs[0]
        signer = Signer(accreditor.private_key("account.pem"))
        with Client(ceremony.orgs[1].url, signer=signer, chain_id=CEREMONY_CHAIN_ID) as client:
            bundle = client.proof_bundle(tx_hash)
        trust = httpx.get(f"{ceremony.orgs[2].url}/v1/proofs/trust", timeout=30).raise_for_status().json()
    # Offline, after the network is gone: the installed verifier and the light one (gmssl, no tongsuopy).
    citizen = tmp_path / "citizen"
    citizen.mkdir()
    (citizen / "bundle.json").write_text(json.dumps(bundle), encoding="utf-8")
    (citizen / "trust.json").write_text(json.dumps(trust), encoding="utf-8")
    for venv in (node_venv, light_venv):
        out = venv.cli()("verify", citizen / "bundle.json", "--trust", citizen / "trust.json", "--json")
        verdict = json.loads(out.splitlines()[0])
        assert verdict["verified"] is True, out
    tampered = json.loads(json.dumps(bundle))
    tampered["chain_id"] = CEREMONY_CHAIN_ID + 1
    (citizen / "tampered.json").write_text(json.dumps(tampered), encoding="utf-8")
    done = light_venv.cli().run("verify", citizen / "tampered.json", "--trust", citizen / "trust.json")
    assert done.returncode in (1, 3), done.stdout + done.stderr  # not verified (or refused as malformed)
