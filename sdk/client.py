"""HTTP client of a Xinlian node: submit signed transactions, wait for receipts, read blocks, logs, state."""

from __future__ import annotations

import copy
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import httpx

from sdk import submission
from sdk.answers import (
    BlockInfo,
    ChainInfo,
    LogEntry,
    QueryItems,
    ReceiptResult,
    TransactionStatus,
    block_info_from_json,
    error_from_body,
    error_from_response,
    from_node_hex,
    log_entry_from_json,
    log_filter_params,
    status_from_json,
)
from sdk.auth import Session, mac_query, sign_query
from sdk.closing import Closing
from sdk.encoding import to_hex
from sdk.errors import (
    ClientError,
    InvalidTransaction,
    NodeUnreachable,
    StorageError,
    UnsupportedMechanism,
    XinlianError,
)
from sdk.keyholder import KeyHolder
from sdk.types import CommitCertificate, Transaction

if TYPE_CHECKING:
    from sdk.domains.authorisations import Authorisations
    from sdk.domains.confirmations import Confirmations
    from sdk.domains.drugs import Drugs
    from sdk.domains.governance import Governance
    from sdk.domains.licences import Licences
    from sdk.events import Events


T = TypeVar("T")

DEFAULT_TIMEOUT_S: float = 10.0


DEFAULT_GAS_LIMIT: int = 1_000_000


#: The node waits at most this long per status request; longer waits are several requests.
_NODE_MAX_WAIT_S: float = 30.0


_CHAIN_INFO_TTL_S: float = 5.0
#: A session is renewed this long before the node would end it, so no request races its expiry.
_SESSION_MARGIN_MS: int = 30_000


