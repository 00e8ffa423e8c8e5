"""Opt-in mutation testing of the QBFT core: named hand-written mutants, or a bounded mutmut run."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The QBFT core's modules: hand mutants name text in them, mutmut mutates them all.
CORE: tuple[str, ...] = tuple(
    f"node/consensus/{name}.py"
    for name in ("protocol", "round_state", "votes", "proposal", "round_change", "future", "core")
)
#: What a copy of the tree needs for the consensus tests (no .venv, .git, contracts or docs).
COPIED = ("node", "sdk", "tests", "pyproject.toml")
UNIT_TESTS = ("tests/unit/node/test_consensus_core.py", "tests/unit/node/test_consensus_messages.py")
SIM_TESTS = ("tests/simulation",)


@dataclass(frozen=True)
class Edit:
    path: str
    old: str
    new: str


@dataclass(frozen=True)
class Mutant:
    name: str
    what: str
    edits: tuple[Edit, ...]


def _core(old: str, new: str) -> Edit:
    """An edit of the core module holding ``old`` (none holding it: the edit is reported stale)."""
    holders = [path for path in CORE if old in (ROOT / path).read_text()]
    return Edit(holders[0] if holders else CORE[0], old, new)


#: Received ROUND-CHANGEs kept per (author, signature) instead of per author: the first half of two mutants.
_ROUND_CHANGES_PER_SIGNATURE = (
    _core(
        "        existing = self._round_changes.get(index)\n",
        "        key: Any = (index, message.signed.signature)\n"
        "        existing = self._round_changes.get(key)\n",
    ),
    _core(
        "        self._round_changes[index] = message\n        self._after_round_change",
        "        self._round_changes[key] = message\n        self._after_round_change",
    ),
)


# Each mutant is a plausible way to count messages where distinct validators must be counted. The old
# text must occur exactly once in the current source: a mutant whose text has moved is reported as stale.
HAND_MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "prepare-certificate-counts-messages",
        "PREPAREs in proposal justifications and ROUND-CHANGE certificates counted by message",
        (
            _core(
                "authors: set[bytes] = set()\n        for prepare",
                "authors: list[bytes] = []\n        for prepare",
            ),
            _core(
                "if prepare.author not in self._index_of or prepare.author in authors:",
                "if prepare.author not in self._index_of:",
            ),
            _core("authors.add(prepare.author)", "authors.append(prepare.author)"),
        ),
    ),
    Mutant(
        "live-prepares-count-messages",
        "received PREPAREs de-duplicated by (author, signature) instead of by validator",
        (
            _core(
                "        votes = by_digest.get(digest)\n        if votes is not None and index in votes:",
                "        key: Any = (index, signed.signature) if store is self._prepares else index\n"
                "        votes = by_digest.get(digest)\n        if votes is not None and key in votes:",
            ),
            _core(
                "by_digest.setdefault(digest, {})[index] = signed",
                "by_digest.setdefault(digest, {})[key] = signed",
            ),
        ),
    ),
    Mutant(
        "live-commits-count-messages",
        "received COMMITs de-duplicated by (author, signature); the certificate still names each seal once",
        (
            _core(
                "        votes = by_digest.get(digest)\n        if votes is not None and index in votes:",
                "        key: Any = (index, signed.signature) if store is self._commits else index\n"
                "        votes = by_digest.get(digest)\n        if votes is not None and key in votes:",
            ),
            _core(
                "by_digest.setdefault(digest, {})[index] = signed",
                "by_digest.setdefault(digest, {})[key] = signed",
            ),
            _core(
                "seals = tuple(Seal(i, votes[i].payload.commit_seal) for i in sorted(votes))",
                "by_index = {(i[0] if isinstance(i, tuple) else i): v for i, v in votes.items()}\n"
                "        seals = tuple(Seal(i, by_index[i].payload.commit_seal) for i in sorted(by_index))",
            ),
        ),
    ),
    Mutant(
        "justification-round-changes-count-messages",
        "ROUND-CHANGEs in a proposal justification counted by message (no repeated-author check)",
        (
            _core("senders: set[bytes] = set()", "senders: list[bytes] = []"),
            _core("            if rc.author in senders:\n", "            if False:\n"),
            _core("senders.add(rc.author)", "senders.append(rc.author)"),
        ),
    ),
    Mutant(
        "round-change-jump-counts-messages",
        "received ROUND-CHANGEs kept per (author, signature): the f+1 jump counts messages",
        (
            *_ROUND_CHANGES_PER_SIGNATURE,
            _core(
                "len(by_round[round_]) >= self.quorum",
                "len({rc.author for rc in by_round[round_]}) >= self.quorum",
            ),
        ),
    ),
    Mutant(
        "round-change-quorum-counts-messages",
        "received ROUND-CHANGEs kept per (author, signature): the proposer's quorum counts messages",
        (
            *_ROUND_CHANGES_PER_SIGNATURE,
            _core(
                "(rc.round for rc in self._round_changes.values() if rc.round > self._round), reverse=True",
                "{rc.author: rc.round for rc in self._round_changes.values() if rc.round > self._round}"
                ".values(), reverse=True",
            ),
        ),
    ),
    Mutant(
        "core-certificate-counts-seals",
        "the commit-certificate rule accepts repeated validator indices, so it counts seals",
        (
            Edit(
                "sdk/proofs/certificate.py",
                "if any(b <= a for a, b in itertools.pairwise(indexes)):",
                "if any(b < a for a, b in itertools.pairwise(indexes)):",
            ),
        ),
    ),
    Mutant(
        "sdk-certificate-allows-repeats",
        "CommitCertificate's constructor (and so its decoder) accepts repeated validator indices",
        (
            Edit(
                "sdk/types.py", "if seal.validator_index <= previous:", "if seal.validator_index < previous:"
            ),
        ),
    ),
    Mutant(
        "certificate-counts-seals-everywhere",
        "both certificate checks above at once: a certificate of one validator's re-signed seals passes",
        (
            Edit(
                "sdk/proofs/certificate.py",
                "if any(b <= a for a, b in itertools.pairwise(indexes)):",
                "if any(b < a for a, b in itertools.pairwise(indexes)):",
            ),
            Edit(
                "sdk/types.py", "if seal.validator_index <= previous:", "if seal.validator_index < previous:"
            ),
        ),
    ),
    Mutant(
        "future-buffer-unbounded-bytes",
        "the per-author and total byte budgets of the future-height buffer are never enforced",
        (
            _core(
                "if author_bytes > self.config.future_bytes_per_author:",
                "if author_bytes > self.config.future_bytes_per_author and False:",
            ),
            _core(
                "if self._future_bytes + size > self.config.future_bytes_total:",
                "if self._future_bytes + size > self.config.future_bytes_total and False:",
            ),
        ),
    ),
)


def copy_tree(into: Path) -> Path:
    """Copy what the tests need into ``into``/tree; imports there win over the editable install."""
    tree = into / "tree"
    tree.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", ".hypothesis", ".pytest_cache", "mutants")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tree / name, ignore=ignore)
        else:
            shutil.copy2(src, tree / name)
    return tree


def apply(tree: Path, mutant: Mutant) -> str | None:
    """Apply every edit of ``mutant`` in ``tree``; return why it cannot be applied, or None."""
    for edit in mutant.edits:
        path = tree / edit.path
        text = path.read_text()
        if text.count(edit.old) != 1:
            return f"stale: {edit.old[:60]!r} occurs {text.count(edit.old)} times in {edit.path}"
        path.write_text(text.replace(edit.old, edit.new))
    return None


def run_pytest(tree: Path, tests: list[str], env: dict[str, str], timeout_s: int) -> tuple[str, list[str]]:
    """Run pytest in ``tree``; return ("passed" | "failed" | "timeout" | "error", failing test ids)."""
    command = [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider", "-n", "0", *tests]
    try:
        result = subprocess.run(
            command, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return "timeout", []
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", result.stdout, flags=re.MULTILINE)
    if result.returncode == 0:
        return "passed", []
    return ("failed" if failed else "error"), failed


def hand(args: argparse.Namespace) -> int:
    tests = [
        *(UNIT_TESTS if args.suite in ("unit", "all") else ()),
        *(SIM_TESTS if args.suite != "unit" else ()),
    ]
    env = dict(os.environ)
    env["XINLIAN_SIM_SEEDS"] = str(args.sweep)
    if args.sweep == 0 and args.suite != "unit":
        # The main random sweep is opt-in (--sweep N); the quorum-padding sweep is bounded and always runs.
        tests += ["-k", "not test_seeded_run or quorum_padding"]
    chosen = [m for m in HAND_MUTANTS if not args.only or m.name in args.only]
    survivors = 0
    with tempfile.TemporaryDirectory(prefix="xinlian-mutants-") as tmp:
        baseline = copy_tree(Path(tmp) / "baseline")
        outcome, failed = run_pytest(baseline, tests, env, args.timeout)
        if outcome != "passed":
            print(f"baseline does not pass ({outcome}): {failed[:5]}")
            return 2
        for mutant in chosen:
            tree = copy_tree(Path(tmp) / mutant.name)
            started = time.monotonic()
            problem = apply(tree, mutant)
            if problem is not None:
                print(f"{mutant.name}: {problem}")
                survivors += 1
                continue
            outcome, failed = run_pytest(tree, tests, env, args.timeout)
            seconds = time.monotonic() - started
            verdict = "SURVIVED" if outcome == "passed" else f"killed ({outcome})"
            survivors += outcome == "passed"
            print(f"{mutant.name}: {verdict} in {seconds:.0f} s - {mutant.what}")
            for test in failed[: args.show]:
                print(f"    {test}")
            if len(failed) > args.show:
                print(f"    ... and {len(failed) - args.show} more")
            shutil.rmtree(tree, ignore_errors=True)
    return 1 if survivors else 0


MUTMUT_CONFIG = """[mutmut]
source_paths =
    node/
