"""The node's REST API over real HTTP against a real ledger (SQLite, py-evm, SM2): submit, read, refuse."""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from node.api.metrics import Metrics, serve_metrics
from node.runtime import register_runtime_metrics
from sdk.contracts import Contract
from sdk.domains.governance import Action, encode_payload
from sdk.proofs.certificate import verify_certificate
from sdk.signer import Signer
from sdk.types import BlockHeader, CommitCertificate, Transaction
from tests.support import member_auth, wait_until

if TYPE_CHECKING:
    from node_fixtures import RunningNode

pytest_plugins = ["node_fixtures"]

GOV = Contract("Governance")


def _tx(node: RunningNode, signer: Signer, data: bytes, **overrides: Any) -> Transaction:
    head = node.ledger.height
    fields: dict[str, Any] = {
        "chain_id": node.ledger.chain.chain_id,
        "to": node.ledger.governance_address,
        "data": data,
        "gas_limit": 2_000_000,
        "expiry_height": head + 100,
    }
    fields.update(overrides)
    return Transaction.create(signer.private_key, **fields)


def _register_account_data(node: RunningNode, account: bytes) -> bytes:
    payload = encode_payload(Action.REGISTER_ACCOUNT, account, node.committee.uscc)
    return GOV.encode_call("propose", [int(Action.REGISTER_ACCOUNT), payload, node.ledger.height + 1000])


def _submit(url: str, tx: Transaction) -> httpx.Response:
    return httpx.post(f"{url}/v1/transactions", json={"raw": "0x" + tx.encode().hex()})


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "detail"}
    assert body["code"] == code, body
    assert body["message"]
    return body


def _committed(url: str, tx_hash: str, reader: Signer) -> dict[str, Any]:
    """The committed transaction as ``reader`` (its sender, or a party of what it touched) reads it."""
    body: dict[str, Any] = httpx.get(
        f"{url}/v1/transactions/{tx_hash}", params={"wait": 20}, timeout=30, auth=member_auth(url, reader)
    ).json()
    assert body["status"] == "committed", body
    return body


# --- submit → receipt ---------------------------------------------------------------------------------
def test_submitted_transaction_is_committed_with_receipt_logs_and_raw(running_node: RunningNode) -> None:
    newcomer = Signer.generate()
    tx = _tx(
        running_node, running_node.committee.signer, _register_account_data(running_node, newcomer.address)
    )
    response = _submit(running_node.url, tx)
    assert response.status_code == 202, response.text
    assert response.json() == {"tx_hash": "0x" + tx.tx_hash.hex(), "status": "pending"}

    body = _committed(running_node.url, response.json()["tx_hash"], running_node.committee.signer)
    assert body["raw"] == "0x" + tx.encode().hex()
    assert body["transaction"]["sender"] == "0x" + running_node.committee.signer.address.hex()
    receipt = body["receipt"]
    assert receipt["status"] == 1 and receipt["gas_used"] > 0 and receipt["revert_reason"] is None
    names = [GOV.decode_log(_log(entry)).name for entry in receipt["logs"]]
    assert names == ["ProposalCreated", "ProposalVoted", "AccountRegistered", "ProposalExecuted"]
    assert [entry["log_index"] for entry in receipt["logs"]] == [0, 1, 2, 3]
    block = httpx.get(f"{running_node.url}/v1/blocks/{body['height']}").json()
    assert block["block_hash"] == body["block_hash"]
    assert block["transactions"][body["index"]] == body["tx_hash"]


def _log(entry: dict[str, Any]) -> Any:
    from sdk.types import Log

    return Log(
        address=bytes.fromhex(entry["address"][2:]),
        topics=tuple(bytes.fromhex(t[2:]) for t in entry["topics"]),
        data=bytes.fromhex(entry["data"][2:]),
    )


def test_octet_stream_submission_is_accepted(running_node: RunningNode) -> None:
    tx = _tx(running_node, running_node.committee.signer, GOV.encode_call("threshold"))
    response = httpx.post(
        f"{running_node.url}/v1/transactions",
        content=tx.encode(),
        headers={"content-type": "application/octet-stream"},
    )
    assert response.status_code == 202, response.text
    committed = _committed(running_node.url, response.json()["tx_hash"], running_node.committee.signer)
    assert committed["receipt"]["status"] == 1


