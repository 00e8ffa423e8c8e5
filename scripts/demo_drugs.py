"""Drug traceability walkthrough (SDK): commission, pack, ship twice, receive, dispense, refuse a repeat.

The committee (first three demo organisations, threshold 2) registers a distributor and a pharmacy, the drug
regulator grants them DISTRIBUTOR / DISPENSER and binds the MAH's 药品标识码 block to the MAH (only then may
the MAH register those products), and the MAH's codes travel to a patient. Run against a node:
    .venv/bin/python scripts/demo_drugs.py [--url https://127.0.0.1:8545] [--network var/devnet]
"""

from __future__ import annotations

import datetime as dt
import secrets

from demo_common import DemoNetwork, decide, demo_parser, make_uscc

from sdk.client import Client
from sdk.domains.drugs import BillType, Drugs, KeyScheme, Level
from sdk.domains.governance import Governance
from sdk.errors import DrugAlertError
from sdk.signer import Signer

UNIT_KEY, CASE_KEY = "8612001", "8612002"
MAH_KEY_PREFIX = "861200"  # the 药品标识码 block the code issuer assigned to the MAH: it covers both keys
PRODUCTION, EXPIRY = dt.date(2025, 6, 1), dt.date(2028, 5, 31)


def register_trader(
    committee: list[Governance], regulator: Governance, name: str, role: str
) -> tuple[Signer, str]:
    """Register an organisation and an account by committee vote, then grant ``role`` by delegation."""
    signer = Signer.generate()
    uscc = make_uscc(int.from_bytes(secrets.token_bytes(4), "big"), "330100")  # Hangzhou
    decide(committee, committee[0].register_organisation(uscc, name))
    decide(committee, committee[0].register_account(signer.address, uscc))
    receipt = regulator.grant_role(signer.address, role)
    print(
        f"  {name} ({uscc}) account 0x{signer.address.hex()[:12]}… granted {role} in block {receipt.height}"
    )
    return signer, uscc


def main() -> None:
    """Run the walkthrough; prints each step."""
    args = demo_parser(__doc__).parse_args()
    network = DemoNetwork.load(args.network)
    with Client(args.url, ca=network.ca) as client:
        info = client.chain_info()
        print(f"chain {info.chain_id}, head {info.height}")
        committee = [Governance(client, signer) for signer in network.committee()]
        regulator_signer = network.signer_of("DRUG_REGULATOR")
        regulator = Governance(client, regulator_signer)
        drug_regulator = Drugs(client, regulator_signer)
        mah_signer = network.signer_of("MAH")
        mah_uscc = network.org("MAH")["uscc"]

        print("1. committee registers a distributor and a pharmacy; the regulator grants their roles")
        dist_signer, _ = register_trader(
            committee, regulator, "Zhejiang Medicine Distribution", "DISTRIBUTOR"
        )
        pharm_signer, _ = register_trader(committee, regulator, "West Lake Pharmacy", "DISPENSER")
        mah, dist, pharm = Drugs(client, mah_signer), Drugs(client, dist_signer), Drugs(client, pharm_signer)

        print(
            "2. the regulator binds the MAH's 药品标识码 block, the MAH registers its products (once a chain)"
        )
        if drug_regulator.registrant(UNIT_KEY) != mah_uscc:
            drug_regulator.assign_key_prefix(
                KeyScheme.NMPA, MAH_KEY_PREFIX, mah_uscc, "药品标识码 block assigned by the code issuer"
            )
        print(f"  药品标识码 {MAH_KEY_PREFIX}x: registered only by MAH {drug_regulator.registrant(UNIT_KEY)}")
        if mah.product(UNIT_KEY) is None:
            mah.register_product(UNIT_KEY, "Amoxicillin Capsules 0.25 g x 24", "国药准字H33020001")
            mah.register_product(
                CASE_KEY, "Amoxicillin Capsules, case of 10", "国药准字H33020001", packs=UNIT_KEY
            )
        product = mah.product(UNIT_KEY)
        if product is not None:
            print(f"  {product.name}, {product.approval_number}, MAH {product.mah_uscc}")

        run = secrets.randbelow(10**9)
        units = [f"{UNIT_KEY}{run * 100 + i:013d}" for i in range(10)]
        case = f"{CASE_KEY}{run:013d}"
        batch = f"B{run % 10**6:06d}"
        print(f"3. commission 10 units and a case in batch {batch}, pack the units into the case")
        result = mah.commission(units, batch, PRODUCTION, EXPIRY, Level.UNIT)
        mah.commission([case], batch, PRODUCTION, EXPIRY, Level.CASE)
        receipt = mah.aggregate(case, units)
        print(
            f"  {result.count} units (gas {result.receipts[0].gas_used}), case {case}, "
            f"packed in block {receipt.height}"
        )

        print("4. MAH ships the case to the distributor (201 sale); custody moves only on receipt")
        shipment = mah.ship([case], dist_signer.address, BillType.SALE)
        state = dist.code_state(units[0])
        print(f"  shipment {shipment.shipment_id}: unit status {state.status.name}, custodian still MAH")
        dist.receive(shipment.shipment_id)
        print(f"  received: custodian 0x{dist.code_state(units[0]).custodian.hex()[:12]}… (distributor)")

        print("5. distributor ships the case to the pharmacy; the pharmacy receives it")
        shipment = dist.ship([case], pharm_signer.address, BillType.SALE)
        pharm.receive(shipment.shipment_id)

        print(f"6. pharmacy dispenses unit {units[0]}")
        receipt = pharm.dispense(units[0])
        print(f"  dispensed in block {receipt.height}")
        try:
            pharm.dispense(units[0])
        except DrugAlertError as refused:
            tx = refused.detail["tx_hash"]
            print(f"  second dispensing refused: {refused.reason!r}, recorded as an Alert in tx {tx[:18]}…")

        print("7. a consumer scans the pack")
        view = Drugs(client).consumer_query(units[0])
        print(
            f"  authentic={view.authentic} product={view.product_name!r} MAH={view.mah_name!r} "
            f"batch={view.batch_no} expiry={view.expiry_date} status={view.status.name} "
            f"recalled={view.recalled}"
        )
        for step in view.trail:
            print(f"    {step.step:<13} {step.organisation} ({step.uscc}) block {step.height}")
        unknown = Drugs(client).consumer_query(f"{UNIT_KEY}{run * 100 + 99:013d}")
        print(f"  an uncommissioned code: authentic={unknown.authentic} ({unknown.reason})")

        print("8. the pharmacy reads the member-signed history of the unit")
        history = client.signed_request(pharm_signer, "GET", f"/v1/drugs/codes/{units[0]}/history")
        print("  " + ", ".join(e["event"] + ("*" if e["via"] else "") for e in history["events"]))
        print("  (* = happened to the case while the unit was packed in it)")


if __name__ == "__main__":
    main()