paths_to_mutate =
    {paths}
only_mutate =
    {paths}
tests_dir =
{tests}
also_copy =
    sdk/
    tests/
    pyproject.toml
pytest_add_cli_args =
    -p
    no:cacheprovider
    -n
    0
    -k
    not test_seeded_run
"""


def mutmut(args: argparse.Namespace) -> int:
    """Run mutmut over the core (and the certificate rule in it) in a copy of the tree, bounded in time."""
    workdir = (
        Path(args.workdir).resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="xinlian-mutmut-"))
    )
    tree = workdir / "tree"
    if not tree.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        tree = copy_tree(workdir)
    tests = "\n".join(f"    {t}" for t in (*UNIT_TESTS, *SIM_TESTS))
    (tree / "setup.cfg").write_text(MUTMUT_CONFIG.format(paths="\n    ".join(CORE), tests=tests))
    # pyproject's own [tool] sections stay; mutmut reads its settings from the setup.cfg written above.
    mutmut_bin = Path(sys.executable).with_name("mutmut")
    command = [str(mutmut_bin), "run", f"--max-children={args.jobs}", *args.functions]
    print(f"mutmut in {tree}: {' '.join(command)}")
    try:
        subprocess.run(command, cwd=tree, timeout=args.minutes * 60, check=False)
    except subprocess.TimeoutExpired:
        print(f"stopped after {args.minutes} minutes; results so far follow (rerun with --workdir to resume)")
    subprocess.run([str(mutmut_bin), "results", "--all", "true"], cwd=tree, check=False)
    print(f"inspect one with: cd {tree} && {mutmut_bin} show <name>")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    h = commands.add_parser("hand", help="run the named hand-written mutants against the consensus tests")
    h.add_argument("--only", nargs="*", default=[], help="mutant names (default: all)")
    h.add_argument(
        "--suite",
        choices=("unit", "sim", "all"),
        default="unit",
        help="consensus unit tests, tests/simulation (scenarios, padding sweep, --sweep seeds), or both",
    )
    h.add_argument("--sweep", type=int, default=0, help="seeds of the random simulation sweep (0: none)")
    h.add_argument("--timeout", type=int, default=1_800, help="seconds per mutant before it counts as killed")
    h.add_argument("--show", type=int, default=12, help="killing tests to list per mutant")
    h.add_argument("--list", action="store_true", help="only list the mutants")
    m = commands.add_parser("mutmut", help="run mutmut over the QBFT core modules (opt-in, slow)")
    m.add_argument(
        "functions", nargs="*", help="mutant name globs, e.g. 'node.consensus.protocol.x_validate*'"
    )
    m.add_argument("--minutes", type=int, default=30, help="wall-clock bound for the run")
    m.add_argument("--jobs", type=int, default=2, help="parallel mutant runs")
    m.add_argument("--workdir", default="", help="reuse this directory (resumes an earlier run)")
    args = parser.parse_args()
    if args.command == "hand":
        if args.list:
            for mutant in HAND_MUTANTS:
                print(f"{mutant.name}: {mutant.what}")
            return 0
        return hand(args)
    return mutmut(args)


if __name__ == "__main__":
    sys.exit(main())