def test_reverted_transaction_has_status_zero_and_text_reason(running_node: RunningNode) -> None:
    outsider = running_node.member_with("BANK").signer  # active account, not on the committee
    tx = _tx(running_node, outsider, _register_account_data(running_node, Signer.generate().address))
    body = _committed(running_node.url, _submit(running_node.url, tx).json()["tx_hash"], outsider)
    assert body["receipt"]["status"] == 0
    assert body["receipt"]["revert_reason"] == "not a committee member"
    assert body["receipt"]["logs"] == []


def test_unknown_transaction_hash_is_reported_unknown(running_node: RunningNode) -> None:
    unknown = "0x" + secrets.token_hex(32)
    auth = member_auth(running_node.url, running_node.committee.signer)
    body = httpx.get(f"{running_node.url}/v1/transactions/{unknown}", auth=auth).json()
    assert body["status"] == "unknown" and body["receipt"] is None


# --- admission errors ---------------------------------------------------------------------------------
def test_random_bytes_are_refused_as_bad_encoding(running_node: RunningNode) -> None:
    response = httpx.post(
        f"{running_node.url}/v1/transactions",
        content=os.urandom(200),
        headers={"content-type": "application/octet-stream"},
    )
    _error(response, 400, "bad_encoding")


def test_tampered_signature_is_refused(running_node: RunningNode) -> None:
    tx = _tx(running_node, running_node.committee.signer, GOV.encode_call("threshold"))
    bad = Transaction(
        tx.chain_id, tx.nonce, tx.expiry_height, tx.to, tx.data, tx.gas_limit, tx.public_key,
        tx.signature[:-1] + bytes([tx.signature[-1] ^ 1]),
    )  # fmt: skip
    _error(_submit(running_node.url, bad), 400, "bad_signature")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"chain_id": 7}, "wrong_chain"),
        ({"gas_limit": 10**9}, "gas_limit"),
        ({"expiry_height": 0}, "expired"),
        ({"expiry_height": 10**9}, "expiry_too_far"),
    ],
)
def test_static_admission_failures_are_400_with_stable_codes(
    running_node: RunningNode, overrides: dict[str, Any], code: str
) -> None:
    tx = _tx(running_node, running_node.committee.signer, GOV.encode_call("threshold"), **overrides)
    _error(_submit(running_node.url, tx), 400, code)


def test_unknown_sender_is_forbidden(running_node: RunningNode) -> None:
    stranger = Signer.generate()
    body = _error(_submit(running_node.url, _tx(running_node, stranger, b"")), 403, "unknown_sender")
    assert body["detail"]["sender"] == "0x" + stranger.address.hex()


def test_resubmission_is_accepted_again_and_says_when_it_is_committed(running_node: RunningNode) -> None:
    tx = _tx(running_node, running_node.committee.signer, GOV.encode_call("threshold"))
    accepted = {"tx_hash": "0x" + tx.tx_hash.hex(), "status": "pending"}
    first = _submit(running_node.url, tx)
    assert (first.status_code, first.json()) == (202, accepted)
    again = _submit(running_node.url, tx)
    assert again.status_code == 202 and again.json()["tx_hash"] == accepted["tx_hash"]
    _committed(running_node.url, accepted["tx_hash"], running_node.committee.signer)
    late = _submit(running_node.url, tx)
    assert (late.status_code, late.json()) == (202, {**accepted, "status": "committed"})


def test_transaction_over_the_chain_limit_is_oversize(running_node: RunningNode) -> None:
    limit = running_node.ledger.chain.max_tx_bytes
    tx = _tx(running_node, running_node.committee.signer, b"\x01" * limit)
    body = _error(_submit(running_node.url, tx), 413, "oversize")
    assert body["detail"]["limit"] == limit


def test_body_over_one_mebibyte_is_refused_before_reading(running_node: RunningNode) -> None:
    response = httpx.post(
        f"{running_node.url}/v1/transactions",
        content=b"\x00" * (1024 * 1024 + 1),
        headers={"content-type": "application/octet-stream"},
    )
    _error(response, 413, "body_too_large")


def test_chunked_body_over_the_cap_is_refused(running_node: RunningNode) -> None:
    def chunks() -> Any:
        for _ in range(40):
            yield b"\x00" * 65536

    response = httpx.post(
        f"{running_node.url}/v1/transactions",
        content=chunks(),
        headers={"content-type": "application/octet-stream"},
    )
    _error(response, 413, "body_too_large")


