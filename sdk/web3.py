"""web3.py as a member: a provider that signs every JSON-RPC request with the member's key (sdk.auth).

    from web3 import Web3
    from sdk.signer import Signer
    from sdk.web3 import XinlianProvider

    w3 = Web3(XinlianProvider("http://127.0.0.1:8545", Signer.from_pem("member.pem", password)))
    w3.eth.get_logs({"fromBlock": 0, "address": "0x0000000000000000000000000000000000001004"})

A node answers anonymous JSON-RPC only for chain identity, block headers and code; logs, calls, proofs,
transactions and receipts need a signed request from an active member account. Each request is signed
for the node's audience with a fresh nonce, so it is accepted once, by that node only. Needs ``web3``:
``pip install 'xinlian[web3]'`` (``xinlian[node]`` includes it); importing this module without it raises
ImportError saying so. The rest of the SDK never imports web3.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit

try:
    import requests
    from eth_typing import URI
    from web3 import HTTPProvider, WebSocketProvider
    from web3._utils.batching import sort_batch_response_by_response_ids
    from web3.types import RPCEndpoint, RPCResponse
except ImportError as exc:  # the light install leaves web3 out
    raise ImportError(
        "sdk.web3 needs web3, which the light install leaves out: pip install 'xinlian[web3]'", name=exc.name
    ) from exc

from sdk.client import Client
from sdk.keyholder import KeyHolder


def _error_code(response: requests.Response | None) -> str | None:
    try:
        error = response.json().get("error") if response is not None else None
    except ValueError:
        return None
    data = error.get("data") if isinstance(error, dict) else None
    return str(data.get("code")) if isinstance(data, dict) else None


class XinlianProvider(HTTPProvider):
    """An ``HTTPProvider`` for ``<url>/rpc`` whose requests are signed by ``signer``.

    Takes: the node's base URL (without ``/rpc``), the member's signer, optionally a ``Client`` of the same
    node (for its chain id and audience; one is made otherwise), ``ca`` (the consortium's CA certificate for
    an https node) and HTTPProvider keyword arguments. Over https the requests go within a member session
    (see ``Client``), renewed when the node ends it.
    """

    def __init__(
        self,
        url: str,
        signer: KeyHolder,
        *,
        client: Client | None = None,
        ca: str | None = None,
        **kwargs: Any,
    ) -> None:
        base = url.rstrip("/")
        if ca is not None:
            kwargs["request_kwargs"] = {"verify": ca, **kwargs.get("request_kwargs", {})}
        super().__init__(base + "/rpc", **kwargs)
        self._client = client or Client(base, ca=ca)
        self._signer = signer
        self._endpoint = URI(base + "/rpc")
        self._path = urlsplit(self._endpoint).path

    def _post_signed(self, request_data: bytes) -> bytes:
        try:
            return self._post_once(request_data)
        except requests.HTTPError as exc:
            # The node ended the member's session (it expired, or the node restarted): once more in a new one.
            if _error_code(exc.response) != "session_expired":
                raise
            self._client.forget_session(self._signer)
            return self._post_once(request_data)

    def _post_once(self, request_data: bytes) -> bytes:
        kwargs = dict(self.get_request_kwargs())
        kwargs["headers"] = {
            **kwargs.get("headers", self.get_request_headers()),
            **self._client.sign_headers(self._signer, "POST", self._path, request_data),
        }
        response: bytes = self._request_session_manager.make_post_request(
            self._endpoint, request_data, **kwargs
        )
        return response

    def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        return self._post_signed(request_data)

    def make_batch_request(
        self, batch_requests: list[tuple[RPCEndpoint, Any]]
    ) -> list[RPCResponse] | RPCResponse:
        response: Any = self.decode_rpc_response(
            self._post_signed(self.encode_batch_rpc_request(batch_requests))
        )
        if not isinstance(response, list):
            return cast(RPCResponse, response)  # one error object for the whole batch
        ordered: list[RPCResponse] = sort_batch_response_by_response_ids(response)
        return ordered


class XinlianWebSocketProvider(WebSocketProvider):
    """web3.py's ``WebSocketProvider`` for ``<url>/rpc`` whose handshake is signed by ``signer``: every
    connect (and reconnect) signs a fresh handshake, so ``eth_subscribe("logs", …)`` delivers the logs that
    member may read (``AsyncWeb3(XinlianWebSocketProvider(url, signer))``, then
    ``await w3.eth.subscribe("logs", {...})``).

    Takes the node's base URL (``http(s)://host:port``, without ``/rpc``), the member's signer, optionally a
    ``Client`` of the same node, ``ca`` (the consortium's CA certificate for an https node) and
    WebSocketProvider keyword arguments.
    """

    def __init__(
        self,
        url: str,
        signer: KeyHolder,
        *,
        client: Client | None = None,
        ca: str | None = None,
        **kwargs: Any,
    ) -> None:
        import ssl

        base = url.rstrip("/")
        scheme, _, rest = base.partition("://")
        if scheme not in ("http", "https"):
            raise ValueError(f"the node's URL starts with http:// or https://, not {url!r}")
        websocket_kwargs = dict(kwargs.pop("websocket_kwargs", None) or {})
        if scheme == "https":
            websocket_kwargs.setdefault("ssl", ssl.create_default_context(cafile=ca))
        endpoint = f"{'wss' if scheme == 'https' else 'ws'}://{rest}/rpc"
        super().__init__(endpoint, websocket_kwargs=websocket_kwargs, **kwargs)
        self._client = client or Client(base, ca=ca)
        self._signer = signer

    async def _provider_specific_connect(self) -> None:
        self.websocket_kwargs["additional_headers"] = self._client.handshake_headers(self._signer, "/rpc")
        await super()._provider_specific_connect()
