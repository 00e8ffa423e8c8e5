"""Walk an e-licence (电子证照) through its life with the SDK: define a type, issue, use with the holder's
consent, rebind the holder's key, suspend, resume, renew, use the renewed licence, revoke, then print the
licence's history as the API serves it. The holder's wallet derives one key per licence from its master
secret (HolderKeys), so no key or key hash links her licences.

Run against a node started by `make run` (default URL https://127.0.0.1:8545, network in var/devnet):
    .venv/bin/python scripts/demo_licences.py [--url URL] [--network var/devnet] [--out DIR]
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from demo_common import DemoNetwork, demo_parser, http_verify

from sdk.client import Client
from sdk.crypto import sm3
from sdk.domains.licences import HolderKeys, Licences
from sdk.identifiers import compute_resident_id_check, make_licence_id

DAY = 86_400
SHOWN = ("reason", "previous", "new_id_hash", "user", "previous_holder_key_hash")
ZERO_HASH = "0x" + "00" * 32


def make_resident_id(serial: int) -> str:
    """A synthetic, well-formed resident ID for the demo holder (region 110105, born 1990-01-01)."""
    body = f"11010519900101{100 + serial % 900:03d}"
    return body + compute_resident_id_check(body)


def main() -> None:
    """Run the walk-through; prints each step and the API's history of the first licence version."""
    parser = demo_parser(__doc__)
    parser.add_argument(
        "--out", type=Path, default=Path("var/demo-licences"), help="credential files go here"
    )
    args = parser.parse_args()

    network = DemoNetwork.load(args.network)
    bureau = network.org("LICENCE_AUTHORITY")
    authority = network.signer(bureau)  # defines the type and, globally, issues
    bank = network.org("BANK")
    relying_party = network.signer(bank)
    holder = HolderKeys.generate()  # the citizen's wallet: one master secret, one key per licence

    with Client(args.url, ca=network.ca) as client:
        info = client.chain_info()
        print(f"chain {info.chain_id}, head {info.height}")
        licences = Licences(client, authority)

        type_code = bureau["uscc"] + "001"
        licence_type = licences.get_type(type_code) or licences.define_type(type_code, "个体工商户营业执照")
        print(f"type {type_code} ({licence_type.name}) defined by {licence_type.authority_org}")

        serial = str(int(time.time()))
        identifier = make_licence_id(type_code, bureau["uscc"], serial, 1)
        now = client.chain_info().head_timestamp_ms // 1000
        # the wallet derives this licence's key from the identifier the issuer tells it, and hands over
        # its public half: the issuer binds SM3 of it, a key no other licence of hers has
        holder_public_key = licences.holder_public_key(holder, identifier)
        issued = licences.issue(
            identifier,
            holder_name="张三",
            holder_code=make_resident_id(int(serial)),
            holder_code_type="111",
            document_hash=sm3(b"OFD document of " + identifier.encode()),
            valid_from=now - 60,
            valid_until=now + 3 * 365 * DAY,
            jurisdiction="110105",
            holder_public_key=holder_public_key,
        )
        args.out.mkdir(parents=True, exist_ok=True)
        credential_path = args.out / f"{serial}-v1.json"
        credential_path.write_text(issued.credential.to_json(), encoding="utf-8")
        print(f"1. issued {identifier} in block {issued.receipt.height}; credential -> {credential_path}")
        print(f"   id hash 0x{issued.id_hash.hex()}  status {licences.status(identifier).name}")

        consent = licences.make_consent(
            holder, identifier, user=relying_party.address, purpose="对公开户核验"
        )
        used = licences.with_signer(relying_party).record_use(consent)
        print(f"2. {bank['name']} recorded a use with the holder's SM2 consent (block {used.height})")

        # the holder's wallet secret leaked: she makes a new one, and its key for this licence is bound
        # (an issuer's act; the old key stays in the history)
        holder = HolderKeys.generate()
        rebound = licences.bind_holder_key(identifier, licences.holder_public_key(holder, identifier))
        print(f"   issuer rebound the holder key (block {rebound.height}): the old key no longer consents")

        licences.suspend(identifier, "经营异常名录")
        print(f"3. suspended: {licences.status(identifier).name}")
        licences.resume(identifier, "已移出经营异常名录")
        print(f"4. resumed: {licences.status(identifier).name}")

        renewed = licences.renew(
            issued.credential,
            make_licence_id(type_code, bureau["uscc"], serial, 2),
            document_hash=sm3(b"OFD document v2 of " + identifier.encode()),
            valid_from=now,
            valid_until=now + 5 * 365 * DAY,
        )
        (args.out / f"{serial}-v2.json").write_text(renewed.credential.to_json(), encoding="utf-8")
        print(
            f"5. renewed as {renewed.identifier}: old {licences.status(identifier).name}, "
            f"new {licences.status(renewed.identifier).name}"
        )
        # a renewal keeps the holder key: the wallet derives it for the version it was bound to, which
        # the renewed credential names (holder_key_id_hash)
        consent = licences.make_consent(
            holder, renewed.credential, user=relying_party.address, purpose="对公开户核验"
        )
        used = licences.with_signer(relying_party).record_use(consent)
        print(f"   {bank['name']} used the renewed licence with the same key (block {used.height})")
        licences.revoke(renewed.identifier, "申请注销")
        print(f"6. revoked the new version: {licences.status(renewed.identifier).name}")

        for version in (identifier, renewed.identifier):
            history = client.signed_request(authority, "GET", f"/v1/licences/{version}/history")
            print(f"\nhistory of {version} (GET /v1/licences/…/history, signed by the issuer):")
            for event in history["events"]:
                detail = {k: v for k, v in event["args"].items() if k in SHOWN and v != ZERO_HASH}
                print(f"  block {event['height']:>6}  {event['event']:<18} {detail or ''}")
        status = httpx.get(
            f"{args.url}/v1/licences/{renewed.identifier}/status", timeout=10, verify=http_verify(network.ca)
        ).json()
        print(f"\npublic status of {renewed.identifier}: {status['status']} (issuer {status['issuer_org']})")


if __name__ == "__main__":
    main()
