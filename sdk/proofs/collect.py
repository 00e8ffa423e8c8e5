"""Collect a licence statement: ask several validator nodes to sign the same (licence, height) and keep the
answers that check, until a quorum of the validator set in force signed the same facts.

No node is trusted: each answer's signature is checked against the trust anchor's validator set (not the
key the node names), answers are grouped by the exact facts signed, and only a quorum of one group makes a
statement. The result verifies with ``verify_statement`` like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sdk.errors import FormatError, QuorumError, XinlianError
from sdk.proofs.certificate import compute_quorum
from sdk.proofs.statement import (
    LicenceStatement,
    StatementFacts,
    seal_statement,
    statement_preimage,
    validators_at,
)
from sdk.proofs.trust import Trust
from sdk.types import public_key_of

__all__ = ["collect_statement", "common_height"]

MAX_NODES = 64  # a collector asks at most this many nodes


def common_height(urls: Sequence[str], *, ca: Path | None = None, timeout: float = 10.0) -> int:
    """The lowest head height among the nodes that answer: a height every one of them has committed.

    Raises QuorumError when no node answers.
    """
    from sdk.client import Client

    heights = []
    for url in urls[:MAX_NODES]:
        try:
            with Client(url, timeout=timeout, ca=ca) as client:
                heights.append(client.chain_info().height)
        except XinlianError:
            continue
    if not heights:
        raise QuorumError("no node answered: cannot choose a height")
    return min(heights)


def collect_statement(
    urls: Sequence[str],
    identifier: str,
    trust: Trust,
    *,
    height: int | None = None,
    ca: Path | None = None,
    timeout: float = 10.0,
) -> LicenceStatement:
    """Ask each node in ``urls`` for its signature of licence ``identifier`` at ``height`` (default: the
    lowest head among them) and return the statement once a quorum of the set the trust anchor names for
    that height signed the same facts.

    Raises QuorumError (with each node's failure in ``detail["failures"]``) when too few valid signatures
    came back; ChainError when the trust anchor names no set for that height.
    """
    from sdk.client import Client

    urls = list(urls)[:MAX_NODES]
    at = common_height(urls, ca=ca, timeout=timeout) if height is None else height
    validators = validators_at(trust, at)
    need = compute_quorum(len(validators))
    groups: dict[bytes, tuple[StatementFacts, dict[int, bytes]]] = {}
    failures: dict[str, str] = {}
    path = f"/v1/licences/{quote(identifier, safe='')}/statement"
    for url in urls:
        try:
            with Client(url, timeout=timeout, ca=ca) as client:
                answer = client.public_get(path, params={"height": at})
            facts, index, signature = _read_answer(answer, trust.chain_id, at, len(validators))
            preimage = statement_preimage(facts)
            public_key_of(validators[index]).verify(preimage, signature)
        except XinlianError as exc:
            failures[url] = f"{exc.code}: {exc.message}"
            continue
        group = groups.setdefault(preimage, (facts, {}))
        group[1].setdefault(index, signature)
        if len(group[1]) >= need:
            return seal_statement(group[0], list(group[1].items()))
    best = max((len(g[1]) for g in groups.values()), default=0)
    raise QuorumError(
        f"only {best} of the {need} validator signatures needed came back for one statement "
        f"(height {at}, {len(urls)} nodes asked)",
        height=at,
        signatures=best,
        quorum=need,
        failures=failures,
    )


def _read_answer(
    answer: Any, chain_id: int, height: int, validator_count: int
) -> tuple[StatementFacts, int, bytes]:
    """(facts, validator index, signature) from a node's answer; FormatError for a malformed one or one
    about another chain or height."""
    if not isinstance(answer, dict) or not isinstance(answer.get("statement"), dict):
        raise FormatError("the node's answer is not a statement seal")
    facts = StatementFacts.from_json(answer["statement"])
    index = answer.get("validator_index")
    signature = answer.get("signature")
    if not isinstance(index, int) or not 0 <= index < validator_count:
        raise FormatError(f"validator index {index!r} is outside the set of {validator_count}")
    if not isinstance(signature, str) or len(signature) != 130 or not signature.startswith("0x"):
        raise FormatError("the signature must be 0x and 64 bytes of hex")
    if facts.chain_id != chain_id or facts.height != height:
        raise FormatError(
            f"the node signed chain {facts.chain_id} height {facts.height}, not chain {chain_id} "
            f"height {height}"
        )
    try:
        return facts, index, bytes.fromhex(signature[2:])
    except ValueError as exc:
        raise FormatError("the signature is not hex") from exc
