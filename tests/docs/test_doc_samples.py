"""Every code sample of the documentation runs, against a real node.

Every ```python block of every page runs: in page order, in one namespace per page, with the names the
task guides (docs/guides/, docs/zh/) list at their top (``SAMPLE_NAMES`` below). A ```bash block marked
``<!-- runnable -->`` on the line before runs in bash with ``xinlian`` (this checkout's command line) and
the same names as environment variables in upper case (``$URL``, ``$CA`` …). A block that cannot run here
(it needs an HSM, say) is marked ``<!-- not-run: why -->``; the marked set must stay small.

The node is a real one-validator network (SQLite, SM2, the EVM) served over https by uvicorn with the
network's own CA, as ``make run`` serves it.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scripts.samples import issue_sample_licence
from sdk.client import Client
from sdk.domains.drugs import Drugs, KeyScheme, Level
from sdk.domains.governance import Governance
from sdk.domains.licences import Licences
from sdk.signer import Signer
from tests.integration.node_fixtures import RunningNode, start_node, stop_node

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDE_DIRS = ("guides", "zh")
RUNNABLE = "<!-- runnable -->"
NOT_RUN = re.compile(r"<!-- not-run: (.+?) -->")
FENCE = re.compile(r"^([ \t]*)```(\w+)[^\n]*\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)
#: At most this many samples of the guides may be left unrun (each needs something a test machine lacks).
MAX_NOT_RUN = 4
#: The roles of the test network's genesis organisations whose account keys the samples read.
ROLE_KEYS = {
    "licence_authority_key": "LICENCE_AUTHORITY",
    "drug_regulator_key": "DRUG_REGULATOR",
    "audit_accreditor_key": "AUDIT_ACCREDITOR",
    "mah_key": "MAH",
    "bank_key": "BANK",
    "auditor_key": "AUDITOR",
    "data_holder_key": "DATA_HOLDER",
    "data_regulator_key": "DATA_REGULATOR",
}
#: Every name a sample may read without defining it (each guide lists the ones it uses).
SAMPLE_NAMES = frozenset(
    {
        "url",
        "ca",
        "chain_id",
        "network_dir",
        "committee_key",
        *ROLE_KEYS,
        "distributor_key",
        "pharmacy_key",
        "company_key",
        "licence_id",
        "credential_file",
        "drug_code",
    }
)


@dataclass(frozen=True)
class Sample:
    page: str
    line: int
    language: str
    code: str
    run: bool
    why_not: str = ""


def _samples_of(path: Path) -> list[Sample]:
    text = path.read_text(encoding="utf-8")
    page = path.relative_to(DOCS).as_posix()
    samples = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1].strip()
        language, code = match.group(2), textwrap.dedent(match.group(3))
        language = "python" if language in ("py", "python3") else language
        line = text.count("\n", 0, match.start()) + 2
        not_run = NOT_RUN.fullmatch(before)
        if language not in ("python", "bash"):
            continue
        if not_run:
            samples.append(Sample(page, line, language, code, run=False, why_not=not_run.group(1)))
        elif before == RUNNABLE or language == "python":
            samples.append(Sample(page, line, language, code, run=True))
    return samples


def _pages() -> dict[str, list[Sample]]:
    pages = {}
    for path in sorted(DOCS.rglob("*.md")):
        samples = _samples_of(path)
        if samples or path.relative_to(DOCS).parts[0] in GUIDE_DIRS:
            pages[path.relative_to(DOCS).as_posix()] = samples
    return pages


PAGES = _pages()
GUIDES = [p for p in PAGES if p.split("/")[0] in GUIDE_DIRS and not p.endswith("index.md")]


def test_every_guide_has_runnable_python_samples() -> None:
    assert len(GUIDES) >= 8, GUIDES
    empty = [p for p in GUIDES if not any(s.run and s.language == "python" for s in PAGES[p])]
    assert not empty, f"guides without a runnable Python sample: {empty}"


def test_few_samples_are_left_unrun() -> None:
    unrun = [f"{s.page}:{s.line} ({s.why_not})" for samples in PAGES.values() for s in samples if not s.run]
    assert len(unrun) <= MAX_NOT_RUN, unrun


def test_guides_list_the_names_they_read() -> None:
    """Each guide says which provided names its samples use, and uses no other unprovided name."""
    for page in GUIDES:
        text = (DOCS / page).read_text(encoding="utf-8")
        listed = set(re.findall(r"`(\w+)`", text.split("```", 1)[0]))
        used = set().union(*(_names_read(s) for s in PAGES[page])) & SAMPLE_NAMES
        unlisted = sorted(used - listed)
        assert not unlisted, f"{page} uses {unlisted} without listing them before its first sample"


def _names_read(sample: Sample) -> set[str]:
    """The variable names a sample reads (Python), or the upper-case environment variables (bash)."""
    if sample.language == "bash":
        return {name.lower() for name in re.findall(r"\$\{?([A-Z_]+)", sample.code)}
    tree = ast.parse(sample.code)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


@pytest.fixture(scope="module")
def names(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real node over https and the names the samples read: its URL and CA, the chain id, the genesis
    organisations' key files, and three organisations the committee registers first (a distributor and a
    pharmacy holding their drug roles, an audited company), as a consortium would before they start."""
    base = tmp_path_factory.mktemp("docs-node")
    running: RunningNode = start_node(base, tls=True)
    try:
        yield _prepare(running, base)
    finally:
        stop_node(running)


