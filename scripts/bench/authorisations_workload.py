"""Benchmark workload: committed data-authorisation uses/s (DataAuthorisation.record_use) on a running node.

Set-up (not timed): the data regulator (DATA_REGULATOR in orgs.json) grants DATA_USER to another genesis
organisation's account (a delegated grant, no committee vote), the Data Exchange Authority (DATA_HOLDER)
lists a resource, that
account requests it with a use limit above the run's size, and the Authority grants it (``grants`` grants,
one per client by default). Timed: ``uses`` pre-signed ``record_use(grant, fields, SM3 digest)``
transactions submitted over HTTP from ``clients`` threads; a watcher sees each commit. The committed count is
read back from the contract's use counters, so only uses the chain accepted count.

Use from scripts/bench/node.py::

    from scripts.bench.authorisations_workload import run_authorisation_workload
    result = run_authorisation_workload(url, network_dir, uses=2000, clients=4)

or on its own against a node (e.g. `make run`, or `xinlian node run` on a network from `network init`):

    .venv/bin/python scripts/bench/authorisations_workload.py [--url URL] [--network var/devnet]
        [--uses 2000] [--clients 4] [--grants K] [--json]
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from scripts.bench.common import CommitFigures, CommitRun, split_evenly  # noqa: E402
from scripts.demo_common import demo_parser  # noqa: E402
from sdk.client import Client  # noqa: E402
from sdk.contracts import Contract  # noqa: E402
from sdk.crypto import sm3  # noqa: E402
from sdk.domains.authorisations import Authorisations, Level, ShareType, compute_fields_mask  # noqa: E402
from sdk.domains.governance import Governance  # noqa: E402
from sdk.signer import Signer  # noqa: E402
from sdk.system import DATA_AUTHORISATION_ADDRESS  # noqa: E402
from sdk.types import Transaction  # noqa: E402

USE_GAS_LIMIT = 200_000  # record_use costs ~91k gas
FIELD_IDS = (0, 1, 2, 3)
USED_FIELDS = (0, 2)
COMMIT_WAIT_S = 120.0
_DA = Contract("DataAuthorisation")


@dataclass
class AuthorisationWorkloadResult(CommitFigures):
    """What one run measured (times in seconds unless the name says otherwise)."""

    uses_submitted: int = 0
    uses_committed: int = 0  # from the grants' on-chain use counters
    uses_per_s: float = 0.0  # committed uses / seconds
    sign_per_s: float = 0.0
    grants: int = 0


@dataclass(frozen=True)
class Participants:
    holder: Signer  # the Data Exchange Authority
    requester: Signer  # another genesis organisation's account, given DATA_USER
    regulator: Signer  # a DATA_REGULATOR, which grants DATA_USER


def load_participants(network_dir: Path) -> Participants:
    """Read the holder (DATA_HOLDER), a DATA_REGULATOR and a requester (any organisation without data
    roles) from orgs.json.

    Raises SystemExit when the network lists no DATA_HOLDER, no DATA_REGULATOR or no other organisation.
    """
    orgs = json.loads((network_dir / "orgs.json").read_text(encoding="utf-8"))
    holders = [o for o in orgs if "DATA_HOLDER" in o["roles"]]
    regulators = [o for o in orgs if "DATA_REGULATOR" in o["roles"]]
    others = [o for o in orgs[1:] if not {"DATA_HOLDER", "DATA_REGULATOR"} & set(o["roles"])]
    if not holders or not regulators or not others:
        raise SystemExit(
            f"{network_dir}/orgs.json lists no DATA_HOLDER, no DATA_REGULATOR or no other organisation"
        )
    return Participants(
        holder=Signer.from_pem(network_dir / holders[0]["key"]),
        requester=Signer.from_pem(network_dir / others[-1]["key"]),
        regulator=Signer.from_pem(network_dir / regulators[0]["key"]),
    )


def prepare_grants(client: Client, people: Participants, *, grants: int, use_limit: int) -> list[int]:
    """Set up ``grants`` granted requests, each allowing ``use_limit`` uses for an hour; returns their ids.

    Raises XinlianError when a set-up transaction is refused.
    """
    governance = Governance(client, people.regulator)
    if not governance.has_role(people.requester.address, "DATA_USER"):
        governance.grant_role(people.requester.address, "DATA_USER")
    holder = Authorisations(client, people.holder)
    requester = Authorisations(client, people.requester)
    resource = holder.register_resource(
        level=Level.GENERAL,
        share_type=ShareType.UNCONDITIONAL,
        schema_hash=sm3(b"bench schema: four fields"),
        field_ids=FIELD_IDS,
        personal=False,
    )
    now = int(time.time())
    ids: list[int] = []
    for _ in range(grants):
        request = requester.request(
            resource.resource_id,
            purpose="benchmark",
            field_ids=FIELD_IDS,
            valid_from=now - 60,
            valid_until=now + 3600,
            use_limit=use_limit,
        )
        holder.grant(request.grant_id)
        ids.append(request.grant_id)
    return ids


def sign_uses(signer: Signer, *, chain_id: int, grant_id: int, count: int, expiry_height: int) -> list[bytes]:
    """``count`` SM2-signed ``record_use`` transactions for one grant, each with its own result digest."""
    mask = compute_fields_mask(USED_FIELDS)
    return [
        Transaction.create(
            signer.private_key,
            chain_id=chain_id,
            to=DATA_AUTHORISATION_ADDRESS,
            data=_DA.encode_call("record_use", [grant_id, mask, sm3(secrets.token_bytes(32))]),
            gas_limit=USE_GAS_LIMIT,
            expiry_height=expiry_height,
        ).encode()
        for _ in range(count)
    ]


def count_uses(client: Client, grant_ids: Sequence[int]) -> int:
    """Sum of the grants' on-chain use counters."""
    total = 0
    for gid in grant_ids:
        row = _DA.decode_output(
            "grants", client.call(DATA_AUTHORISATION_ADDRESS, _DA.encode_call("grants", [gid]))
        )
        total += int(row["uses"])
    return total


