"""The remote signing service a key custodian runs (``xinlian signer serve``): it holds one organisation's
SM2 key and signs, for authenticated clients, only what sdk.remote_signer.check_preimage allows.

Bounds: HTTPS only (Python's ssl, a certificate from the consortium's CA); a bearer token from a file,
compared in constant time; request bodies of at most MAX_REQUEST_BYTES, read with a timeout; the SDK's
domain-tagged preimages of one chain id only (transactions naming this key as sender, member-signed
requests); decryption off unless allowed, and then only of key-sized ciphertexts. It logs one line per
request (what was signed or why it was refused), never a message, a key or the token.
"""

from __future__ import annotations

import hmac
import json
import logging
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sdk.errors import DecryptionError, SignerError, SignerRefused, UnsupportedMechanism, XinlianError
from sdk.remote_signer import MAX_DECRYPT_CIPHERTEXT_BYTES, MAX_REQUEST_BYTES, check_preimage
from sdk.signer import Signer

log = logging.getLogger("xinlian.signer")

#: Seconds a client has to send its request (and to finish the TLS handshake).
REQUEST_TIMEOUT_S = 10.0


class SignerService:
    """The service's policy, independent of HTTP: one key, one chain id, one token, decrypt or not.

    Takes: the key (a Signer, e.g. from an encrypted key file), the chain id, the bearer token, whether to
    decrypt. ``repr`` shows the address and chain only.
    """

    def __init__(self, signer: Signer, *, chain_id: int, token: str, allow_decrypt: bool = False) -> None:
        self._signer = signer
        self.chain_id = chain_id
        self._token = token.encode("ascii")
        self.allow_decrypt = allow_decrypt

    def authorised(self, header: str | None) -> bool:
        """Whether an Authorization header carries the token (compared in constant time)."""
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer ") :].strip().encode("ascii", "replace"), self._token)

    def key_info(self) -> dict[str, Any]:
        return {
            "public_key": self._signer.public_key.hex(),
            "address": f"0x{self._signer.address.hex()}",
            "chain_id": self.chain_id,
            "decrypt": self.allow_decrypt,
        }

    def sign(self, payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """Return the answer and a log line. Raises SignerRefused (check_preimage's reasons, bad_request)."""
        message = _hex_field(payload, "message")
        kind = check_preimage(message, chain_id=self.chain_id, public_key=self._signer.public_key)
        return {"signature": self._signer.sign(message).hex()}, f"signed a {kind} preimage"

    def decrypt(self, payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """Return the answer and a log line. Raises UnsupportedMechanism, SignerRefused, DecryptionError."""
        if not self.allow_decrypt:
            raise UnsupportedMechanism(
                "this signer does not decrypt (its custodian did not allow it)", reason="decrypt_disabled"
            )
        ciphertext = _hex_field(payload, "ciphertext")
        if len(ciphertext) > MAX_DECRYPT_CIPHERTEXT_BYTES:
            raise SignerRefused("this signer decrypts key-sized ciphertexts only", reason="too_large")
        return {"plaintext": self._signer.decrypt(ciphertext).hex()}, "decrypted a key"

    def __repr__(self) -> str:
        return f"SignerService(address=0x{self._signer.address.hex()}, chain_id={self.chain_id})"


def _hex_field(payload: dict[str, Any], name: str) -> bytes:
    value = payload.get(name)
    if not isinstance(value, str):
        raise SignerRefused(f"the request has no hex {name!r}", reason="bad_request")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise SignerRefused(f"{name!r} is not hex", reason="bad_request") from exc


def _status(error: XinlianError) -> int:
    if isinstance(error, UnsupportedMechanism):
        return 501
    if isinstance(error, DecryptionError):
        return 422
    if isinstance(error, SignerRefused):
        return 413 if error.detail.get("reason") == "too_large" else 403
    return 400


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = REQUEST_TIMEOUT_S

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _refuse(self, status: int, code: str, message: str, **detail: Any) -> None:
        log.warning("refused %s %s: %s", self.command, self.path, code)
        self._answer(status, {"code": code, "message": message, "detail": detail})

    def do_GET(self) -> None:
        if not self.server.service.authorised(self.headers.get("authorization")):
            self._refuse(401, "signer_login_failed", "missing or wrong bearer token")
            return
        if self.path != "/v1/key":
            self._refuse(404, "not_found", "unknown path")
            return
        self._answer(200, self.server.service.key_info())

    def do_POST(self) -> None:
        service = self.server.service
        if not service.authorised(self.headers.get("authorization")):
            self.close_connection = True
            self._refuse(401, "signer_login_failed", "missing or wrong bearer token")
            return
        try:
            length = int(self.headers.get("content-length", ""))
        except ValueError:
            self.close_connection = True
            self._refuse(411, "length_required", "a request needs a content-length")
            return
        if length < 0 or length > MAX_REQUEST_BYTES:
            self.close_connection = True  # the body is not read
            self._refuse(
                413, "signer_refused", "the request is too large", reason="too_large", limit=MAX_REQUEST_BYTES
            )
            return
        try:
            payload = json.loads(self.rfile.read(length))
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            self._refuse(400, "signer_refused", "the request is not a JSON object", reason="bad_request")
            return
        route = {"/v1/sign": service.sign, "/v1/decrypt": service.decrypt}.get(self.path)
        if route is None:
            self._refuse(404, "not_found", "unknown path")
            return
        try:
            answer, line = route(payload)
        except XinlianError as exc:
            log.warning("refused %s: %s %s", self.path, exc.code, exc.detail.get("reason", ""))
            self._answer(_status(exc), exc.to_dict())
            return
        log.info("%s for chain %d", line, service.chain_id)
        self._answer(200, answer)

    def log_message(self, format: str, *args: Any) -> None:
        """Request lines are not logged (the handlers log what they did)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], service: SignerService, context: ssl.SSLContext) -> None:
        self.service = service
        self._context = context
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = self.socket.accept()
        sock.settimeout(REQUEST_TIMEOUT_S)
        # The handshake runs in the request's thread (on first read), so a slow client holds only that one.
        return self._context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("a connection failed (%s)", client_address[0] if client_address else "?")


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2+) from a certificate and key in PEM files; raises SignerError."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise SignerError(f"cannot load the TLS certificate {cert} and key", code="bad_tls_files") from exc
    return context


def make_server(host: str, port: int, service: SignerService, context: ssl.SSLContext) -> _Server:
    """Return the HTTPS server bound to ``host:port`` (port 0: any free port; ``server_address`` says which).
    Run it with ``serve_forever()``; ``shutdown()`` stops it."""
    return _Server((host, port), service, context)


def serve_in_thread(server: _Server) -> threading.Thread:
    """Start ``server.serve_forever`` in a daemon thread and return the thread."""
    thread = threading.Thread(target=server.serve_forever, name="xinlian-signer", daemon=True)
    thread.start()
    return thread
