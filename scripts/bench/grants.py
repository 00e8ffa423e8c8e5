"""The grant workload the benchmarks and the end-to-end tests drive: delegated ``Governance.grant_role``
calls, each signed by a genesis organisation that administers the role it grants (the accreditor grants
AUDITOR, …), read from a network folder written by ``node.demo_network.init_network`` or
``node.devnet.init_devnet``."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import socket
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector

from node.config import METRICS_PORT_OFFSET
from node.demo_network import get_local_ca_path
from node.genesis import DEFAULT_ROLE_ADMINS, GOVERNANCE_ADDRESS, ROLE_IDS
from sdk.crypto import PrivateKey
from sdk.domains.governance import LICENCE_TYPE_SCOPED_ROLES
from sdk.types import Transaction

GRANT_ROLE_SELECTOR = function_signature_to_4byte_selector("grant_role(address,bytes32,bytes32)")
GRANT_GAS_LIMIT = 300_000
ROLE_NAMES: dict[bytes, str] = {role_id: name for name, role_id in ROLE_IDS.items()}


#: The ports ``get_free_port`` returned in this process.
_HANDED_OUT: set[int] = set()
_HANDED_OUT_LOCK = threading.Lock()
#: How many ports ``get_free_port`` probes before it gives up.
PORT_TRIES = 1_000
#: One byte per port in this file is locked by the process that was given that port (POSIX record locks:
#: the kernel drops them when the process ends, however it ends). One file per user, who can open it.
PORT_CLAIMS_FILE = Path(tempfile.gettempdir()) / f"xinlian-port-claims-{os.getuid()}.lock"
_claims_fd: int | None = None
_claims_unavailable = False


def get_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now and that no running process was
    given before by this function. Once the probe socket is closed the kernel may offer its port again:
    among twelve picks (the ports of a few nodes) one port came twice in 4 of 1,666 sets measured here
    (Linux offers ≈ 14,100 odd ports for port 0, so about 1 in 214 for uniform draws), and then two nodes of
    one network fought over it; two test workers starting networks at the same moment can draw the same
    port as well. Nor is it 1,000 above or below a port given before: a node whose config leaves
    ``metrics_port`` unset listens for metrics on its API port + 1000.

    Within a process the ports given are remembered; across processes each port given and its metrics port
    (1,000 above) are claimed by locks on their bytes of ``PORT_CLAIMS_FILE`` (where the file cannot be
    opened or locked, with a warning, ports are unique within a process only).
    Raises RuntimeError when no such port turns up in ``PORT_TRIES`` picks (a process that has used up
    most of the range).
    """
    for _ in range(PORT_TRIES):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        near = (port, port - METRICS_PORT_OFFSET, port + METRICS_PORT_OFFSET)
        with _HANDED_OUT_LOCK:
            if _HANDED_OUT.isdisjoint(near) and _claim_across_processes(port, port + METRICS_PORT_OFFSET):
                _HANDED_OUT.add(port)
                return port
    raise RuntimeError(
        f"no free port in {PORT_TRIES} picks that this process has not handed out already "
        f"({len(_HANDED_OUT)} so far) and no other process holds"
    )


