"""Bank confirmation letters (银行函证) end to end with the SDK: an audited company joins by committee vote,
the audit accreditor grants AUDITOR to a new auditor by delegation, a letter goes from creation through client
authorisation, bank acceptance (due date from the on-chain calendar), reply and auditor receipt, and a second
letter left unanswered turns OVERDUE after its tenth working day.

Run against a node (default URL https://127.0.0.1:8545, network in var/devnet):
    .venv/bin/python scripts/demo_confirmations.py [--url URL] [--network var/devnet] [--archive letter.zip]
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

from demo_common import DemoNetwork, decide, demo_parser, make_uscc
from samples import BANK_BALANCE, CLIENT_NAME, sample_letter_reply, sample_letter_request

from sdk.client import Client
from sdk.domains.calendar import CHINA_TZ, OFFICIAL_CALENDAR, day_of_timestamp
from sdk.domains.confirmations import (
    Confirmations,
    LetterStatus,
)
from sdk.domains.governance import Governance
from sdk.signer import Signer


def when(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S CST")


def main() -> None:
    parser = demo_parser(__doc__)
    parser.add_argument("--archive", type=Path, default=Path("confirmation-letter.zip"))
    args = parser.parse_args()

    network = DemoNetwork.load(args.network)
    committee = network.committee()
    accreditor = network.signer_of("AUDIT_ACCREDITOR")
    bank = network.signer_of("BANK")
    cpa_uscc, bank_uscc = network.org("AUDITOR")["uscc"], network.org("BANK")["uscc"]

    with Client(args.url, ca=network.ca) as client:
        info = client.chain_info()
        print(f"chain {info.chain_id}, head {info.height}, head time {when(info.head_timestamp_ms // 1000)}")
        gov1, gov2 = Governance(client, committee[0]), Governance(client, committee[1])

        # 1. The committee (threshold 2) registers the audited company and an account for it.
        company = Signer.generate()
        company_uscc = make_uscc(30_000_000 + secrets.randbelow(9_000_000), "310000")
        decide([gov1, gov2], gov1.register_organisation(company_uscc, CLIENT_NAME))
        decide([gov1, gov2], gov1.register_account(company.address, company_uscc))
        print(f"audited company {company_uscc} registered, account 0x{company.address.hex()[:12]}…")

        # 2. A new auditor of the CPA firm: the committee registers the account, the audit accreditor grants
        #    AUDITOR by delegation (role_admin[AUDITOR] = AUDIT_ACCREDITOR), no committee vote needed.
        auditor = Signer.generate()
        decide([gov1, gov2], gov1.register_account(auditor.address, cpa_uscc))
        Governance(client, accreditor).grant_role(auditor.address, "AUDITOR")
        print(
            f"auditor 0x{auditor.address.hex()[:12]}… holds AUDITOR:",
            gov1.has_role(auditor.address, "AUDITOR"),
        )

        firm, banker, client_co = (
            Confirmations(client, auditor),
            Confirmations(client, bank),
            Confirmations(client, company),
        )
        regulator = Confirmations(client, accreditor)
        request = sample_letter_request(company_uscc, bank_uscc)
        # The bank and the finance regulator publish the keys letters are sealed to for them (the envelope
        # key directory); the audit firm looks them up: nobody handles another organisation's key.
        published = banker.publish_envelope_key()
        regulator_uscc = regulator.publish_envelope_key().organisation
        print(f"bank {bank_uscc} published envelope key version {published.version}")
        regulator_key = firm.envelope_key(regulator_uscc).public_key

        # 3. Letter 1: creation (sealed for auditor, bank, regulator) → client authorisation → bank.
        created = firm.create(request, regulator_key=regulator_key)  # the bank's key from the directory
        lid = created.letter_id
        print(
            f"\nletter 1 0x{lid.hex()[:16]}… created in block {created.receipt.height}: "
            f"{len(created.sealed_request)}-byte sealed request, SM3 {created.request_hash.hex()[:16]}…"
        )
        state = firm.letter(lid)
        print(f"  status: {state.status.name}")
        # The chain names the parties by tags of this letter only (no USCC, no hash repeated across letters);
        # each organisation recognises its own part by computing its tags.
        print(
            f"  parties on chain: auditor tag {state.auditor_tag.hex()[:12]}…, bank tag "
            f"{state.bank_tag.hex()[:12]}…, client tag {state.client_tag.hex()[:12]}…"
        )
        parts = {
            name: sorted(p.name for p in f.parties_of(state))
            for name, f in (
                ("audit firm", firm),
                ("bank", banker),
                ("company", client_co),
                ("regulator", regulator),
            )
        }
        print(f"  each finds its part by its own tags: {parts}")
        client_co.authorise(lid)
        print(f"  company authorised → {firm.letter(lid).status.name}")
        opened = banker.open_request(lid)
        print(
            f"  bank decrypted the request: base date {opened.base_date},",
            f"items with figures {sorted(opened.rows)}",
        )
        accepted = banker.accept(lid)
        state = banker.letter(lid)
        receipt_day = dt.date(1970, 1, 1) + dt.timedelta(days=day_of_timestamp(state.accepted_at))
        print(
            f"  bank accepted at {when(state.accepted_at)} → due {accepted.due_date} "
            f"(10 working days after {receipt_day}; calendar covers to "
            f"{dt.date(1970, 1, 1) + dt.timedelta(days=OFFICIAL_CALENDAR.covered_through)})"
        )
        reply_of_bank = sample_letter_reply(
            BANK_BALANCE, note="balance per bank records", unanswered=frozenset({7})
        )
        replied = banker.reply(
            lid, reply_of_bank, regulator_key=banker.envelope_key(regulator_uscc).public_key
        )
        print(
            f"  bank replied in block {replied.receipt.height}: late={replied.late}, "
            f"paper supplement needed={replied.paper_supplement} (item 7 not answered digitally)"
        )
        reply = firm.open_reply(lid)
        print(f"  auditor decrypted the reply: exceptions on items {sorted(reply.exception_items)}")
        firm.confirm_receipt(lid)
        print(f"  auditor confirmed receipt → {firm.letter(lid).status.name}")
        print(f"  events: {[e.name for e in firm.events(lid)]}")
        archive = firm.export_archive(lid, args.archive)
        print(f"  audit-file archive written to {archive}")

        # 4. Letter 2: accepted and left unanswered. OVERDUE is derived on chain from the due date: the view
        #    status_at(letter, t) shows what the status is at t, given what is recorded now.
        second = firm.create(request, regulator_key=regulator_key).letter_id
        client_co.authorise(second)
        deadline = banker.accept(second).deadline
        print(f"\nletter 2 0x{second.hex()[:16]}… accepted; reply due before {when(deadline)}")
        print(f"  status at the head:            {firm.letter(second).status.name}")
        print(f"  status_at(deadline - 1 s):     {firm.status_at(second, deadline - 1).name}")
        print(f"  status_at(deadline):           {firm.status_at(second, deadline).name}")
        listed = [x.letter_id for x in regulator.overdue(as_of=deadline)]
        print(f"  regulator's overdue list as of the deadline contains letter 2: {second in listed}")
        print(
            f"  bank's due list as of the deadline: "
            f"{[(x.letter_id.hex()[:8], x.status.name) for x in banker.due(as_of=deadline)]}"
        )

        # 5. Letter 3: recalled by the audit firm before the bank starts; letter 4: rejected (不予受理).
        third = firm.create(request, regulator_key=regulator_key).letter_id
        firm.recall(third)
        fourth = firm.create(request, regulator_key=regulator_key).letter_id
        client_co.authorise(fourth)
        banker.reject(fourth, "询证函缺少被审计单位预留印鉴 (missing the client's reserved seal)")
        print(f"\nletter 3: {firm.letter(third).status.name}; letter 4: {firm.letter(fourth).status.name}")
        print(f"auditor's letters: {[(x.letter_id.hex()[:8], x.status.name) for x in firm.as_auditor()]}")
        waiting = [x for x in firm.as_auditor() if x.status == LetterStatus.ACCEPTED]
        print(f"awaiting a bank reply at the head: {len(waiting)}")


if __name__ == "__main__":
    main()
