"""Upgrading a system contract on a running 4-validator network under load (docs/operations.md,
"Upgrading a system contract").

Four genesis validators run as real `xinlian node run` processes; a load thread submits signed transactions
all along. Two committee members (threshold 2) approve, through the SDK, a new Calendar (this build's
Calendar with a `version()` view and a `migrate()` step) to activate some blocks ahead. At that height every
node installs it: afterwards every node answers `version()` with the migrated state, Governance records the
upgrade with the old and new code hashes, a proof bundle issued afterwards proves the new code hash, every
node's chain is the same block by block (so the same state root at the activation height), and every
accepted transaction is committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector, keccak

from node.genesis import load_runtime_code
from scripts.bench.faults import FaultNet, Load, compare_stores, wait_committed
from sdk.client import Client
from sdk.domains.governance import UpgradeStatus
from sdk.proofs.trust import load_trust
from sdk.proofs.verify import Verifier
from sdk.system import CALENDAR_ADDRESS
from tests.contracts.upgrade_code import CALENDAR_V2, calendar_with
from tests.e2e.devnets import CHAIN_ID, committee_signers, make_net, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NODES = 4
#: Blocks between the head when the proposal is sent and its activation: room for the proposal and the vote.
LEAD_BLOCKS = 16
MIGRATE = function_signature_to_4byte_selector("migrate()")


@pytest.fixture
def net(tmp_path: Path) -> Iterator[FaultNet]:
    net = make_net(tmp_path / "net", NODES, validators=NODES)
    try:
        yield net
    finally:
        net.close()


def _read_uint(client: Client, signature: str) -> int:
    out = client.call(CALENDAR_ADDRESS, function_signature_to_4byte_selector(signature))
    return int(decode(["uint256"], out)[0])


def test_a_calendar_upgrade_activates_at_the_agreed_height_on_every_node_under_load(net: FaultNet) -> None:
    nodes = net.nodes
    code = calendar_with(CALENDAR_V2)
    load = Load(net, rate=5)
    try:
        net.devnet.start()
        wait_for("the first blocks", lambda: all((n.height() or 0) >= 1 for n in nodes), 60, net.devnet)
        load.start()
        first, second = committee_signers(net)
        with Client(net.urls[0], signer=first, chain_id=CHAIN_ID, timeout=30) as client:
            activation = client.chain_info().height + LEAD_BLOCKS
            proposed = client.governance.with_signer(first).propose_upgrade(
                "Calendar", code, activation_block=activation, migration=MIGRATE
            )
            assert not proposed.executed  # threshold 2
        with Client(net.urls[1], signer=second, chain_id=CHAIN_ID, timeout=30) as client:
            voted = client.governance.with_signer(second).vote(proposed.proposal_id)
            assert voted.executed and voted.receipt.height < activation
            upgrade = client.governance.upgrade(proposed.proposal_id)
            assert upgrade is not None and upgrade.status is UpgradeStatus.SCHEDULED
        wait_for(
            "every node to pass the activation height",
            lambda: all((n.height() or 0) > activation + 1 for n in nodes),
            60,
            net.devnet,
        )
        for url in net.urls:
            with Client(url, signer=first, chain_id=CHAIN_ID, timeout=10) as client:
                assert _read_uint(client, "version()") == 2
                assert _read_uint(client, "migrated_at()") == activation
                done = client.governance.upgrade(proposed.proposal_id)
                assert done is not None and done.status is UpgradeStatus.ACTIVATED, done
                assert done.previous_code_hash == keccak(load_runtime_code("Calendar"))
                assert done.code_hash == keccak(code)
                # A bundle issued now proves the code in force: the new one.
                bundle = client.proof_bundle(proposed.receipt.tx_hash, state=(CALENDAR_ADDRESS, 0))
                trust = load_trust(client.public_get("/v1/proofs/trust"))
                state = Verifier(trust=trust).verify_bundle(bundle).state
                assert state is not None and state.code_hash == keccak(code) and state.height > activation
        load.stop()
        missing = wait_committed(net, load.accepted, 120)
    finally:
        load.stop()
        net.devnet.stop()
    heads, through, differ = compare_stores(
        [f"sqlite:///{Path(n.config.data_dir) / 'chain.db'}" for n in nodes]
    )
    summary = {"activation": activation, "heads": heads, "accepted": len(load.accepted)}
    assert differ == [] and through > activation, summary  # the same blocks, state roots included
    assert missing == [], summary
    assert len(load.accepted) > 10, summary
