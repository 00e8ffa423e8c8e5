"""Live events (GET /v1/events, sdk.events) against a real node: new logs pushed in chain order, resumed
after a cursor with nothing lost or repeated, filtered by the same read rule as /v1/logs, and bounded."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import httpx
import pytest
from node_fixtures import RunningNode, start_node, stop_node

from node.api.limits import ApiLimits
from node.demo_network import make_uscc
from scripts.samples import sample_letter_request
from sdk.client import Client
from sdk.domains.confirmations import Confirmations
from sdk.domains.governance import Governance
from sdk.errors import AuthenticationError, XinlianError
from sdk.events import StreamedLog
from sdk.signer import Signer
from sdk.system import BANK_CONFIRMATION_ADDRESS, GOVERNANCE_ADDRESS

pytest_plugins = ["node_fixtures"]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    limits = ApiLimits(max_streams=3, max_streams_per_organisation=2)
    running = start_node(tmp_path_factory.mktemp("events"), limits=limits)
    try:
        yield running
    finally:
        stop_node(running)


def _collect(stream: Iterator[StreamedLog], into: queue.Queue[StreamedLog | BaseException]) -> None:
    try:
        for item in stream:
            into.put(item)
    except BaseException as exc:  # handed to the test thread
        into.put(exc)


def _next(items: queue.Queue[StreamedLog | BaseException]) -> StreamedLog:
    item = items.get(timeout=20)
    if isinstance(item, BaseException):
        raise item
    return item


def test_new_logs_arrive_in_order_and_a_cursor_resumes_after_the_last(node: RunningNode) -> None:
    committee = node.committee.signer
    with Client(node.url) as client:
        governance = Governance(client, committee)
        stream = client.events.stream(committee, address=GOVERNANCE_ADDRESS)
        first_uscc = make_uscc("440300", 71_000_001)
        # Registered while the stream waits for the next block (it starts at the head when opened).
        threading.Timer(1.0, governance.register_organisation, (first_uscc, "Stream Test One")).start()
        first = next(stream)
        assert first.entry.address == GOVERNANCE_ADDRESS
        seen = [first]
        stream.close()  # ends the connection too

        for serial in (2, 3):
            governance.register_organisation(
                make_uscc("440300", 71_000_000 + serial), f"Stream Test {serial}"
            )
        head = client.chain_info(refresh=True).height
        resumed = list(
            client.events.stream(
                committee, address=GOVERNANCE_ADDRESS, cursor=seen[-1].cursor, to_height=head
            )
        )
        logged = [
            e
            for e in client.as_member(committee).logs(
                address=GOVERNANCE_ADDRESS, from_height=first.entry.height
            )
            if e.height <= head
        ]
        position = [(e.height, e.tx_index, e.log_index) for e in logged]
        after = position.index((seen[-1].entry.height, seen[-1].entry.tx_index, seen[-1].entry.log_index))
        assert [item.entry for item in resumed] == logged[after + 1 :]
        assert len(resumed) >= 2  # the two registrations since, nothing before them again


def test_a_member_streams_exactly_what_it_may_read(node: RunningNode) -> None:
    """The stream applies the /v1/logs read rule: a letter's creation reaches its audit firm and not an
    unrelated member, and from height 0 each member's stream equals its /v1/logs answer."""
    auditor, outsider = node.member_with("AUDITOR"), node.member_with("DATA_HOLDER")
    bank = node.member_with("BANK")
    assert len({auditor.uscc, outsider.uscc, bank.uscc}) == 3
    with Client(node.url) as client:
        company_uscc = make_uscc("310000", 71_000_009)
        Governance(client, node.committee.signer).register_organisation(company_uscc, "Streamed Company")
        letters = Confirmations(client, auditor.signer)
        bank_key = bank.signer.private_key.public_key
        created = letters.create(sample_letter_request(company_uscc, bank.uscc), bank_keys=[bank_key])
        head = client.chain_info(refresh=True).height
        for member in (auditor, outsider):
            streamed = [x.entry for x in client.events.stream(member.signer, from_height=0, to_height=head)]
            logged = [e for e in client.as_member(member.signer).logs(to_height=head)]
            assert streamed == logged, member.name
            mine = [
                e
                for e in streamed
                if e.address == BANK_CONFIRMATION_ADDRESS and e.tx_hash == created.receipt.tx_hash
            ]
            assert bool(mine) == (member is auditor), member.name


def test_streams_are_bounded_per_organisation_and_per_node(node: RunningNode) -> None:
    members = [node.member_with("AUDITOR"), node.member_with("BANK")]
    with Client(node.url) as client:
        opened: list[httpx.Response] = []
        try:
            for _ in range(2):
                opened.append(
                    client.open_signed_stream(members[0].signer, "/v1/events", params=[], read_timeout_s=5)
                )
            with pytest.raises(XinlianError) as per_org:
                client.open_signed_stream(members[0].signer, "/v1/events", params=[], read_timeout_s=5)
            assert per_org.value.code == "too_many_streams"
            opened.append(
                client.open_signed_stream(members[1].signer, "/v1/events", params=[], read_timeout_s=5)
            )
            with pytest.raises(XinlianError) as per_node:
                client.open_signed_stream(members[1].signer, "/v1/events", params=[], read_timeout_s=5)
            assert per_node.value.code == "too_many_streams"
        finally:
            for response in opened:
                response.close()
        # A closed stream gives its place back once the node notices (at its next wake-up).
        deadline = 20
        for _ in range(deadline * 10):
            try:
                client.open_signed_stream(
                    members[0].signer, "/v1/events", params=[], read_timeout_s=5
                ).close()
                break
            except XinlianError:
                threading.Event().wait(0.1)
        else:
            raise AssertionError("closed streams never gave their places back")


def test_anonymous_and_malformed_streams_are_refused(node: RunningNode) -> None:
    anonymous = httpx.get(f"{node.url}/v1/events", timeout=5)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthenticated"
    with Client(node.url) as client:
        for params in ([("cursor", "nope")], [("address", "0x12")], [("cursor", f"{2**64}.0.0")]):
            with pytest.raises(XinlianError) as refused:
                client.open_signed_stream(
                    node.committee.signer, "/v1/events", params=params, read_timeout_s=5
                )
            assert refused.value.code in ("bad_request", "invalid_request"), params


def test_stream_of_a_deactivated_account_ends_with_a_typed_error(node: RunningNode) -> None:
    """The node checks the account at every block: once the committee deactivates it, its open stream
    ends with ``not_a_member`` instead of serving it further."""
    with Client(node.url) as client:
        governance = Governance(client, node.committee.signer)
        uscc = make_uscc("440300", 71_000_020)
        governance.register_organisation(uscc, "Soon Gone")
        account = Signer.generate()
        governance.register_account(account.address, uscc)
        items: queue.Queue[StreamedLog | BaseException] = queue.Queue()
        next_block = client.chain_info(refresh=True).height + 1
        stream = client.events.stream(account, address=GOVERNANCE_ADDRESS, from_height=next_block)
        threading.Thread(target=_collect, args=(stream, items), daemon=True).start()
        governance.register_organisation(make_uscc("440300", 71_000_021), "Still Streamed")
        _next(items)  # the stream is open and serving
        governance.set_account_active(account.address, False)
        with pytest.raises(AuthenticationError) as ended:
            while True:
                _next(items)
        assert ended.value.code == "not_a_member"
