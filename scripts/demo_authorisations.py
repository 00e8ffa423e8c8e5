"""Data-sharing authorisation story with the SDK: resource, request, subject consent, uses, revocation.

The committee (first three organisations, threshold 2: a proposal plus a second vote) registers a credit
bureau and its account, the Municipal Data Administration (DATA_REGULATOR) grants it DATA_USER; the Data
Exchange Authority (DATA_HOLDER, another organisation: no one holds both duties) lists a personal-data
resource; the bureau requests two fields for a purpose; the data subject signs the binding of her SM2 key to
her commitment with that key (her resident ID only ever becomes a salted SM3 commitment) and the regulator,
having checked her identity, binds it; a holder's attempt to bind a key of its own is refused; she signs
consent with her key; the holder grants; three uses are recorded; the subject withdraws consent; a fourth
use is refused; the use trail is read back from the member-signed API.

Run against a running node (default URL https://127.0.0.1:8545, network in var/devnet):
    .venv/bin/python scripts/demo_authorisations.py [--url URL] [--network var/devnet]
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from demo_common import DemoNetwork, decide, demo_parser, make_uscc
from samples import SAMPLE_RESIDENT_ID

from sdk.client import Client
from sdk.crypto import PrivateKey, sm3
from sdk.domains.authorisations import (
    Authorisations,
    GrantRecord,
    Level,
    ShareType,
    compute_subject_commitment,
    new_salt,
)
from sdk.domains.governance import Governance
from sdk.errors import ExecutionError, XinlianError
from sdk.signer import Signer

# The data subject's resident ID never leaves this process in clear.
DEMO_RESIDENT_ID = SAMPLE_RESIDENT_ID
FIELD_NAMES = ("name", "resident_id", "address", "annual_income", "tax_paid")


def print_trail(record: GrantRecord) -> None:
    """Print a grant's use trail, one event a line."""
    print(
        f"use trail of grant {record.grant_id} ({record.status.name}, {record.uses}/{record.use_limit} uses):"
    )
    for event in record.trail:
        shown: dict[str, Any] = {
            k: v
            for k, v in event.args.items()
            if k in ("use_number", "fields", "result_digest", "by_subject")
        }
        if "result_digest" in shown:
            shown["result_digest"] = str(shown["result_digest"])[:18] + "…"
        print(f"  block {event.height:>5}  {event.event:<16} {shown}")


