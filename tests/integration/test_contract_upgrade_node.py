"""A contract upgrade on a real node, from the command line: `xinlian proposal upgrade` (the test committee's
threshold is 1, so the proposal is approved at once), the code installed at the activation block, `proposal
show` reporting it, the new function answering. The node runs the native engine; after the module its whole
chain, the upgrade block included, is replayed on py-evm, which must agree block by block."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector, keccak
from typer.testing import CliRunner

from node.genesis import load_runtime_code
from sdk.cli import app
from sdk.client import Client
from sdk.exit_codes import ExitCode
from sdk.proofs.trust import Trust, load_trust
from sdk.proofs.verify import Verifier
from sdk.system import CALENDAR_ADDRESS, MAX_CODE_BYTES, UPGRADE_NOTICE_BLOCKS
from tests.contracts.upgrade_code import CALENDAR_V2, calendar_with

if TYPE_CHECKING:
    from node_fixtures import RunningNode

pytest_plugins = ["node_fixtures"]

runner = CliRunner()
MIGRATE = "0x" + function_signature_to_4byte_selector("migrate()").hex()


def run(argv: list[str]) -> tuple[int, Any, str]:
    result = runner.invoke(app, [*argv, "--json"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, json.loads(result.stdout) if result.stdout else None, result.stderr


def committee_key(node: RunningNode) -> str:
    orgs = json.loads((node.data_dir / "orgs.json").read_text(encoding="utf-8"))
    return str(node.data_dir / orgs[0]["key"])


def advance_to(node: RunningNode, height: int) -> None:
    """Commit blocks of one harmless transaction until the node is at ``height`` (it makes no empty
    blocks)."""
    read = function_signature_to_4byte_selector("covered_through()")
    with Client(node.url, signer=node.committee.signer) as client:
        while node.ledger.height < height:
            client.send(node.committee.signer, CALENDAR_ADDRESS, read, check=True)


def test_a_committee_member_upgrades_the_calendar_from_the_command_line(
    running_node: RunningNode, tmp_path: Path
) -> None:
    node = running_node
    key = committee_key(node)
    common = ["--key", key, "--url", node.url]
    code = calendar_with(CALENDAR_V2)
    code_file = tmp_path / "calendar-v2.hex"
    code_file.write_text("0x" + code.hex(), encoding="utf-8")
    activation = node.ledger.height + UPGRADE_NOTICE_BLOCKS + 10
    argv = ["proposal", "upgrade", "--contract", "Calendar", "--code", str(code_file)]
    status, proposed, err = run(
        [*argv, "--activation-block", str(activation), "--migration", MIGRATE, *common]
    )
    assert status == ExitCode.OK, err
    assert proposed["executed"] is True and proposed["upgrade"]["status"] == "scheduled"
    assert proposed["upgrade"]["code_hash"] == "0x" + keccak(code).hex()
    proposal_tx = bytes.fromhex(proposed["tx_hash"][2:])
    before = bundle_code_hash(node, proposal_tx)  # a bundle issued before the activation block
    assert before.code_hash == keccak(load_runtime_code("Calendar")) and before.height < activation

    advance_to(node, activation + 1)
    status, shown, err = run(["proposal", "show", str(proposed["proposal_id"]), *common])
    assert status == ExitCode.OK, err
    assert shown["action"] == "UPGRADE_CONTRACT"
    assert shown["upgrade"]["status"] == "activated"
    assert shown["upgrade"]["previous_code_hash"] == "0x" + keccak(load_runtime_code("Calendar")).hex()
    with Client(node.url, signer=node.committee.signer) as client:
        out = client.call(CALENDAR_ADDRESS, function_signature_to_4byte_selector("version()"))
        assert decode(["uint256"], out)[0] == 2
        assert node.ledger.get_code(node.ledger.head.header.state_root, CALENDAR_ADDRESS) == code
    # A bundle issued now proves the new code; the one issued before still verifies, with the old code.
    after = bundle_code_hash(node, proposal_tx)
    assert after.code_hash == keccak(code) and after.height > activation
    assert Verifier(trust=trust_of(node)).verify_bundle(before.bundle).state.code_hash == before.code_hash


@dataclass(frozen=True)
class ProvenCode:
    bundle: dict[str, Any]
    height: int  # of the state proof
    code_hash: bytes


def trust_of(node: RunningNode) -> Trust:
    return load_trust(httpx.get(f"{node.url}/v1/proofs/trust").json())


def bundle_code_hash(node: RunningNode, tx_hash: bytes) -> ProvenCode:
    """A bundle of ``tx_hash`` with a proof of the Calendar's first slot at the head, verified offline."""
    with Client(node.url, signer=node.committee.signer) as client:
        bundle = client.proof_bundle(tx_hash, state=(CALENDAR_ADDRESS, 0))
    state = Verifier(trust=trust_of(node)).verify_bundle(bundle).state
    assert state is not None
    return ProvenCode(bundle, state.height, state.code_hash)


def test_upgrades_the_sdk_refuses_before_signing(running_node: RunningNode, tmp_path: Path) -> None:
    common = ["--key", committee_key(running_node), "--url", running_node.url]
    head = running_node.ledger.height
    oversized = tmp_path / "oversized.hex"
    oversized.write_text("0x" + "00" * (MAX_CODE_BYTES + 1), encoding="utf-8")
    calendar = tmp_path / "calendar.hex"
    calendar.write_text("0x" + load_runtime_code("Calendar").hex(), encoding="utf-8")
    not_code = tmp_path / "not-code.json"
    not_code.write_text("{}", encoding="utf-8")
    cases = [
        (
            ["--contract", "Calendar", "--code", str(oversized), "--activation-block", str(head + 50)],
            "bad_upgrade",
        ),
        (
            ["--contract", "Calendar", "--code", str(calendar), "--activation-block", str(head + 1)],
            "bad_upgrade",
        ),
        (
            ["--contract", "NoSuchThing", "--code", str(calendar), "--activation-block", str(head + 50)],
            "bad_upgrade",
        ),
        (
            ["--contract", "Calendar", "--code", str(not_code), "--activation-block", str(head + 50)],
            "deployed_bytecode",
        ),
    ]
    for argv, expected in cases:
        status, out, err = run(["proposal", "upgrade", *argv, *common])
        assert status != ExitCode.OK and out is None and expected in err, (argv, err)


def test_the_largest_code_fits_in_one_transaction(running_node: RunningNode) -> None:
    """EIP-170's 24,576 bytes of code pass the API, admission and the transaction gas limit."""
    node = running_node
    code = bytes(range(1, 256)) * (MAX_CODE_BYTES // 255) + b"\x01" * (MAX_CODE_BYTES % 255)
    assert len(code) == MAX_CODE_BYTES
    with Client(node.url, signer=node.committee.signer) as client:
        governance = client.governance.with_signer(node.committee.signer)
        result = governance.propose_upgrade("Calendar", code, activation_block=node.ledger.height + 10_000)
        upgrade = governance.upgrade(result.proposal_id)
    assert upgrade is not None and upgrade.code_hash == keccak(code)
    assert result.receipt.gas_used < node.node.chain.tx_gas_limit
