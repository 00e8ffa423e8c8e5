"""Member-signed queries over real HTTP: only an active account's valid, fresh SM2 signature is accepted."""

from __future__ import annotations

import time

import httpx
import pytest
from node_fixtures import RunningNode

from sdk.auth import HEADER_AUDIENCE, HEADER_SIGNATURE, HEADER_TIME, sign_query
from sdk.client import Client
from sdk.errors import XinlianError
from sdk.signer import Signer

pytest_plugins = ["node_fixtures"]


def test_member_signed_query_names_its_member(running_node: RunningNode) -> None:
    member = running_node.committee
    with Client(running_node.url) as client:
        body = client.signed_request(member.signer, "GET", "/v1/members/me")
    assert body["address"] == "0x" + member.signer.address.hex()
    assert body["uscc"] == member.uscc


def test_unsigned_query_is_refused_with_401(running_node: RunningNode) -> None:
    response = httpx.get(f"{running_node.url}/v1/members/me")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_outsider_key_is_refused_with_403(running_node: RunningNode) -> None:
    with Client(running_node.url) as client, pytest.raises(XinlianError) as info:
        client.signed_request(Signer.generate(), "GET", "/v1/members/me")
    assert info.value.code == "not_a_member"


def _headers(running_node: RunningNode, **kwargs: object) -> dict[str, str]:
    chain = httpx.get(f"{running_node.url}/v1/chain").json()
    return sign_query(
        running_node.committee.signer.private_key,
        chain_id=chain["chain_id"],
        audience=chain["audience"],
        method="GET",
        path_and_query="/v1/members/me",
        **kwargs,  # type: ignore[arg-type]
    )


def test_stale_signature_is_refused(running_node: RunningNode) -> None:
    headers = _headers(running_node, timestamp_ms=int(time.time() * 1000) - 10 * 60_000)
    response = httpx.get(f"{running_node.url}/v1/members/me", headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "stale_request"


def test_signature_for_another_path_or_altered_signature_is_refused(running_node: RunningNode) -> None:
    headers = _headers(running_node)
    response = httpx.get(f"{running_node.url}/v1/members/me?x=1", headers=headers)
    assert response.status_code == 401
    sig = bytearray(bytes.fromhex(headers[HEADER_SIGNATURE]))
    sig[5] ^= 1
    tampered = {**headers, HEADER_SIGNATURE: sig.hex()}
    response = httpx.get(f"{running_node.url}/v1/members/me", headers=tampered)
    assert response.status_code == 401
    garbage = {**headers, HEADER_TIME: "not-a-number"}
    assert httpx.get(f"{running_node.url}/v1/members/me", headers=garbage).status_code == 401


def test_a_replayed_request_is_refused(running_node: RunningNode) -> None:
    headers = _headers(running_node)
    assert httpx.get(f"{running_node.url}/v1/members/me", headers=headers).status_code == 200
    again = httpx.get(f"{running_node.url}/v1/members/me", headers=headers)
    assert again.status_code == 401 and again.json()["code"] == "replayed_request"


def test_a_request_signed_for_another_node_is_refused(running_node: RunningNode) -> None:
    headers = _headers(running_node)
    other = sign_query(
        running_node.committee.signer.private_key,
        chain_id=httpx.get(f"{running_node.url}/v1/chain").json()["chain_id"],
        audience="another-node",
        method="GET",
        path_and_query="/v1/members/me",
    )
    response = httpx.get(f"{running_node.url}/v1/members/me", headers=other)
    assert response.status_code == 401 and response.json()["code"] == "wrong_audience"
    # and the audience is part of what is signed: relabelling the header breaks the signature
    relabelled = {**other, HEADER_AUDIENCE: headers[HEADER_AUDIENCE]}
    response = httpx.get(f"{running_node.url}/v1/members/me", headers=relabelled)
    assert response.status_code == 401 and response.json()["code"] == "unauthenticated"