def _prepare(running: RunningNode, base: Path) -> dict[str, Any]:
    ca = str(base / "tls" / "ca.pem")
    keys = base / "keys"
    values: dict[str, Any] = {
        "url": running.url,
        "ca": ca,
        "chain_id": running.ledger.chain.chain_id,
        "network_dir": str(base),
        "committee_key": str(keys / "org-0.pem"),
    }
    orgs = json.loads((base / "orgs.json").read_text(encoding="utf-8"))
    for name, role in ROLE_KEYS.items():
        values[name] = str(base / next(o["key"] for o in orgs if role in o["roles"]))
    with Client(running.url, ca=ca) as client:
        committee = Governance(client, Signer.from_pem(values["committee_key"]))
        regulator = Governance(client, Signer.from_pem(values["drug_regulator_key"]))
        for name, org_name, role in (
            ("distributor_key", "Zhejiang Medicine Distribution", "DISTRIBUTOR"),
            ("pharmacy_key", "West Lake Pharmacy", "DISPENSER"),
            ("company_key", "Example Manufacturing Co., Ltd.", None),
        ):
            signer = Signer.generate()
            uscc = _uscc(len(values))
            committee.register_organisation(uscc, org_name)
            committee.register_account(signer.address, uscc)
            if role is not None:
                regulator.grant_role(signer.address, role)
            path = keys / f"{name}.pem"
            path.write_bytes(signer.private_key.to_pem())
            values[name] = str(path)
        # A licence the citizen's samples check (its holder's credential file beside it), and a drug pack.
        issued = issue_sample_licence(
            Licences(client, Signer.from_pem(values["licence_authority_key"])),
            next(o["uscc"] for o in orgs if "LICENCE_AUTHORITY" in o["roles"]),
        )
        values["licence_id"] = issued.identifier
        credential = base / "credential.json"
        credential.write_text(issued.credential.to_json(), encoding="utf-8")
        values["credential_file"] = str(credential)
        values["drug_code"] = _commission_one(client, values, orgs)
    assert set(values) == SAMPLE_NAMES
    return values


def _commission_one(client: Client, values: dict[str, Any], orgs: list[dict[str, Any]]) -> str:
    """The MAH's product key block bound by the regulator, one product, one unit commissioned."""
    mah_uscc = next(o["uscc"] for o in orgs if "MAH" in o["roles"])
    regulator = Drugs(client, Signer.from_pem(values["drug_regulator_key"]))
    regulator.assign_key_prefix(KeyScheme.NMPA, "869900", mah_uscc, "block for the documentation samples")
    mah = Drugs(client, Signer.from_pem(values["mah_key"]))
    mah.register_product("8699001", "Ibuprofen Tablets 0.2 g x 20", "国药准字H20000001")
    code = f"8699001{secrets.randbelow(10**13):013d}"
    mah.commission([code], "B000001", dt.date(2025, 6, 1), dt.date(2028, 5, 31), Level.UNIT)
    return code


def _uscc(serial: int) -> str:
    from node.demo_network import make_uscc

    return make_uscc("330100", 20_000_000 + serial * 1000 + secrets.randbelow(1000))


def _run_bash(sample: Sample, names: dict[str, Any], cwd: Path) -> None:
    env = {**os.environ, **{k.upper(): str(v) for k, v in names.items()}, "PYTHONPATH": str(ROOT)}
    prelude = f'xinlian() {{ {shlex.quote(sys.executable)} -c "from sdk.cli import main; main()" "$@"; }}\n'
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", prelude + sample.code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    where = f"{sample.page}:{sample.line}"
    assert done.returncode == 0, f"{where} exit {done.returncode}\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("page", sorted(p for p, samples in PAGES.items() if any(s.run for s in samples)))
def test_page_samples_run(
    page: str, names: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's samples, in order, in one namespace, in a fresh working directory."""
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__doc_sample__", **names}
    for sample in PAGES[page]:
        if not sample.run:
            continue
        if sample.language == "bash":
            _run_bash(sample, names, tmp_path)
            continue
        code = compile(sample.code, f"docs/{sample.page}:{sample.line}", "exec")
        exec(code, namespace)