def run_authorisation_workload(
    url: str,
    network_dir: Path,
    *,
    uses: int = 2000,
    clients: int = 4,
    grants: int | None = None,
    seconds: float | None = None,
) -> AuthorisationWorkloadResult:
    """Measure committed authorisation uses/s on the node at ``url`` (network keys in ``network_dir``).

    Takes: the node URL and network folder (orgs.json + keys), the number of uses, client threads, grants
    (default one per client) and an optional submission time cap. Returns: the measurements.
    Raises: XinlianError when the set-up is refused; SystemExit for a network without data roles.
    """
    result = AuthorisationWorkloadResult()
    people = load_participants(network_dir)
    grant_count = grants or clients
    per_grant = -(-uses // grant_count)
    with Client(url, timeout=30.0, signer=people.holder) as client:  # the holder reads its grants
        grant_ids = prepare_grants(client, people, grants=grant_count, use_limit=per_grant)
        result.grants = len(grant_ids)
        info = client.chain_info()
        expiry = info.height + info.expiry_window - 10
        shares = split_evenly(uses, clients)
        signers = [people.holder if k % 2 == 0 else people.requester for k in range(clients)]
        started = time.perf_counter()
        batches: list[list[bytes]] = []
        index = 0
        for k, share in enumerate(shares):
            # uses go to the grants round-robin (globally), so no grant exceeds its limit
            batch: list[bytes] = []
            for _ in range(share):
                gid = grant_ids[index % len(grant_ids)]
                index += 1
                batch += sign_uses(
                    signers[k], chain_id=info.chain_id, grant_id=gid, count=1, expiry_height=expiry
                )
            batches.append(batch)
        result.sign_per_s = uses / max(time.perf_counter() - started, 1e-9)
        before = count_uses(client, grant_ids)

        run = CommitRun(url, batches, client.chain_info().height)
        run.measure(COMMIT_WAIT_S, seconds)
        result.record(run)
        result.uses_submitted = len(run.accepted)
        result.uses_committed = count_uses(client, grant_ids) - before
        if run.committed:
            result.uses_per_s = result.uses_committed / result.seconds
    return result


def main() -> None:
    parser = demo_parser(__doc__)
    parser.add_argument("--uses", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--grants", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    result = run_authorisation_workload(
        args.url, args.network, uses=args.uses, clients=args.clients, grants=args.grants, seconds=args.seconds
    )
    if args.json:
        print(json.dumps(asdict(result), indent=2))
        return
    print(
        f"workload: DataAuthorisation.record_use, {result.grants} grant(s), {args.clients} client thread(s)"
    )
    print(f"signed {args.uses} uses at {result.sign_per_s:,.0f}/s (before the clock)")
    submitted, rate = result.uses_submitted, result.submit_per_s
    print(f"submitted {submitted} ({rate:,.0f}/s), refused {result.refused} {result.refusals}")
    print(
        f"committed {result.uses_committed} uses in {result.seconds:.2f} s over {result.blocks} blocks: "
        f"{result.uses_per_s:,.0f} uses/s"
    )
    print(f"commit latency p50 {result.latency_p50_ms:,.0f} ms, p99 {result.latency_p99_ms:,.0f} ms")


if __name__ == "__main__":
    main()