def _error_code(response: httpx.Response) -> str | None:
    """The ``code`` of a node's error answer (REST, or a JSON-RPC error's data), if it has one."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("data"), dict):
        return str(error["data"].get("code"))
    return str(body["code"]) if "code" in body else None


# --- the client ---------------------------------------------------------------------------------------
class Client(Closing):
    """A connection-pooled HTTP client of one node. Use as a context manager, or call ``close()``.

    Errors the node reports are raised as the matching sdk.errors class (InvalidTransaction, ExecutionError,
    …) carrying the node's ``code`` and ``detail`` (plus ``http_status``); transport failures and anything
    unexpected raise ClientError.

    Everything the SDK signs carries the chain id, and by default it is learnt from the node. Pin
    ``chain_id`` (and ``genesis_hash``) to the consortium's published values so that a wrong or hostile node
    can never get a transaction, query or consent signed for another chain. For an ``https://`` node, ``ca``
    names the consortium's CA certificate (PEM) to check the node's certificate against.

    With ``signer`` (a member account), every request is signed (sdk.auth) and the node answers what that
    member may read: business data, logs, calls and transactions are not served to anonymous callers.
    ``as_member(signer)`` gives the same connection reading as another member. Over https the client opens
    a session per member (one SM2-signed request, then an HMAC-SM3 per request: sdk.auth), renewed before
    it ends; ``sessions=False`` signs every request instead.

    ``failover`` names more nodes of the same consortium (same ``ca``, pins and signer): ``send`` and
    ``deliver`` turn to them, in order, when a node cannot be reached, resubmitting the same signed
    transaction. Every other request goes to ``url`` only.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        chain_id: int | None = None,
        genesis_hash: bytes | None = None,
        ca: str | Path | None = None,
        signer: KeyHolder | None = None,
        sessions: bool = True,
        failover: Sequence[str] = (),
    ) -> None:
        self.url = url.rstrip("/")
        self.signer = signer
        # Sessions carry their key in the node's answer: only over https. Shared by as_member copies.
        self._use_sessions = sessions and self.url.startswith("https://")
        self._sessions: dict[bytes, Session] = {}
        self._sessionless: set[bytes] = set()  # members whose key holder cannot decrypt a session key
        self._sessions_lock = threading.Lock()
        self.timeout = timeout
        self.expected_chain_id = chain_id
        self.expected_genesis_hash = genesis_hash
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            headers={"user-agent": "xinlian-sdk", **(headers or {})},
            transport=transport,
            # An https node is checked against ``ca`` (the consortium's CA certificate, PEM) when given,
            # else against the system's trust store.
            verify=ssl.create_default_context(cafile=str(ca)) if ca is not None else True,
        )
        self._chain: ChainInfo | None = None
        self._chain_at = 0.0
        self.batch_limits = submission.BatchLimits()  # what one batch request may carry (submit_all)
        self._failover = [
            Client(
                other,
                timeout=timeout,
                headers=headers,
                chain_id=chain_id,
                genesis_hash=genesis_hash,
                ca=ca,
                signer=signer,
                sessions=sessions,
            )
            for other in failover
        ]

    # --- lifecycle ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Close pooled connections (the failover nodes' too)."""
        self._http.close()
        for other in self._failover:
            other.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def as_member(self, signer: KeyHolder) -> Client:
        """Return a client on the same connection pool whose requests are signed by ``signer``."""
        member = copy.copy(self)
        member.signer = signer
        return member

    def reading_as(self, signer: KeyHolder | None) -> Client:
        """This client if it already reads as a member (or ``signer`` is None), else ``as_member(signer)``:
        a facade given a signer reads as that member unless its client was given one."""
        return self if signer is None or self.signer is not None else self.as_member(signer)

    # --- transport ---------------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        default_error: type[XinlianError] = ClientError,
        timeout: float | None = None,
        signer: KeyHolder | None = None,
        anonymous: bool = False,
        session: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Send one request (signed by ``signer``, else by the client's signer, unless ``anonymous``; within
        the member's session unless ``session=False``) and decode its JSON answer; raises the node's error
        as its sdk.errors class. A request refused because its session ended is sent once more in a new
        session."""
        signer = None if anonymous else signer or self.signer
        for attempt in (1, 2):
            try:
                request = self._http.build_request(method, path, timeout=timeout or self.timeout, **kwargs)
                if signer is not None:
                    within = self._session(signer) if session else None
                    path_and_query = request.url.raw_path.decode("ascii")
                    request.headers.update(
                        self._auth_headers(signer, within, method, path_and_query, request.content)
                    )
                response = self._http.send(request)
            except httpx.TimeoutException as exc:
                raise NodeUnreachable(f"{method} {path} timed out", code="timeout", url=self.url) from exc
            except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
                # The node closed a kept-alive connection as this request went out on it: a read, which
                # changes nothing, is sent once more on a new connection.
                if attempt == 1 and method == "GET":
                    continue
                raise NodeUnreachable(f"cannot reach {self.url}: {exc}", url=self.url) from exc
            except httpx.HTTPError as exc:
                raise NodeUnreachable(f"cannot reach {self.url}: {exc}", url=self.url) from exc
            # A session the node ended (it expired, or the node restarted): once more in a new one.
            if (
                attempt == 1
                and signer is not None
                and session
                and response.status_code == 401
                and _error_code(response) == "session_expired"
            ):
                self.forget_session(signer)
                continue
            break
        if response.status_code >= 400:
            raise error_from_response(response, default_error)
        try:
            return response.json()
        except ValueError as exc:
            raise ClientError(
                f"{method} {path} answered with non-JSON",
                code="bad_response",
                http_status=response.status_code,
            ) from exc

    def signed_request(
        self,
        signer: KeyHolder,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        default_error: type[XinlianError] = ClientError,
    ) -> Any:
        """Send a member-signed query (sdk.auth): the node answers only an active account's own records.

        Takes: the member's signer, the HTTP method and path, query parameters, a JSON body.
        Returns: the decoded JSON answer. Raises: the node's error (e.g. ``unauthenticated``, 401).
        """
        body = b"" if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        return self._request(
            method,
            path,
            params={k: v for k, v in (params or {}).items() if v is not None},
            content=body,
            headers={"content-type": "application/json"} if body else None,
            default_error=default_error,
            signer=signer,
        )

    def signed_pages(
        self,
        signer: KeyHolder,
        path: str,
        *,
        items: str,
        resume: tuple[str, str],
        params: dict[str, Any] | None = None,
        limit: int | None = None,
        page_size: int = 100,
    ) -> Iterator[Any]:
        """Follow a member-signed listing to its end: yield the entries of every page, in the node's order.

        Takes: the member's signer, the path, ``items`` (the answer's list field), ``resume`` (the query
        parameter that takes the next page's position, and the answer's field that holds it, e.g.
        ``("cursor", "next_cursor")``), the listing's query parameters, at most ``limit`` entries in all
        (None: all of them), entries asked per page. Raises: the node's error for any page; nothing is
        dropped silently.
        """
        if limit is not None and limit < 0:
            raise ClientError("limit must be 0 or more", code="bad_argument", field="limit")
        query = {k: v for k, v in (params or {}).items() if v is not None}
        param, field = resume
        left = limit
        while left is None or left > 0:
            query["limit"] = page_size if left is None else min(page_size, left)
            body = self.signed_request(signer, "GET", path, params=query)
            entries = list(body[items])
            if left is not None:
                entries = entries[:left]
                left -= len(entries)
            yield from entries
            position = body.get(field)
            if position is None:
                return
            query[param] = position

    def open_signed_stream(
        self, signer: KeyHolder, path: str, *, params: QueryItems, read_timeout_s: float
    ) -> httpx.Response:
        """Open a member-signed streaming GET (e.g. /v1/events) and return the response, its body not read
        yet: the caller iterates it and closes it. Raises NodeUnreachable, or the node's error."""
        request = self._http.build_request(
            "GET",
            path,
            params=params,
            timeout=httpx.Timeout(self.timeout, read=read_timeout_s),
            headers={"accept": "text/event-stream"},
        )
        request.headers.update(
            self.sign_headers(signer, "GET", request.url.raw_path.decode("ascii"), request.content)
        )
        try:
            response = self._http.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise NodeUnreachable(f"GET {path} timed out", code="timeout", url=self.url) from exc
        except httpx.HTTPError as exc:
            raise NodeUnreachable(f"cannot reach {self.url}: {exc}", url=self.url) from exc
        if response.status_code >= 400:
            response.read()
            response.close()
            if response.status_code == 401 and _error_code(response) == "session_expired":
                self.forget_session(signer)
            raise error_from_response(response, ClientError)
        return response

    @property
    def events(self) -> Events:
        """Live events from this node: ``client.events.stream(...)`` (sdk.events)."""
        from sdk.events import Events

        return Events(self)

    def public_get(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        """GET one of the node's public routes (no signature, whatever this client reads as) and decode
        its JSON answer; raises the node's error."""
        return self._request("GET", path, params=params, anonymous=True)

    def sign_headers(
        self, signer: KeyHolder, method: str, path_and_query: str, body: bytes
    ) -> dict[str, str]:
        """The authentication headers (sdk.auth) for one request to this node as ``signer``: its chain id
        and audience, a fresh nonce; within the member's session when the client uses sessions, else an
        SM2 signature. Takes the exact path and query that will be sent."""
        return self._auth_headers(signer, self._session(signer), method, path_and_query, body)

    def handshake_headers(self, signer: KeyHolder, path: str = "/rpc") -> dict[str, str]:
        """SM2-signed headers for opening a WebSocket at ``path`` of this node as ``signer`` (a GET with an
        empty body, fresh nonce: good for one handshake within the node's 30 s window)."""
        return self._auth_headers(signer, None, "GET", path, b"")

    def _auth_headers(
        self, signer: KeyHolder, session: Session | None, method: str, path_and_query: str, body: bytes
    ) -> dict[str, str]:
        """The headers of one request to this node: HMAC-SM3 within ``session``, else ``signer``'s SM2
        signature (both over the same request preimage)."""
        info = self.chain_info(refresh=False)
        authenticate = partial(sign_query, signer) if session is None else partial(mac_query, session)
        return authenticate(
            chain_id=info.chain_id,
            audience=info.audience,
            method=method,
            path_and_query=path_and_query,
            body=body,
        )

    def _session(self, signer: KeyHolder) -> Session | None:
        """The member's open session, opened (or renewed) when needed; None when sessions are off or the
        node offers none (plain http, or a node without sessions)."""
        if not self._use_sessions:
            return None
        key = signer.public_key
        with self._sessions_lock:
            if key in self._sessionless:
                return None
            session = self._sessions.get(key)
        if session is not None and session.expires_ms - _SESSION_MARGIN_MS > time.time() * 1000:
            return session
        try:
            body = self._request("POST", "/v1/sessions", signer=signer, session=False)
            session = Session(
                token=bytes.fromhex(body["token"]),
                key=signer.decrypt(bytes.fromhex(body["key"])),  # sealed to the member's key
                expires_ms=int(body["expires_ms"]),
            )
        except UnsupportedMechanism:
            # A key holder that cannot decrypt (a token without SM2 decryption, a remote signer not
            # allowed to): this member signs each request instead.
            with self._sessions_lock:
                self._sessionless.add(signer.public_key)
            return None
        except XinlianError as exc:
            if exc.code != "insecure_transport" and exc.detail.get("http_status") != 404:
                raise
            self._use_sessions = False  # this node offers no sessions: sign each request
            return None
        except (KeyError, TypeError, ValueError) as exc:
            raise ClientError("the node's session answer is malformed", code="bad_response") from exc
        with self._sessions_lock:
            self._sessions[key] = session
        return session

    def forget_session(self, signer: KeyHolder) -> None:
        """Drop ``signer``'s session (the node ended it); the next request opens a new one."""
        with self._sessions_lock:
            self._sessions.pop(signer.public_key, None)

    # --- chain ----------------------------------------------------------------------------------------
    def chain_info(self, *, refresh: bool = True) -> ChainInfo:
        """Return the chain id, head and parameters (``refresh=False`` may reuse a copy up to 5 s old).

        Raises ClientError.
        """
        now = time.monotonic()
        if not refresh and self._chain is not None and now - self._chain_at < _CHAIN_INFO_TTL_S:
            return self._chain
        body = self._request("GET", "/v1/chain", anonymous=True)
        try:
            config = {str(k): int(v) for k, v in body["config"].items()}
            info = ChainInfo(
                chain_id=int(body["chain_id"]),
                protocol_version=int(body["protocol_version"]),
                height=int(body["head"]["height"]),
                head_hash=from_node_hex(body["head"]["block_hash"]),
                head_timestamp_ms=int(body["head"]["timestamp_ms"]),
                state_root=from_node_hex(body["head"]["state_root"]),
                governance_address=from_node_hex(body["governance_address"]),
                genesis_hash=from_node_hex(body["genesis_hash"]) if body.get("genesis_hash") else None,
                expiry_window=config["expiry_window"],
                tx_gas_limit=config["tx_gas_limit"],
                max_tx_bytes=config["max_tx_bytes"],
                block_period_ms=config["block_period_ms"],
                config=config,
                audience=str(body.get("audience") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ClientError("the node's chain info is malformed", code="bad_response") from exc
        if self.expected_chain_id is not None and info.chain_id != self.expected_chain_id:
            raise ClientError(
                f"{self.url} serves chain {info.chain_id}, not the pinned chain {self.expected_chain_id}",
                code="wrong_chain",
            )
        if self.expected_genesis_hash is not None and info.genesis_hash != self.expected_genesis_hash:
            raise ClientError(f"{self.url} serves another genesis than the pinned one", code="wrong_chain")
        self._chain, self._chain_at = info, now
        return info

    def head(self) -> BlockInfo:
        """Return the latest committed block. Raises ClientError."""
        return block_info_from_json(self._request("GET", "/v1/blocks/latest"))

    def block(self, height_or_hash: int | bytes) -> BlockInfo:
        """Return a block by height or by 32-byte hash. Raises ClientError (``not_found``)."""
        if isinstance(height_or_hash, bytes):
            return block_info_from_json(self._request("GET", f"/v1/blocks/by-hash/0x{height_or_hash.hex()}"))
        return block_info_from_json(self._request("GET", f"/v1/blocks/{int(height_or_hash)}"))

    def certificate(self, height: int) -> CommitCertificate:
        """Return the commit certificate of the block at ``height`` (decoded, not yet verified)."""
        body = self._request("GET", f"/v1/blocks/{int(height)}/certificate")
        return CommitCertificate.decode(from_node_hex(body["raw"]))

    def validators(self) -> list[bytes]:
        """Return the 64-byte public keys of the validator set in force, in index order."""
        body = self._request("GET", "/v1/validators")
        return [from_node_hex(v["public_key"]) for v in body["validators"]]

    def health(self) -> dict[str, Any]:
        """Return the node's ``/health`` answer (status, height, head_age_s, consensus liveness).

        A node whose consensus stalled or stopped answers HTTP 503 with the same body: returned as well,
        with ``status`` ``stalled`` or ``down``.
        """
        try:
            response = self._http.request("GET", "/health", timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise NodeUnreachable("GET /health timed out", code="timeout", url=self.url) from exc
        except httpx.HTTPError as exc:
            raise NodeUnreachable(f"cannot reach {self.url}: {exc}", url=self.url) from exc
        if response.status_code not in (200, 503):
            raise error_from_response(response, ClientError)
        try:
            result: dict[str, Any] = response.json()
        except ValueError as exc:
            raise ClientError(
                "GET /health answered with non-JSON", code="bad_response", http_status=response.status_code
            ) from exc
        return result

    # --- transactions ---------------------------------------------------------------------------------
    def submit(self, tx: Transaction) -> bytes:
        """Submit a signed transaction; returns its hash. Raises InvalidTransaction with the node's code."""
        return self.submit_raw(tx.encode())

    def submit_raw(self, raw: bytes) -> bytes:
        """Submit a transaction's canonical encoding; returns its hash once the node has recorded it
        durably (it stays pending across a crash of that node). Submitting the same transaction again is
        idempotent: the node answers success while it is pending there and once it is committed.

        Raises: InvalidTransaction (TransactionExpired among them); NodeUnreachable; StorageError (the node
        could not record it: submit it again, here or elsewhere).
        """
        body = self._request(
            "POST",
            "/v1/transactions",
            content=raw,
            headers={"content-type": "application/octet-stream"},
            default_error=InvalidTransaction,
            anonymous=True,  # the transaction's own signature is its authentication
        )
        return from_node_hex(body["tx_hash"])

    def submit_many(self, raws: Sequence[bytes]) -> list[bytes | XinlianError]:
        """Submit up to 500 transactions in one request (``POST /v1/transactions/batch``), each as
        ``submit_raw`` would: returns, in order, each one's hash (recorded durably, or already committed)
        or the typed error a single submission would have raised (InvalidTransaction among them).

        Raises: ClientError ``batch_too_large`` (more than the node takes); NodeUnreachable; StorageError
        (nothing was recorded: submit the batch again, here or elsewhere).
        """
        body = self._request(
            "POST",
            "/v1/transactions/batch",
            content=submission.batch_body(raws),
            headers={"content-type": "application/json"},
            anonymous=True,  # each transaction's own signature is its authentication
        )
        if len(body["results"]) != len(raws):
            raise ClientError(
                f"the node answered {len(body['results'])} results for {len(raws)} transactions",
                code="bad_answer",
            )
        results: list[bytes | XinlianError] = []
        for item in body["results"]:
            if item["status"] == "refused":
                status = int(item.get("http_status") or 400)
                results.append(
                    error_from_body(item["error"], status, InvalidTransaction, where="/v1/transactions/batch")
                )
            else:
                results.append(from_node_hex(item["tx_hash"]))
        return results

    def submit_all(
        self, raws: Sequence[bytes], *, max_txs: int | None = None, max_body_bytes: int | None = None
    ) -> list[bytes | XinlianError]:
        """Submit any number of transactions in as few batch requests as fit a node's limits (one after the
        other, ``compute_submit_batches``); returns, in order, each one's hash or typed error, as
        ``submit_many``.

        Without ``max_txs``/``max_body_bytes``, the node's default limits (500 transactions, 1 MiB), or
        the lower ones a node answered this client with: a node configured below them answers 413 with
        its own (``batch_too_large``, ``body_too_large``), and the rest is split again within them. A
        request the node refuses as ``busy`` (every slot for batches taken: its answer says retry) is sent
        again after a pause (¼ s, doubling up to 1 s, jittered) for up to the client's timeout.

        Raises as ``submit_many``, with detail ``accepted`` (the hashes, hex, of what earlier requests
        recorded: those commit) and ``not_accepted`` (the positions of the others). Submitting them all
        again is safe: a recorded transaction answers its hash again.
        """
        return submission.submit_all(self, raws, max_txs=max_txs, max_body_bytes=max_body_bytes)

    def transaction(self, tx_hash: bytes, *, wait_s: float = 0.0) -> TransactionStatus:
        """Return the status of a transaction, letting the node wait up to ``wait_s`` (≤ 30) for a commit."""
        wait_s = max(0.0, min(wait_s, _NODE_MAX_WAIT_S))
        body = self._request(
            "GET",
            f"/v1/transactions/0x{tx_hash.hex()}",
            params={"wait": f"{wait_s:.3f}"} if wait_s else None,
            timeout=self.timeout + wait_s,
        )
        return status_from_json(body)

    def wait(self, tx_hash: bytes, timeout: float = 30.0, *, check: bool = False) -> ReceiptResult:
        """Wait until the transaction is committed and return its receipt.

        Takes: the hash, the timeout in seconds, ``check`` to raise on a reverted transaction.
        Raises: ClientError (``timeout``) when not committed in time; ExecutionError (``execution_reverted``)
        when ``check`` and the transaction reverted.
        """
        deadline = time.monotonic() + timeout
        receipt = submission.await_receipt(self, tx_hash, deadline, within=f"within {timeout:g} s")
        return receipt.raise_for_status() if check else receipt

    def deliver(
        self, tx: Transaction, *, timeout: float = 30.0, check: bool = True, signer: KeyHolder | None = None
    ) -> ReceiptResult:
        """Submit a signed transaction and wait for its receipt, until it is committed, it expires, or
        ``timeout`` (seconds) passes.

        When a node cannot be reached (or could not record it) the same transaction goes to the next one:
        ``url``, then the ``failover`` nodes in order, round after round (a short pause between rounds); a
        node that no longer knows it gets it again. Safe, because submission is idempotent and a
        transaction is committed at most once. Its status is read as ``signer`` (default: this client's
        signer); its sender's organisation may always read it.
        Returns: the receipt (raising ExecutionError if it reverted and ``check``).
        Raises: TransactionExpired (the chain passed its expiry height without it: it never will be
        committed); NodeUnreachable (at ``timeout`` no node could be reached: it may still be committed);
        ClientError ``timeout`` (still pending at ``timeout``); InvalidTransaction (refused).
        """
        reader = signer or self.signer
        nodes = [
            node if reader is None or node.signer is reader else node.as_member(reader)
            for node in (self, *self._failover)
        ]
        receipt = submission.deliver(nodes, tx, timeout)
        return receipt.raise_for_status() if check else receipt

    def _first_answer(self, ask: Callable[[Client], T]) -> T:
        """``ask`` this node, then each failover node in turn while they cannot be reached.

        Raises: NodeUnreachable when no node could be reached; what ``ask`` raises otherwise.
        """
        failures: dict[str, str] = {}
        for node in (self, *self._failover):
            try:
                return ask(node)
            except (NodeUnreachable, StorageError) as exc:
                failures[node.url] = exc.message
                last = exc
        raise NodeUnreachable(f"no node could be reached: {failures}", nodes=failures) from last

    @overload
    def send(
        self,
        signer: KeyHolder,
        to: bytes,
        data: bytes,
        *,
        gas_limit: int = ...,
        wait: Literal[True] = ...,
        timeout: float = ...,
        check: bool = ...,
    ) -> ReceiptResult: ...

    @overload
    def send(
        self,
        signer: KeyHolder,
        to: bytes,
        data: bytes,
        *,
        gas_limit: int = ...,
        wait: Literal[False],
        timeout: float = ...,
        check: bool = ...,
    ) -> bytes: ...

    def send(
        self,
        signer: KeyHolder,
        to: bytes,
        data: bytes,
        *,
        gas_limit: int = DEFAULT_GAS_LIMIT,
        wait: bool = True,
        timeout: float = 30.0,
        check: bool = True,
    ) -> ReceiptResult | bytes:
        """Build, sign and submit a transaction calling ``to`` with ``data``.

        The expiry is the head plus the chain's expiry window. With ``wait`` it is delivered
        (``deliver``: resubmitted to the ``failover`` nodes when one cannot be reached, until committed or
        expired, within ``timeout``); without, submitted to the first node that records it.
        Returns: the receipt when ``wait`` (raising ExecutionError if it reverted and ``check``), else the
        transaction hash.
        Raises: InvalidTransaction (refused at admission; TransactionExpired), NodeUnreachable, ClientError,
        ExecutionError.
        """
        tx = self.build(signer, to, data, gas_limit=gas_limit)
        if not wait:
            return self._first_answer(lambda node: node.submit(tx))
        # The sender always reads its own transaction, whoever this client reads as.
        return self.deliver(tx, timeout=timeout, check=check, signer=signer)

    def build(
        self, signer: KeyHolder, to: bytes, data: bytes, *, gas_limit: int = DEFAULT_GAS_LIMIT
    ) -> Transaction:
        """Build and sign, without sending, a transaction calling ``to`` with ``data``; it expires at the
        head plus the chain's expiry window. Raises NodeUnreachable, ClientError (reading the chain info)."""
        info = self._first_answer(lambda node: node.chain_info(refresh=False))
        return Transaction.create(
            signer,
            chain_id=info.chain_id,
            to=to,
            data=data,
            gas_limit=gas_limit,
            expiry_height=info.height + info.expiry_window,
        )

    def send_many(self, signer: KeyHolder, calls: Sequence[tuple[bytes, bytes, int]]) -> list[bytes]:
        """Build, sign and submit together transactions calling ``(to, data, gas_limit)`` each, in as few
        batch requests as fit a node's limits (``submit_all``, to the first node that answers); returns
        their hashes in order, without waiting for them to commit.

        Raises, once every transaction was offered, the first refusal's typed error (InvalidTransaction,
        TransactionExpired …), or the error of a request that failed whole (``submit_all``), with detail
        ``accepted``: the hashes (hex) the node recorded, which commit whatever the caller does next, and
        ``not_accepted``: the positions in ``calls`` of the others. NodeUnreachable when no node could be
        reached (submitting the same calls again builds new transactions: check what committed first).
        """
        raws = [self.build(signer, to, data, gas_limit=gas_limit).encode() for to, data, gas_limit in calls]
        results = self._first_answer(lambda node: node.submit_all(raws))
        for result in results:
            if isinstance(result, XinlianError):
                raise submission.note_outcome(result, results, len(results))
        return [result for result in results if isinstance(result, bytes)]

    # --- reads --------------------------------------------------------------------------------------
    def call(self, to: bytes, data: bytes, *, sender: bytes | None = None) -> bytes:
        """Run a read-only call at the head; returns the return data.

        Raises ExecutionError (``execution_reverted``, detail ``reason``) when the call reverts.
        """
        body: dict[str, str] = {"to": to_hex(to), "data": to_hex(data)}
        if sender is not None:
            body["sender"] = to_hex(sender)
        return from_node_hex(self._request("POST", "/v1/call", json=body)["result"])

    def logs(
        self,
        *,
        address: bytes | Sequence[bytes] | None = None,
        topics: Sequence[bytes | Sequence[bytes] | None] = (),
        from_height: int = 0,
        to_height: int | None = None,
        page_size: int = 1000,
    ) -> Iterator[LogEntry]:
        """Yield committed logs matching the filter in chain order, fetching pages as needed.

        ``topics`` is positional (None = any; a list = any of them), as eth_getLogs. Raises ClientError.
        """
        params: QueryItems = [("from_height", from_height), ("limit", page_size)]
        if to_height is not None:
            params.append(("to_height", to_height))
        params += log_filter_params(address, topics)
        cursor: str | None = None
        while True:
            page_params = params + ([("cursor", cursor)] if cursor else [])
            body = self._request("GET", "/v1/logs", params=page_params)
            for entry in body["logs"]:
                yield log_entry_from_json(entry)
            cursor = body.get("next_cursor")
            if not cursor:
                return

    # --- proofs --------------------------------------------------------------------------------------
    def proof_bundle(
        self, tx_hash: bytes, *, log_index: int | None = None, state: tuple[bytes, int] | None = None
    ) -> dict[str, Any]:
        """The proof bundle of a committed transaction as JSON (check it offline with `xinlian verify`).

        ``state = (contract address, storage slot)`` adds a proof of that slot at the node's head, which
        also proves the contract's code hash then (the code in force).
        Raises: the node's error (``not_found`` for an unknown or pending transaction), ClientError.
        """
        params: dict[str, Any] = {"log_index": log_index} if log_index is not None else {}
        if state is not None:
            params |= {"state_address": "0x" + state[0].hex(), "state_slot": hex(state[1])}
        body: dict[str, Any] = self._request("GET", f"/v1/proofs/tx/0x{tx_hash.hex()}", params=params or None)
        return body

    # --- facades ------------------------------------------------------------------------------------
    @property
    def governance(self) -> Governance:
        """Governance reads (and writes with ``.with_signer(signer)``)."""
        from sdk.domains.governance import Governance

        return Governance(self)

    @property
    def licences(self) -> Licences:
        """E-licences (电子证照): reads, and signed writes through ``.with_signer(signer)``."""
        from sdk.domains.licences import Licences

        return Licences(self)

    @property
    def drugs(self) -> Drugs:
        """Drug traceability (药品追溯): consumer queries; signed writes via ``.with_signer(signer)``."""
        from sdk.domains.drugs import Drugs

        return Drugs(self)

    @property
    def authorisations(self) -> Authorisations:
        """Data-sharing authorisations: reads, and signed writes through ``.with_signer(signer)``."""
        from sdk.domains.authorisations import Authorisations

        return Authorisations(self)

    @property
    def confirmations(self) -> Confirmations:
        """Bank confirmation letters: reads, and signed writes through ``.with_signer(signer)``."""
        from sdk.domains.confirmations import Confirmations

        return Confirmations(self)
