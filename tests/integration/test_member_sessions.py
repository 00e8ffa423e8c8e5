"""Member sessions over real https: one SM2-signed request opens a session, whose requests then carry an
HMAC-SM3 instead of a signature, with the same audience, window and once-only nonce as signed requests."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from node_fixtures import RunningNode, start_node, stop_node

from node.api.auth import SessionKeys
from sdk.auth import HEADER_MAC, HEADER_SESSION, Session, SessionToken, mac_query, sign_query
from sdk.client import Client
from sdk.errors import AuthenticationError

RPC_LOGS = b'{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{"fromBlock":"0x0"}]}'


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    running = start_node(tmp_path_factory.mktemp("sessions"), tls=True)
    try:
        yield running
    finally:
        stop_node(running)


def _ca(node: RunningNode) -> Path:
    return node.data_dir / "tls" / "ca.pem"


@pytest.fixture
def http(tls_node: RunningNode) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=_ca(tls_node))
    with httpx.Client(base_url=tls_node.url, verify=context, timeout=10) as client:
        yield client


def _chain(http: httpx.Client) -> tuple[int, str]:
    body = http.get("/v1/chain").json()
    return int(body["chain_id"]), str(body["audience"])


def _open(http: httpx.Client, node: RunningNode) -> Session:
    chain_id, audience = _chain(http)
    headers = sign_query(
        node.committee.signer.private_key,
        chain_id=chain_id,
        audience=audience,
        method="POST",
        path_and_query="/v1/sessions",
    )
    response = http.post("/v1/sessions", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    key = node.committee.signer.private_key.decrypt(bytes.fromhex(body["key"]))  # sealed to the member
    return Session(bytes.fromhex(body["token"]), key, int(body["expires_ms"]))


def _me(http: httpx.Client, session: Session, **kwargs: object) -> httpx.Response:
    chain_id, audience = _chain(http)
    headers = mac_query(
        session,
        chain_id=chain_id,
        audience=str(kwargs.pop("audience", audience)),
        method="GET",
        path_and_query="/v1/members/me",
        **kwargs,  # type: ignore[arg-type]
    )
    return http.get("/v1/members/me", headers=headers)


def test_a_session_reads_as_its_member(tls_node: RunningNode, http: httpx.Client) -> None:
    session = _open(http, tls_node)
    response = _me(http, session)
    assert response.status_code == 200
    assert response.json()["address"] == "0x" + tls_node.committee.signer.address.hex()
    token = SessionToken.from_bytes(session.token)
    assert token.public_key == tls_node.committee.signer.public_key
    assert token.expires_ms == session.expires_ms > time.time() * 1000


def test_a_replayed_session_request_is_refused(tls_node: RunningNode, http: httpx.Client) -> None:
    session = _open(http, tls_node)
    chain_id, audience = _chain(http)
    headers = mac_query(
        session, chain_id=chain_id, audience=audience, method="GET", path_and_query="/v1/members/me"
    )
    assert http.get("/v1/members/me", headers=headers).status_code == 200
    again = http.get("/v1/members/me", headers=headers)
    assert again.status_code == 401 and again.json()["code"] == "replayed_request"


def test_a_wrong_mac_key_path_or_audience_is_refused(tls_node: RunningNode, http: httpx.Client) -> None:
    session = _open(http, tls_node)
    forged = Session(session.token, bytes(32), session.expires_ms)
    assert _me(http, forged).json()["code"] == "unauthenticated"
    assert _me(http, session, audience="node-elsewhere").json()["code"] == "wrong_audience"
    stale = _me(http, session, timestamp_ms=int(time.time() * 1000) - 10 * 60_000)
    assert stale.json()["code"] == "stale_request"
    chain_id, audience = _chain(http)
    headers = mac_query(
        session, chain_id=chain_id, audience=audience, method="GET", path_and_query="/v1/members/me?x=1"
    )
    assert http.get("/v1/members/me", headers=headers).status_code == 401
    flipped = bytearray(bytes.fromhex(headers[HEADER_MAC]))
    flipped[0] ^= 1
    assert http.get("/v1/members/me?x=1", headers={**headers, HEADER_MAC: flipped.hex()}).status_code == 401


def test_a_token_altered_to_last_longer_or_name_another_key_is_refused(
    tls_node: RunningNode, http: httpx.Client
) -> None:
    session = _open(http, tls_node)
    token = SessionToken.from_bytes(session.token)
    longer = SessionToken(token.epoch, token.expires_ms + 86_400_000, token.public_key, token.session_id)
    other = tls_node.members[1].signer.public_key
    someone_else = SessionToken(token.epoch, token.expires_ms, other, token.session_id)
    for altered in (longer, someone_else):
        response = _me(http, Session(altered.to_bytes(), session.key, session.expires_ms))
        assert response.status_code == 401 and response.json()["code"] == "unauthenticated"


def test_a_session_of_another_node_or_an_earlier_start_has_ended(
    tls_node: RunningNode, http: httpx.Client
) -> None:
    chain_id, audience = _chain(http)
    elsewhere = SessionKeys(chain_id, audience).open(
        tls_node.committee.signer.public_key, int(time.time() * 1000)
    )
    response = _me(http, elsewhere)
    assert response.status_code == 401 and response.json()["code"] == "session_expired"


def test_an_expired_session_is_refused(tls_node: RunningNode, http: httpx.Client) -> None:
    sessions: SessionKeys = tls_node.server.config.app.state.sessions  # the node's own issuer
    old = sessions.open(tls_node.committee.signer.public_key, int(time.time() * 1000) - sessions.ttl_ms - 1)
    response = _me(http, old)
    assert response.status_code == 401 and response.json()["code"] == "session_expired"


def test_a_session_cannot_open_another(tls_node: RunningNode, http: httpx.Client) -> None:
    session = _open(http, tls_node)
    chain_id, audience = _chain(http)
    headers = mac_query(
        session, chain_id=chain_id, audience=audience, method="POST", path_and_query="/v1/sessions"
    )
    response = http.post("/v1/sessions", headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "unauthenticated"


def test_an_outsider_cannot_open_a_session(tls_node: RunningNode, http: httpx.Client) -> None:
    from sdk.signer import Signer

    chain_id, audience = _chain(http)
    headers = sign_query(
        Signer.generate().private_key,
        chain_id=chain_id,
        audience=audience,
        method="POST",
        path_and_query="/v1/sessions",
    )
    assert http.post("/v1/sessions", headers=headers).json()["code"] == "not_a_member"
    assert http.post("/v1/sessions").status_code == 401


def test_json_rpc_accepts_a_session(tls_node: RunningNode, http: httpx.Client) -> None:
    session = _open(http, tls_node)
    chain_id, audience = _chain(http)
    headers = mac_query(
        session, chain_id=chain_id, audience=audience, method="POST", path_and_query="/rpc", body=RPC_LOGS
    )
    response = http.post("/rpc", content=RPC_LOGS, headers=headers | {"content-type": "application/json"})
    assert response.status_code == 200 and "result" in response.json()


def test_the_client_uses_one_session_and_opens_a_new_one_after_a_restart(tls_node: RunningNode) -> None:
    app_state = tls_node.server.config.app.state
    with Client(tls_node.url, ca=_ca(tls_node), signer=tls_node.committee.signer) as client:
        first = client.signed_request(tls_node.committee.signer, "GET", "/v1/members/me")
        session = client._session(tls_node.committee.signer)
        assert session is not None
        client.signed_request(tls_node.committee.signer, "GET", "/v1/members/me")
        assert client._session(tls_node.committee.signer) is session  # reused, not reopened
        # A restarted node draws a new secret: the old session ends and the client opens another.
        app_state.sessions = SessionKeys(app_state.sessions.chain_id, app_state.sessions.audience)
        again = client.signed_request(tls_node.committee.signer, "GET", "/v1/members/me")
        assert again == first
        assert client._session(tls_node.committee.signer) is not session


def test_no_session_over_plain_http(tmp_path: Path) -> None:
    running = start_node(tmp_path, produce=False)
    try:
        with httpx.Client(base_url=running.url) as http:
            chain_id, audience = _chain(http)
            headers = sign_query(
                running.committee.signer.private_key,
                chain_id=chain_id,
                audience=audience,
                method="POST",
                path_and_query="/v1/sessions",
            )
            response = http.post("/v1/sessions", headers=headers)
            assert response.status_code == 403 and response.json()["code"] == "insecure_transport"
        with Client(running.url, signer=running.committee.signer) as client:  # signs every request instead
            assert client.signed_request(running.committee.signer, "GET", "/v1/members/me")["uscc"]
            assert client._session(running.committee.signer) is None
    finally:
        stop_node(running)


def test_session_headers_without_a_session_are_refused(tls_node: RunningNode, http: httpx.Client) -> None:
    response = http.get("/v1/members/me", headers={HEADER_SESSION: "00"})
    assert response.status_code == 401 and response.json()["code"] == "unauthenticated"
    with pytest.raises(AuthenticationError):
        SessionToken.from_bytes(b"\x02" + bytes(96))


def test_web3_reads_within_a_session_and_survives_a_restart(tls_node: RunningNode) -> None:
    from web3 import Web3

    from sdk.web3 import XinlianProvider

    app_state = tls_node.server.config.app.state
    signer = tls_node.committee.signer
    with Client(tls_node.url, ca=_ca(tls_node)) as client:
        w3 = Web3(XinlianProvider(tls_node.url, signer, client=client, ca=str(_ca(tls_node))))
        assert isinstance(w3.eth.get_logs({"fromBlock": 0}), list)
        session = client._session(signer)
        assert session is not None
        app_state.sessions = SessionKeys(app_state.sessions.chain_id, app_state.sessions.audience)
        assert isinstance(w3.eth.get_logs({"fromBlock": 0}), list)
        assert client._session(signer) is not session


def test_the_session_key_is_sealed_to_the_member_and_never_printed(
    tls_node: RunningNode, http: httpx.Client
) -> None:
    chain_id, audience = _chain(http)
    headers = sign_query(
        tls_node.committee.signer.private_key,
        chain_id=chain_id,
        audience=audience,
        method="POST",
        path_and_query="/v1/sessions",
    )
    body = http.post("/v1/sessions", headers=headers).json()
    # Whoever holds a copy of the signed request gets only the sealed key: as sent, it is no session key.
    as_sent = Session(bytes.fromhex(body["token"]), bytes.fromhex(body["key"])[:32], int(body["expires_ms"]))
    assert _me(http, as_sent).json()["code"] == "unauthenticated"
    session = _open(http, tls_node)
    assert session.key.hex() not in repr(session) and "key" not in repr(session)


def test_a_request_both_signed_and_in_a_session_is_refused(tls_node: RunningNode, http: httpx.Client) -> None:
    session = _open(http, tls_node)
    chain_id, audience = _chain(http)
    mac = mac_query(
        session, chain_id=chain_id, audience=audience, method="GET", path_and_query="/v1/members/me"
    )
    signed = sign_query(
        tls_node.committee.signer.private_key,
        chain_id=chain_id,
        audience=audience,
        method="GET",
        path_and_query="/v1/members/me",
    )
    response = http.get(
        "/v1/members/me", headers={**signed, HEADER_SESSION: mac[HEADER_SESSION], HEADER_MAC: mac[HEADER_MAC]}
    )
    assert response.status_code == 401 and "not both" in response.json()["message"]