def test_full_mempool_answers_503_and_pending_status_is_visible(idle_node: RunningNode) -> None:
    signer = idle_node.committee.signer
    hashes = []
    for _ in range(2):
        response = _submit(idle_node.url, _tx(idle_node, signer, GOV.encode_call("threshold")))
        assert response.status_code == 202
        hashes.append(response.json()["tx_hash"])
    _error(_submit(idle_node.url, _tx(idle_node, signer, GOV.encode_call("threshold"))), 503, "mempool_full")
    auth = member_auth(idle_node.url, signer)
    assert httpx.get(f"{idle_node.url}/v1/transactions/{hashes[0]}", auth=auth).json()["status"] == "pending"
    idle_node.produce_block()
    assert (
        httpx.get(f"{idle_node.url}/v1/transactions/{hashes[0]}", auth=auth).json()["status"] == "committed"
    )


def test_wrong_content_type_and_bad_json_are_refused(running_node: RunningNode) -> None:
    url = f"{running_node.url}/v1/transactions"
    _error(
        httpx.post(url, content=b"raw=00", headers={"content-type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    _error(
        httpx.post(url, content=b"{not json", headers={"content-type": "application/json"}),
        422,
        "bad_request",
    )
    _error(httpx.post(url, json={"raw": "0xzz"}), 422, "bad_request")
    _error(httpx.post(url, json={"raw": "0x00", "extra": 1}), 422, "bad_request")
    _error(httpx.post(url, json=["0x00"]), 422, "bad_request")


# --- blocks and certificates --------------------------------------------------------------------------
def test_blocks_by_height_hash_and_latest_agree_and_hash_their_header(running_node: RunningNode) -> None:
    latest = httpx.get(f"{running_node.url}/v1/blocks/latest").json()
    by_height = httpx.get(f"{running_node.url}/v1/blocks/{latest['height']}").json()
    by_hash = httpx.get(f"{running_node.url}/v1/blocks/by-hash/{latest['block_hash']}").json()
    assert latest == by_height == by_hash
    header = BlockHeader.decode(bytes.fromhex(latest["header_raw"][2:]))
    assert "0x" + header.block_hash.hex() == latest["block_hash"]
    assert latest["header"]["state_root"] == "0x" + header.state_root.hex()
    genesis = httpx.get(f"{running_node.url}/v1/blocks/0").json()
    assert len(genesis["next_validators"]) == 1


def test_certificate_verifies_against_the_validator_set(running_node: RunningNode) -> None:
    # The module's node may be fresh (tests run in any order across workers): genesis has no seals.
    wait_until(lambda: running_node.ledger.height >= 1, 30, "the node's first block")
    height = running_node.ledger.height
    body = httpx.get(f"{running_node.url}/v1/blocks/{height}/certificate").json()
    certificate = CommitCertificate.decode(bytes.fromhex(body["raw"][2:]))
    header = BlockHeader.decode(bytes.fromhex(body["header_raw"][2:]))
    validators = [
        bytes.fromhex(v["public_key"][2:])
        for v in httpx.get(f"{running_node.url}/v1/validators").json()["validators"]
    ]
    verify_certificate(certificate, header, validators)
    assert body["seals"][0]["validator_index"] == 0


def test_missing_and_malformed_block_requests(running_node: RunningNode) -> None:
    _error(httpx.get(f"{running_node.url}/v1/blocks/{10**12}"), 404, "not_found")
    _error(httpx.get(f"{running_node.url}/v1/blocks/{10**12}/certificate"), 404, "not_found")
    _error(httpx.get(f"{running_node.url}/v1/blocks/by-hash/0x{'11' * 32}"), 404, "not_found")
    _error(httpx.get(f"{running_node.url}/v1/blocks/by-hash/0x1234"), 422, "bad_request")
    _error(httpx.get(f"{running_node.url}/v1/blocks/-1"), 422, "bad_request")
    _error(httpx.get(f"{running_node.url}/v1/blocks/abc"), 422, "bad_request")
    auth = member_auth(running_node.url, running_node.committee.signer)
    _error(httpx.get(f"{running_node.url}/v1/transactions/0xnothex", auth=auth), 422, "bad_request")


# --- logs ---------------------------------------------------------------------------------------------
def test_logs_filter_by_address_and_topics_and_paginate(running_node: RunningNode) -> None:
    url = running_node.url
    signer = running_node.committee.signer
    start = running_node.ledger.height + 1
    accounts = [Signer.generate().address for _ in range(3)]
    for account in accounts:
        tx = _tx(running_node, signer, _register_account_data(running_node, account))
        _committed(url, _submit(url, tx).json()["tx_hash"], signer)
    auth = member_auth(url, signer)
    gov = "0x" + running_node.ledger.governance_address.hex()
    registered = "0x" + GOV.event_topic("AccountRegistered").hex()
    executed = "0x" + GOV.event_topic("ProposalExecuted").hex()

    page = httpx.get(
        f"{url}/v1/logs", auth=auth, params={"address": gov, "topic0": registered, "from_height": start}
    ).json()
    assert [entry["topics"][1][-40:] for entry in page["logs"]] == [a.hex() for a in accounts]
    assert page["next_cursor"] is None

    both = httpx.get(
        f"{url}/v1/logs",
        auth=auth,
        params=[("topic0", registered), ("topic0", executed), ("from_height", start)],
    ).json()
    assert len(both["logs"]) == 6

    one = "0x" + accounts[1].rjust(32, b"\x00").hex()
    by_topic1 = httpx.get(f"{url}/v1/logs", auth=auth, params={"topic0": registered, "topic1": one}).json()
    assert len(by_topic1["logs"]) == 1 and by_topic1["logs"][0]["topics"][1] == one

    everything = httpx.get(f"{url}/v1/logs", auth=auth, params={"from_height": start, "limit": 1000}).json()[
        "logs"
    ]
    paged: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"from_height": start, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = httpx.get(f"{url}/v1/logs", auth=auth, params=params).json()
        assert len(body["logs"]) <= 2
        paged += body["logs"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert paged == everything and len(everything) >= 12

    nothing = httpx.get(f"{url}/v1/logs", auth=auth, params={"address": "0x" + "ab" * 20}).json()
    assert nothing == {"logs": [], "next_cursor": None}


def test_bad_log_queries_are_refused(running_node: RunningNode) -> None:
    url = running_node.url
    auth = member_auth(url, running_node.committee.signer)
    _error(httpx.get(f"{url}/v1/logs", auth=auth, params={"limit": 1001}), 422, "bad_request")
    _error(httpx.get(f"{url}/v1/logs", auth=auth, params={"limit": 0}), 422, "bad_request")
    _error(httpx.get(f"{url}/v1/logs", auth=auth, params={"cursor": "not-a-cursor"}), 422, "bad_request")
    _error(httpx.get(f"{url}/v1/logs", auth=auth, params={"topic0": "0x12"}), 422, "bad_request")
    _error(httpx.get(f"{url}/v1/logs", auth=auth, params={"address": "0x12"}), 422, "bad_request")


# --- calls, chain, validators, governance reads -------------------------------------------------------
def test_read_only_call_returns_data_and_revert_is_400_with_reason(running_node: RunningNode) -> None:
    url = running_node.url
    gov = "0x" + running_node.ledger.governance_address.hex()
    member = running_node.committee.signer.address
    auth = member_auth(url, running_node.committee.signer)
    data = "0x" + GOV.encode_call("is_active_account", [member]).hex()
    result = httpx.post(f"{url}/v1/call", auth=auth, json={"to": gov, "data": data}).json()["result"]
    assert GOV.decode_output("is_active_account", bytes.fromhex(result[2:])) is True

    vote = "0x" + GOV.encode_call("vote", [12345]).hex()
    body = _error(
        httpx.post(f"{url}/v1/call", auth=auth, json={"to": gov, "data": vote}), 400, "execution_reverted"
    )
    assert body["detail"]["reason"] == "not a committee member"
    as_member = httpx.post(
        f"{url}/v1/call", auth=auth, json={"to": gov, "data": vote, "sender": "0x" + member.hex()}
    )
    assert _error(as_member, 400, "execution_reverted")["detail"]["reason"] == "no such proposal"
    _error(httpx.post(f"{url}/v1/call", auth=auth, json={"to": "0x12", "data": "0x"}), 422, "bad_request")


def test_chain_and_validators_describe_the_network(running_node: RunningNode) -> None:
    chain = httpx.get(f"{running_node.url}/v1/chain").json()
    assert (
        chain["chain_id"] == 4242
        and chain["config"]["expiry_window"] == running_node.ledger.chain.expiry_window
    )
    assert chain["governance_address"] == "0x" + running_node.ledger.governance_address.hex()
    assert chain["head"]["height"] >= 1
    validators = httpx.get(f"{running_node.url}/v1/validators").json()["validators"]
    key = running_node.node.key
    assert key is not None
    assert validators == [
        {
            "index": 0,
            "public_key": "0x" + key.public_key.to_bytes().hex(),
            "address": "0x" + key.address.hex(),
        }
    ]


def test_governance_reads_of_organisations_accounts_and_roles(running_node: RunningNode) -> None:
    url = running_node.url
    mah = running_node.member_with("MAH")
    org = httpx.get(f"{url}/v1/organisations/{mah.uscc}").json()
    assert org == {"uscc": mah.uscc, "name": mah.name, "active": True, "registered": True}
    account = httpx.get(f"{url}/v1/accounts/0x{mah.signer.address.hex()}").json()
    assert account["uscc"] == mah.uscc and account["is_active"] is True
    role = httpx.get(f"{url}/v1/accounts/0x{mah.signer.address.hex()}/roles/MAH").json()
    assert role["has_role"] is True and role["granted"] is True and role["scope"] == "0x" + "00" * 32
    scoped = httpx.get(
        f"{url}/v1/accounts/0x{mah.signer.address.hex()}/roles/MAH", params={"scope": "0x" + "01" * 32}
    ).json()
    assert scoped["has_role"] is True and scoped["granted"] is False  # a global grant covers every scope
    assert httpx.get(f"{url}/v1/accounts/0x{mah.signer.address.hex()}/roles/BANK").json()["has_role"] is False
    _error(httpx.get(f"{url}/v1/organisations/91110000MA0000000X"), 404, "not_found")
    _error(httpx.get(f"{url}/v1/accounts/0x{'00' * 20}"), 404, "not_found")
    _error(httpx.get(f"{url}/v1/accounts/0x{mah.signer.address.hex()}/roles/not-a-role"), 422, "bad_request")


# --- operations ---------------------------------------------------------------------------------------
def test_health_reports_height_and_head_age(running_node: RunningNode) -> None:
    body = httpx.get(f"{running_node.url}/health").json()
    assert body["status"] == "ok" and body["height"] >= 1 and body["head_age_s"] >= 0


def test_metrics_are_served_to_the_operator_not_on_the_api(running_node: RunningNode) -> None:
    # Metrics are for the node's operator: not on the API that members and the public reach ...
    assert httpx.get(f"{running_node.url}/metrics").status_code == 404
    # ... but on the operator listener (loopback by default), as `xinlian node run` serves them.
    metrics = Metrics()
    metrics.attach(running_node.ledger)
    register_runtime_metrics(running_node.node, metrics.registry)
    tx = _tx(running_node, running_node.committee.signer, GOV.encode_call("threshold"))
    _committed(
        running_node.url, _submit(running_node.url, tx).json()["tx_hash"], running_node.committee.signer
    )
    server = serve_metrics(metrics, "127.0.0.1", 0)
    try:
        response = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics")
    finally:
        server.shutdown()
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    assert samples["xinlian_height"] >= 1
    assert samples["xinlian_committed_transactions_total"] >= 1
    assert samples["xinlian_commit_latency_seconds_count"] >= 1
    assert "xinlian_mempool_size" in samples and "xinlian_committed_transactions_per_second" in samples
    assert samples["xinlian_mempool_capacity"] == running_node.ledger.pending_capacity
    assert samples["xinlian_validators"] == 1 and "xinlian_calendar_days_left" in samples


# --- garbage never takes the node down ----------------------------------------------------------------
def test_garbage_on_every_endpoint_gets_the_error_shape_and_the_node_survives(
    running_node: RunningNode,
) -> None:
    url = running_node.url
    paths = [
        "/v1/transactions",
        "/v1/call",
        "/rpc",
        "/v1/logs",
        "/v1/blocks/latest",
        "/v1/transactions/0x" + "00" * 32,
        "/health",
        "/nowhere",
    ]
    bodies = [os.urandom(512), b"\xff\xfe" * 100, b"[" * 5000 + b"]" * 5000, b'{"raw": 5}', b"null", b""]
    types = ["application/json", "application/octet-stream", "text/plain", "multipart/form-data; boundary=x"]
    with httpx.Client(base_url=url, timeout=10) as client:
        for path in paths:
            for body in bodies:
                for content_type in types:
                    response = client.request(
                        "POST", path, content=body, headers={"content-type": content_type}
                    )
                    assert response.status_code < 500, (path, body[:20], content_type, response.text)
                    if path != "/rpc":
                        assert set(response.json()) == {"code", "message", "detail"}
        for method in ("PUT", "DELETE", "PATCH"):
            _error(client.request(method, "/v1/transactions"), 405, "method_not_allowed")
        _error(client.get("/nowhere"), 404, "not_found")
        _error(client.get("/v1/logs", params={"from_height": "x" * 10_000}), 401, "unauthenticated")
        auth = member_auth(url, running_node.committee.signer)
        _error(client.get("/v1/logs", params={"from_height": "x" * 10_000}, auth=auth), 422, "bad_request")
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
