"""Walk through the ledger with the SDK only: register an organisation and an account by committee vote,
grant a role by delegation, transact from the new account, change the working-day calendar by committee
proposal only, then read the chain with web3.py over /rpc.

Run against a node started by `make run` (default URL https://127.0.0.1:8545, network in var/devnet):
    .venv/bin/python scripts/demo_governance.py [--url URL] [--network var/devnet]
"""

from __future__ import annotations

import datetime as dt

from demo_common import DemoNetwork, demo_parser, make_uscc
from web3 import Web3

from sdk.client import Client
from sdk.domains.calendar import ORDINARY, OnChainCalendar, date_of_day, day_of_date
from sdk.signer import Signer
from sdk.web3 import XinlianProvider


def main() -> None:
    args = demo_parser(__doc__).parse_args()
    network = DemoNetwork.load(args.network)
    committee = network.committee()
    regulator = network.signer_of("DRUG_REGULATOR")

    with Client(args.url, ca=network.ca, signer=committee[0]) as client:  # reads as a committee member
        info = client.chain_info()
        print(f"chain {info.chain_id}, head {info.height}")
        gov = client.governance
        new_key = Signer.generate()
        serial = 20_000_000 + info.height % 1_000_000 + int.from_bytes(new_key.address[:2], "big")
        uscc = make_uscc(serial, "110000")

        # 1. The committee registers a new organisation: one proposes, a second vote reaches the threshold.
        proposal = gov.with_signer(committee[0]).register_organisation(uscc, "Demo Pharmacy Chain")
        print(f"proposal {proposal.proposal_id} to register {uscc}: executed={proposal.executed}")
        if not proposal.executed:
            vote = gov.with_signer(committee[1]).vote(proposal.proposal_id)
            print(f"second vote: executed={vote.executed} (block {vote.receipt.height})")
        print(f"organisation on chain: {gov.organisation(uscc)}")

        # 2. ... and an account for it (an SM2 key generated here; its address is SM3-derived).
        proposal = gov.with_signer(committee[0]).register_account(new_key.address, uscc)
        if not proposal.executed:
            gov.with_signer(committee[1]).vote(proposal.proposal_id)
        print(f"account 0x{new_key.address.hex()} active: {gov.is_active(new_key.address)}")

        # 3. Delegated grant: the drug regulator grants DISPENSER without a committee vote.
        receipt = gov.with_signer(regulator).grant_role(new_key.address, "DISPENSER")
        print(f"DISPENSER granted in block {receipt.height}: {gov.has_role(new_key.address, 'DISPENSER')}")

        # 4. The new account transacts itself: it cannot grant roles it does not administer (a revert,
        #    recorded with its reason), which shows its transactions are admitted and executed.
        data = gov.contract.encode_call("grant_role", [new_key.address, bytes(32), bytes(32)])
        result = client.send(new_key, gov.address, data, check=False)
        reason = result.revert_reason if result.revert_reason else "none"
        print(f"own transaction 0x{result.tx_hash.hex()[:16]}… status={result.status} reason={reason}")

        # 5. The working-day calendar moves letters' due dates: one committee member alone cannot change it
        #    (a raw call to the Calendar is refused), only a proposal reaching the threshold does. The demo
        #    re-lists a far-future ordinary Monday as ORDINARY, so no deadline actually moves.
        calendar = OnChainCalendar(client)
        day = day_of_date(dt.date(2030, 1, 7))
        data = calendar.contract.encode_call("set_days", [[day], ORDINARY])
        direct = client.send(committee[0], calendar.address, data, check=False)
        print(f"calendar change by one member: status={direct.status} reason={direct.revert_reason}")
        proposal = gov.with_signer(committee[0]).propose_calendar_days([day], ORDINARY)
        print(f"calendar proposal {proposal.proposal_id}: executed={proposal.executed}")
        if not proposal.executed:
            vote = gov.with_signer(committee[1]).vote(proposal.proposal_id)
            print(f"second vote: executed={vote.executed} (block {vote.receipt.height})")
        print(
            f"{date_of_day(day)} is kind {calendar.day_kind(day)} (0 = ordinary); "
            f"calendar covers to {date_of_day(calendar.covered_through())}"
        )

    # 5. web3.py reads the same chain over JSON-RPC, as a member: each request signed by the committee key.
    w3 = Web3(XinlianProvider(args.url, committee[0], ca=network.ca))
    print(f"web3 eth_chainId={w3.eth.chain_id} eth_blockNumber={w3.eth.block_number}")
    logs = w3.eth.get_logs(
        {"fromBlock": 0, "toBlock": "latest", "address": Web3.to_checksum_address(gov.address)}
    )
    print(f"web3 eth_getLogs: {len(logs)} Governance events")
    proof = w3.eth.get_proof(Web3.to_checksum_address(gov.address), [0], "latest")
    print(
        f"web3 eth_getProof: {len(proof['accountProof'])} account proof nodes, "
        f"storageHash {proof['storageHash'].hex()}"
    )


if __name__ == "__main__":
    main()