def main() -> None:
    args = demo_parser(__doc__).parse_args()
    network = DemoNetwork.load(args.network)
    holder_entry, regulator_entry = network.org("DATA_HOLDER"), network.org("DATA_REGULATOR")
    if holder_entry["uscc"] == regulator_entry["uscc"]:
        raise SystemExit("the network gives one organisation both DATA_HOLDER and DATA_REGULATOR")
    holder_signer = network.signer(holder_entry)
    regulator_signer = network.signer(regulator_entry)
    relay = network.signer(network.orgs[0])

    with Client(args.url, timeout=30, ca=network.ca) as client:
        info = client.chain_info()
        print(f"chain {info.chain_id}, head {info.height}")
        committee = [Governance(client, signer) for signer in network.committee()]

        # 1. The committee registers a credit bureau and its account; the regulator grants DATA_USER.
        bureau = Signer.generate()
        uscc = make_uscc(30_000_000 + int.from_bytes(bureau.address[:3], "big") % 1_000_000, "110000")
        decide(committee, committee[0].register_organisation(uscc, "Demo Credit Bureau"))
        decide(committee, committee[0].register_account(bureau.address, uscc))
        Governance(client, regulator_signer).grant_role(bureau.address, "DATA_USER")
        print(f"requester {uscc} account 0x{bureau.address.hex()} holds DATA_USER")

        holder = Authorisations(client, holder_signer)
        regulator = Authorisations(client, regulator_signer)
        requester = Authorisations(client, bureau)

        # 2. The holder lists a personal-data resource (一般数据, 无条件共享) with five fields.
        schema = sm3(json.dumps(FIELD_NAMES).encode())
        resource = holder.register_resource(
            level=Level.GENERAL,
            share_type=ShareType.UNCONDITIONAL,
            schema_hash=schema,
            field_ids=range(len(FIELD_NAMES)),
            personal=True,
        )
        name, height = holder_entry["name"], resource.receipt.height
        print(f"resource {resource.resource_id} listed by {name} (block {height})")

        # 3. The bureau requests name + annual income for one purpose, one hour, at most 10 uses, naming the
        #    data subject only by a salted commitment.
        salt = new_salt()
        commitment = compute_subject_commitment(DEMO_RESIDENT_ID, salt)
        now = dt.datetime.now(dt.UTC)
        request = requester.request(
            resource.resource_id,
            purpose="个人贷款授信审查 (credit assessment for a personal loan)",
            field_ids=(0, 3),
            valid_from=now - dt.timedelta(minutes=1),
            valid_until=now + dt.timedelta(hours=1),
            use_limit=10,
            subject_commitment=commitment,
        )
        tag = holder.subject_tag(request.grant_id, commitment)
        print(
            f"request {request.grant_id} for fields name, annual_income; subject 0x{commitment.hex()[:16]}…, "
            f"shown on chain only as this grant's tag 0x{tag.hex()[:16]}…"
        )

        # 4. The subject signs, with her own key, the request to bind it to her commitment; the regulator
        #    (another organisation than the holder's), having checked her identity, relays it. The holder can
        #    then grant only with consent signed by that key. A key the holder made itself is refused.
        subject = PrivateKey.generate()
        holders_own = holder.subject_key_binding(
            PrivateKey.generate(), resident_id=DEMO_RESIDENT_ID, salt=salt
        )
        try:
            holder.bind_subject_key(holders_own)
        except ExecutionError as exc:
            print(f"holder binding a key of its own refused: {exc.detail.get('reason')}")
        else:
            raise SystemExit("the holder bound a subject key")
        # The subject is no member and reads nothing from the ledger: the regulator's desk tells her app
        # which key version comes next, and the app signs with her key locally.
        binding = regulator.subject_key_binding(subject, resident_id=DEMO_RESIDENT_ID, salt=salt)
        receipt = regulator.bind_subject_key(binding)
        print(
            f"subject's self-signed key bound by {regulator_entry['name']} (DATA_REGULATOR, "
            f"block {receipt.height})"
        )

        # 5. The data subject signs consent with her own key; the holder grants with it.
        consent = holder.subject_consent(subject, request.grant_id, resident_id=DEMO_RESIDENT_ID, salt=salt)
        receipt = holder.grant(request.grant_id, consent)
        print(f"granted with the subject's SM2 consent, checked on chain (block {receipt.height})")
        # The grant transaction carries her key: the bureau reads the grant, not that transaction.
        try:
            requester.client.transaction(receipt.tx_hash)
        except XinlianError as exc:
            print(f"the bureau may not read the grant transaction that carries her key ({exc.code})")
        else:
            raise SystemExit("the requester read the grant transaction that carries the subject's key")

        # 6. Three uses, each recorded with SM3 of what the holder returned.
        for number in (1, 2, 3):
            answer = json.dumps({"query": number, "at": time.time()}).encode()
            use = holder.record_use(request.grant_id, (0, 3), sm3(answer))
            print(f"use {use.use_number} recorded (block {use.receipt.height})")

        # 7. The subject withdraws consent (PIPL art. 15): her app signs the revocation of the grant the
        #    holder showed her, and any member relays it (the relay cannot read the grant itself).
        revocation = holder.subject_revocation(
            subject, request.grant_id, resident_id=DEMO_RESIDENT_ID, salt=salt
        )
        receipt = Authorisations(client, relay).revoke_by_subject(revocation)
        print(
            f"subject revoked consent (block {receipt.height}); status {holder.status(request.grant_id).name}"
        )

        # 8. A fourth use is refused on chain.
        try:
            holder.record_use(request.grant_id, (0,), sm3(b"fourth answer"))
        except ExecutionError as exc:
            print(f"fourth use refused: {exc.detail.get('reason')}")
        else:
            raise SystemExit("the fourth use was not refused")

        # 9. The use trail from the member-signed API (the holder's view; the requester sees the same).
        print_trail(holder.grant_record(request.grant_id))
        seen = requester.grants_by_subject(commitment)
        print(f"requester sees {len(seen)} grant(s) for this subject commitment")


if __name__ == "__main__":
    main()