def _claim_across_processes(port: int, metrics_port: int) -> bool:
    """Lock the bytes of ``port`` and ``metrics_port`` in the claims file for this process; False when
    another process holds either (as its port or its metrics port: the three ways two nodes' ports can
    meet). The caller has checked that this process holds neither, so a refused claim gives back ``port``.
    """
    global _claims_fd, _claims_unavailable
    if _claims_unavailable:
        return True
    try:
        if _claims_fd is None:
            # Never closed: closing any descriptor of the file would drop all of this process's locks on it.
            _claims_fd = os.open(PORT_CLAIMS_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        if not _lock_byte(_claims_fd, port):
            return False
        if not _lock_byte(_claims_fd, metrics_port):
            fcntl.lockf(_claims_fd, fcntl.LOCK_UN, 1, port)
            return False
        return True
    except OSError as exc:
        _claims_unavailable = True
        warnings.warn(
            f"ports are unique within this process only: the claims file {PORT_CLAIMS_FILE} "
            f"cannot be used ({exc})",
            stacklevel=3,
        )
        return True


def _lock_byte(fd: int, offset: int) -> bool:
    """Lock byte ``offset`` of ``fd`` for this process; False when another process holds it."""
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            return False
        raise
    return True


@dataclass(frozen=True)
class Grantor:
    """A genesis organisation that may grant ``role`` (it holds that role's admin role globally)."""

    name: str
    key: PrivateKey
    role: str


@dataclass(frozen=True)
class Network:
    """A network written by ``init_network`` or ``init_devnet``: where its files are, the API of its first
    node, and who may write."""

    base: Path
    config_path: Path
    port: int
    chain_id: int
    accounts: tuple[bytes, ...]  # every genesis account (grant targets)
    grantors: tuple[Grantor, ...]

    @property
    def ca(self) -> Path | None:
        """The network's local CA when its nodes serve https (``init_network(..., tls=True)``), else None."""
        path = get_local_ca_path(self.base)
        return path if path.exists() else None

    @property
    def url(self) -> str:
        return f"{'https' if self.ca is not None else 'http'}://127.0.0.1:{self.port}"

    @property
    def database_path(self) -> Path:
        return self.base / "data" / "node-0" / "chain.db"


def delegated_grants() -> dict[str, str]:
    """Admin role name → the role name its holders grant, for the roles the workload grants.

    A random scope is not a licence type the grantor defined, so licence-type-scoped roles are left out:
    such grants would only revert.
    """
    admin_of = {ROLE_NAMES[admin]: ROLE_NAMES[role] for role, admin in DEFAULT_ROLE_ADMINS}
    return {admin: role for admin, role in admin_of.items() if role not in LICENCE_TYPE_SCOPED_ROLES}


def _directory(base: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((base / "orgs.json").read_text(encoding="utf-8"))
    return entries


def load_grantors(base: Path) -> tuple[Grantor, ...]:
    """The grantors of the network under ``base``, in orgs.json order (keys read from their PEM files)."""
    grants = delegated_grants()
    return tuple(
        Grantor(entry["name"], PrivateKey.from_pem((base / entry["key"]).read_bytes()), grants[role])
        for entry in _directory(base)
        for role in entry["roles"]
        if role in grants
    )


def load_accounts(base: Path) -> tuple[bytes, ...]:
    """Every genesis account of the network under ``base`` (the grant targets), in orgs.json order."""
    return tuple(bytes.fromhex(entry["address"].removeprefix("0x")) for entry in _directory(base))


def encode_grant_role(account: bytes, role: str, scope: bytes) -> bytes:
    """ABI call data of ``Governance.grant_role(account, role, scope)``."""
    return GRANT_ROLE_SELECTOR + abi_encode(
        ["address", "bytes32", "bytes32"], [account, ROLE_IDS[role], scope]
    )


def encode_fresh_grant(account: bytes, role: str) -> bytes:
    """``grant_role`` call data for a fresh random scope: never a reverting repeat of an earlier grant."""
    return encode_grant_role(account, role, secrets.token_bytes(32))


def grant_target(accounts: tuple[bytes, ...], grantor: Grantor, index: int) -> bytes:
    """The ``index``-th target of ``grantor``'s grants, round-robin over the accounts of other
    organisations (a delegated admin never grants within its own)."""
    own = grantor.key.public_key.address
    others = [a for a in accounts if a != own]
    return others[index % len(others)]


def make_grant(network: Network, grantor: Grantor, *, head_height: int, index: int) -> Transaction:
    """A signed delegated grant of ``grantor.role`` for a fresh random scope to an account of another
    organisation, expiring 500 blocks after ``head_height``."""
    return Transaction.create(
        grantor.key,
        chain_id=network.chain_id,
        to=GOVERNANCE_ADDRESS,
        data=encode_fresh_grant(grant_target(network.accounts, grantor, index), grantor.role),
        gas_limit=GRANT_GAS_LIMIT,
        expiry_height=head_height + 500,
    )
