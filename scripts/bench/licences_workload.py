"""Benchmark workload: committed e-licence issuances/s (LicenceRegistry.issue) on a running node.

Set-up (not timed): the LICENCE_AUTHORITY organisation of orgs.json defines a fresh licence type and
authorises the issuing organisations (``issuers`` of them, itself included: it holds ISSUER globally in the
demo network). Timed: ``n`` issuances validated and encoded by the SDK facade (``Licences.prepare_issue``:
identifier check character, resident-ID holder code, salted holder commitment), SM2-signed, submitted over
HTTP from ``clients`` threads; a watcher sees each commit. The committed count is read back from the
registry's ``licence_count``, so only issuances the chain accepted count.

Use from scripts/bench/node.py::

    from scripts.bench.licences_workload import issue_licences, load_issuers, prepare_licence_type
    issuers = load_issuers(network_dir, count=2)
    type_code = prepare_licence_type(client, issuers)
    result = issue_licences(client, issuers, n=2000, type_code=type_code, clients=4)

or on its own against a node (e.g. `make run`, or `xinlian node run` on a network from `network init`):

    .venv/bin/python scripts/bench/licences_workload.py [--url URL] [--network var/devnet]
        [--licences 2000] [--clients 4] [--issuers 2] [--json]
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
from sdk.crypto import sm3  # noqa: E402
from sdk.domains.licences import LICENCE_GAS_LIMIT, Licences  # noqa: E402
from sdk.identifiers import compute_resident_id_check, make_licence_id  # noqa: E402
from sdk.signer import Signer  # noqa: E402
from sdk.types import Transaction  # noqa: E402

COMMIT_WAIT_S = 120.0
VALIDITY_S = 3 * 365 * 86_400
JURISDICTION = "110105"


@dataclass
class LicenceWorkloadResult(CommitFigures):
    """What one run measured (times in seconds unless the name says otherwise)."""

    submitted: int = 0
    committed: int = 0  # from the registry's licence_count
    licences_per_s: float = 0.0  # committed issuances / seconds
    prepare_per_s: float = 0.0  # SDK validation + encoding + SM2 signing, one thread
    issuers: int = 0


@dataclass(frozen=True)
class Issuer:
    """An issuing organisation's signer and USCC (the issuer code inside its identifiers)."""

    name: str
    uscc: str
    signer: Signer
    authority: bool  # holds LICENCE_AUTHORITY: defines the type and authorises the others


def load_issuers(network_dir: Path, count: int = 1) -> list[Issuer]:
    """Return the LICENCE_AUTHORITY organisation first, then ``count - 1`` other genesis organisations.

    Raises SystemExit when orgs.json lists no LICENCE_AUTHORITY or too few organisations.
    """
    orgs = json.loads((network_dir / "orgs.json").read_text(encoding="utf-8"))
    authorities = [o for o in orgs if "LICENCE_AUTHORITY" in o["roles"]]
    others = [o for o in orgs[1:] if o not in authorities]
    if not authorities or len(others) < count - 1:
        raise SystemExit(f"{network_dir}/orgs.json lists no LICENCE_AUTHORITY or too few organisations")
    chosen = authorities[:1] + others[: count - 1]
    return [
        Issuer(o["name"], o["uscc"], Signer.from_pem(network_dir / o["key"]), o in authorities)
        for o in chosen
    ]


def prepare_licence_type(client: Client, issuers: Sequence[Issuer]) -> str:
    """Define a fresh licence type as the authority (``issuers[0]``) and authorise every other issuer.

    Returns the type code. Raises XinlianError when a set-up transaction is refused.
    """
    authority = issuers[0]
    licences = Licences(client, authority.signer)
    for sequence in range(1000):
        type_code = f"{authority.uscc}{(int(time.time()) + sequence) % 1000:03d}"
        if licences.get_type(type_code) is None:
            break
    else:
        raise SystemExit("every type code of the authority is taken")
    licences.define_type(type_code, "基准测试证照")
    for issuer in issuers[1:]:
        licences.authorise_issuer(issuer.signer.address, type_code)
    return type_code


def _holder_code(serial: int) -> str:
    body = f"11010519900101{100 + serial % 900:03d}"
    return body + compute_resident_id_check(body)


