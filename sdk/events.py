"""Live events from a node: the committed logs a member may read, pushed as they are committed.

``client.events.stream(signer, address=..., topics=[...])`` yields each matching log once, in chain order,
from the node's ``GET /v1/events`` (server-sent events). The node filters by its read policy, exactly as
``Client.logs``. When the connection drops or the node ends the stream (it does after an hour), the
iterator reconnects with a freshly signed request and resumes after the last event it saw, so nothing is
lost and nothing is seen twice; keep ``StreamedLog.cursor`` to resume in another process later::

    for item in client.events.stream(signer, address=DRUG_TRACE_ADDRESS, topics=[alert_topic]):
        handle(item.entry)
        save(item.cursor)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import httpx

from sdk.answers import LogEntry, QueryItems, log_entry_from_json, log_filter_params
from sdk.encoding import readable_repr
from sdk.errors import AuthenticationError, ClientError, NodeUnreachable
from sdk.keyholder import KeyHolder

if TYPE_CHECKING:
    from sdk.client import Client

#: Seconds without a byte from the node before the stream counts as broken (the node sends a keep-alive
#: comment every 15 s).
IDLE_TIMEOUT_S: Final = 60.0
#: Reconnections in a row that may fail before the stream gives up (NodeUnreachable).
MAX_RECONNECTS: Final = 5
#: Errors worth reconnecting after: the node could not be reached or dropped the connection.
_RECONNECT_ON: Final = (NodeUnreachable, httpx.TransportError)
#: The tx index of a cursor "after the whole block" (as the node's).
_END_OF_BLOCK: Final = 2**31 - 1


@readable_repr
@dataclass(frozen=True, slots=True)
class StreamedLog:
    """One streamed log and the cursor that resumes the stream right after it."""

    entry: LogEntry
    cursor: str


@dataclass(frozen=True, slots=True)
class _Message:
    """One server-sent event: its type, id (None when absent) and data."""

    kind: str
    id: str | None
    data: str


def parse_events(lines: Iterator[str]) -> Iterator[_Message]:
    """The events of a ``text/event-stream`` body given line by line (comments and ``retry`` skipped)."""
    kind, ident = "message", None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield _Message(kind, ident, "\n".join(data))
            kind, ident, data = "message", None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            kind = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            ident = value


def _walked_through(cursor: str) -> int:
    """The last height a ``ready``/``head`` cursor (``height.tx.log``) has read whole; -1 for none."""
    try:
        height, tx_index, _ = (int(part) for part in cursor.split("."))
    except ValueError as exc:
        raise ClientError("the node sent a malformed event id", code="bad_response") from exc
    return height if tx_index >= _END_OF_BLOCK else height - 1


def _json(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise ClientError("the node sent a malformed event", code="bad_response") from exc
    if not isinstance(value, dict):
        raise ClientError("the node sent a malformed event", code="bad_response")
    return value


class Events:
    """A node's live events, read as a member (``client.events``)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def stream(
        self,
        signer: KeyHolder | None = None,
        *,
        address: bytes | Sequence[bytes] | None = None,
        topics: Sequence[bytes | Sequence[bytes] | None] = (),
        cursor: str | None = None,
        from_height: int | None = None,
        to_height: int | None = None,
        reconnect: bool = True,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ) -> Iterator[StreamedLog]:
        """Yield every committed log matching the filter that the member may read, as it is committed.

        Takes: the member's signer (default: the client's); the filter as ``Client.logs`` (contracts,
        positional topics: None = any, a list = any of them); where to start: after ``cursor`` (a
        ``StreamedLog.cursor``), else at ``from_height``, else at the next block; ``to_height``: stop once
        every block up to it is read (None: never); ``reconnect`` (resume after a dropped connection or the
        node's end of stream; False: stop there).
        Raises: the node's error when it refuses the stream (e.g. ``too_many_streams``, 429;
        ``unauthenticated``), AuthenticationError (``not_a_member``) when the account stops being a member,
        NodeUnreachable after ``MAX_RECONNECTS`` failed reconnections in a row.
        """
        member = signer or self.client.signer
        if member is None:
            raise ClientError("a stream is read as a member: pass a signer", code="no_signer")
        params = log_filter_params(address, topics)
        position = cursor
        failures = 0
        while True:
            start: QueryItems = [("cursor", position)] if position else []
            if not start and from_height is not None:
                start = [("from_height", from_height)]
            try:
                response = self.client.open_signed_stream(
                    member, "/v1/events", params=params + start, read_timeout_s=idle_timeout_s
                )
            except NodeUnreachable:
                failures += 1
                if not reconnect or failures > MAX_RECONNECTS:
                    raise
                time.sleep(min(2.0**failures, 30.0))
                continue
            failures = 0
            try:
                for message in parse_events(response.iter_lines()):
                    if message.kind == "log" and message.id is not None:
                        entry = log_entry_from_json(_json(message.data))
                        if to_height is not None and entry.height > to_height:
                            return
                        position = message.id
                        yield StreamedLog(entry, message.id)
                    elif message.kind in ("ready", "head") and message.id is not None:
                        position = message.id
                        if to_height is not None and _walked_through(position) >= to_height:
                            return
                    elif message.kind == "error":
                        body = _json(message.data)
                        raise AuthenticationError(str(body.get("message")), code=str(body.get("code")))
                    elif message.kind == "end":
                        break
            except _RECONNECT_ON:
                failures += 1
                if not reconnect or failures > MAX_RECONNECTS:
                    raise NodeUnreachable(
                        f"the event stream from {self.client.url} broke", url=self.client.url
                    ) from None
                time.sleep(min(2.0**failures, 30.0))
            finally:
                response.close()
            if not reconnect:
                return