def sign_issuances(
    client: Client, issuer: Issuer, *, type_code: str, count: int, expiry_height: int, serial_base: int
) -> list[bytes]:
    """``count`` SM2-signed issuances by ``issuer`` prepared by the SDK facade, encoded for the wire."""
    licences = Licences(client, issuer.signer)
    chain_id = client.chain_info(refresh=False).chain_id
    now = int(time.time())
    raws = []
    for k in range(count):
        serial = serial_base + k
        prepared = licences.prepare_issue(
            make_licence_id(type_code, issuer.uscc, f"{serial:012d}", 1),
            holder_name="基准",
            holder_code=_holder_code(serial),
            holder_code_type="111",
            document_hash=sm3(secrets.token_bytes(32)),
            valid_from=now - 60,
            valid_until=now + VALIDITY_S,
            jurisdiction=JURISDICTION,
        )
        tx = Transaction.create(
            issuer.signer.private_key,
            chain_id=chain_id,
            to=licences.address,
            data=prepared.data,
            gas_limit=LICENCE_GAS_LIMIT,
            expiry_height=expiry_height,
        )
        raws.append(tx.encode())
    return raws


def count_licences(client: Client) -> int:
    """The registry's on-chain count of issued licences (renewals included)."""
    reader = Licences(client)
    out = client.call(reader.address, reader.contract.encode_call("licence_count"))
    return int(reader.contract.decode_output("licence_count", out))


def issue_licences(
    client: Client,
    issuers: Sequence[Issuer],
    n: int,
    *,
    type_code: str,
    clients: int = 4,
    per_request: int = 1,
) -> LicenceWorkloadResult:
    """Issue ``n`` licences of ``type_code`` spread over ``issuers`` from ``clients`` submitting threads,
    ``per_request`` issuances to an HTTP request (1: POST /v1/transactions; more: the batch route).

    Takes a client of the node, issuers authorised for the type (``prepare_licence_type``), the count, the
    type and the number of threads. Returns the measured result; refusals are counted, not raised.
    """
    result = LicenceWorkloadResult(issuers=len(issuers))
    info = client.chain_info()
    expiry = info.height + info.expiry_window - 50
    shares = split_evenly(n, clients)
    serial_base = int(time.time()) * 1000
    started = time.perf_counter()
    batches = [
        sign_issuances(
            client,
            issuers[k % len(issuers)],
            type_code=type_code,
            count=share,
            expiry_height=expiry,
            serial_base=serial_base + k * (n + 1),
        )
        for k, share in enumerate(shares)
    ]
    result.prepare_per_s = n / max(time.perf_counter() - started, 1e-9)
    reader = client.reading_as(issuers[0].signer)  # the registry's counter is a member read
    before = count_licences(reader)
    run = CommitRun(client.url, batches, client.chain_info().height, per_request=per_request)
    run.measure(COMMIT_WAIT_S)
    result.record(run)
    result.submitted = len(run.accepted)
    result.committed = count_licences(reader) - before
    if run.committed:
        result.licences_per_s = result.committed / max(result.seconds, 1e-9)
    return result


def main() -> None:
    """Set up a licence type and measure committed issuances/s against ``--url``; prints a report."""
    parser = demo_parser(__doc__)
    parser.add_argument("--licences", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--per-request", type=int, default=1, help="issuances per HTTP request (default 1)")
    parser.add_argument("--issuers", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    issuers = load_issuers(args.network, args.issuers)
    with Client(args.url, timeout=30.0) as client:
        type_code = prepare_licence_type(client, issuers)
        result = issue_licences(
            client,
            issuers,
            args.licences,
            type_code=type_code,
            clients=args.clients,
            per_request=args.per_request,
        )
    if args.json:
        print(json.dumps({"type_code": type_code, **asdict(result)}, indent=2))
        return
    print(f"type {type_code}, {result.issuers} issuing organisations, {args.clients} client threads")
    print(f"prepared (SDK validation + SM2 signing): {result.prepare_per_s:,.0f} issuances/s")
    print(f"submitted {result.submitted}, refused {result.refused} {result.refusals or ''}")
    print(
        f"committed {result.committed} in {result.seconds:.2f} s: {result.licences_per_s:,.0f} licences/s "
        f"(submit {result.submit_per_s:,.0f}/s), latency p50 {result.latency_p50_ms:.0f} ms "
        f"p99 {result.latency_p99_ms:.0f} ms over {result.blocks} blocks"
    )


if __name__ == "__main__":
    main()
