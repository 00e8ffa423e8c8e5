"""The conventions of the `xinlian` command line (docs/cli.md), command by command, offline: exit statuses,
stderr vs stdout, --json keys, whole values when piped, text kept literal, one time convention.

Bundles come from the synthetic chain of test_verify.py; commands that ask a node are run here against a
port nothing listens on (exit 4) and against a real node in tests/integration/test_cli_node.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from test_verify import REVOKED, SyntheticChain, issue, licence_slot
from typer.testing import CliRunner

from sdk.cli import app
from sdk.cli_common import ZONE_ENV, show_time
from sdk.errors import (
    CheckFailed,
    ClientError,
    ConfigError,
    DomainError,
    ExecutionError,
    IdentifierError,
    InputError,
    OutputError,
    StatusError,
    StorageError,
    UsageError,
    XinlianError,
)
from sdk.exit_codes import MEANINGS, ExitCode, exit_code_for
from sdk.proofs.trust import trust_to_json
from tests.support import free_ports

REPO = Path(__file__).resolve().parents[3]
runner = CliRunner()
#: A node URL nothing listens on.
CLOSED = f"http://127.0.0.1:{free_ports(1)[0]}"
ZERO_HASH = "0x" + "00" * 32
DRUG_CODE = "86912340000000000001"  # well-formed 20-digit 追溯码
ISO_SHANGHAI = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?\+08:00"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A trust file, a valid and a revoked licence bundle, broken inputs and a plain file to write under."""
    c = SyntheticChain.start()
    height, id_hash = issue(c)
    c.add_block()
    base = tmp_path_factory.mktemp("cli")
    out = {name: base / name for name in ("trust.json", "bundle.json", "revoked.json", "garbage.json")}
    out["trust.json"].write_text(json.dumps(trust_to_json(c.genesis, c.blocks[0].header)))
    out["bundle.json"].write_text(c.bundle(height, 2, state_height=2).dumps())
    c.add_block(storage={licence_slot(id_hash): REVOKED})
    out["revoked.json"].write_text(c.bundle(height, 2, state_height=3).dumps())
    out["garbage.json"].write_text('{"format": "not a bundle"')
    out["key.pem"] = base / "key.pem"
    out["key.pem"].write_text("exists")
    out["file"] = base / "plain-file"  # a regular file: nothing can be written below it
    out["file"].write_text("")
    return out


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, argv, env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


# --- the exit-status table ----------------------------------------------------------------------------
def test_the_documented_table_is_the_code_table() -> None:
    """docs/cli.md prints the table sdk/exit_codes.py holds: same statuses, names and meanings."""
    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \| (.+) \|$", text, flags=re.MULTILINE)
    assert [(int(s), n, m) for s, n, m in rows] == [(int(c), c.name, MEANINGS[c]) for c in ExitCode]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (UsageError("x"), ExitCode.USAGE),
        (InputError("x"), ExitCode.INPUT),
        (ConfigError("x"), ExitCode.INPUT),
        (IdentifierError("x"), ExitCode.INPUT),
        (OutputError("x"), ExitCode.OUTPUT),
        (StatusError("x"), ExitCode.NOT_VERIFIED),
        (CheckFailed("x"), ExitCode.NOT_VERIFIED),
        (DomainError("x"), ExitCode.NOT_VERIFIED),  # refused by the SDK before anything was sent
        (ClientError("x", code="unreachable"), ExitCode.UNREACHABLE),
        (ClientError("x", code="timeout"), ExitCode.UNREACHABLE),
        (ClientError("x", code="bad_response"), ExitCode.NODE_ERROR),
        (DomainError("x", http_status=403), ExitCode.NODE_ERROR),  # the node's answer, whatever its class
        (IdentifierError("x", http_status=400), ExitCode.NODE_ERROR),
        (StorageError("x"), ExitCode.INTERNAL),
        (ExecutionError("x", code="execution_reverted"), ExitCode.NOT_VERIFIED),  # the contract refused
        (ExecutionError("x"), ExitCode.INTERNAL),  # the execution machinery failed
        (XinlianError("x"), ExitCode.INTERNAL),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, XinlianError) else str(v),
)
def test_each_typed_error_has_its_status(error: XinlianError, status: ExitCode) -> None:
    assert exit_code_for(error) is status


# --- every status, stderr vs stdout ---------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    id: str
    argv: Callable[[dict[str, Path]], list[str]]
    status: ExitCode
    says: str = ""  # expected in the stderr line
    env: dict[str, str] = field(default_factory=dict)
    parser: bool = False  # a usage error the argument parser reports itself (typer's own panel)


def _verify(bundle: str, *more: str) -> Callable[[dict[str, Path]], list[str]]:
    return lambda f: ["verify", str(f[bundle]), "--trust", str(f["trust.json"]), *more]


CASES = [
    Case("version", lambda f: ["version"], ExitCode.OK),
    Case("verify", _verify("bundle.json"), ExitCode.OK),
    Case(
        "verify revoked",
        _verify("revoked.json"),
        ExitCode.NOT_VERIFIED,
        "not verified: the licence is REVOKED",
    ),
    Case("verify nothing", lambda f: ["verify"], ExitCode.USAGE, "give a bundle FILE or URL"),
    Case("unknown option", lambda f: ["verify", "--no-such-option"], ExitCode.USAGE, parser=True),
    Case("no trust", lambda f: ["verify", str(f["bundle.json"])], ExitCode.USAGE, "no trust anchor"),
    Case(
        "bad zone",
        _verify("bundle.json"),
        ExitCode.USAGE,
        "XINLIAN_TZ='Mars/Olympus'",
        {ZONE_ENV: "Mars/Olympus"},
    ),
    Case("key exists", lambda f: ["keys", "new", "-o", str(f["key.pem"])], ExitCode.USAGE, "pass --force"),
    Case(
        "password unset",
        lambda f: [
            "keys",
            "new",
            "-o",
            str(f["file"].with_name("k2.pem")),
            "--password-env",
            "XL_TEST_UNSET",
        ],
        ExitCode.USAGE,
        "XL_TEST_UNSET is empty or unset",
    ),
    Case(
        "qr suffix",
        lambda f: ["credential", "qr", "--bundle", str(f["bundle.json"]), "--out", "c.gif"],
        ExitCode.USAGE,
        ".png or .svg",
    ),
    Case(
        "missing bundle",
        lambda f: ["verify", "no-such-bundle.json", "--trust", str(f["trust.json"])],
        ExitCode.INPUT,
        "cannot read the bundle file no-such-bundle.json: No such file or directory",
    ),
    Case("malformed bundle", _verify("garbage.json"), ExitCode.INPUT, "garbage.json cannot be read"),
    Case(
        "missing trust",
        lambda f: ["verify", str(f["bundle.json"]), "--trust", "no-such-trust.json"],
        ExitCode.INPUT,
        "cannot read the trust file no-such-trust.json",
    ),
    Case(
        "malformed trust",
        lambda f: ["verify", str(f["bundle.json"]), "--trust", str(f["bundle.json"])],
        ExitCode.INPUT,
        "not a trust file",
    ),
    Case(
        "malformed payload",
        lambda f: ["verify", "--qr-payload", "XL1:%%%", "--trust", str(f["trust.json"])],
        ExitCode.INPUT,
        "the QR payload cannot be read",
    ),
    Case(
        "bad identifier", lambda f: ["licence", "status", "1.2.3", "--url", CLOSED], ExitCode.INPUT, "1.2.156"
    ),
    Case(
        "bad id hash",
        lambda f: ["licence", "status", "0x12", "--url", CLOSED],
        ExitCode.INPUT,
        "bad_encoding",
    ),
    Case(
        "bad drug code",
        lambda f: ["drug", "check", "12345", "--url", CLOSED],
        ExitCode.INPUT,
        "invalid_identifier",
    ),
    Case(
        "missing CA",
        lambda f: ["licence", "status", ZERO_HASH, "--ca", "no-such-ca.pem"],
        ExitCode.INPUT,
        "cannot read the CA certificate no-such-ca.pem",
    ),
    Case(
        "licence unreachable",
        lambda f: ["licence", "status", ZERO_HASH, "--url", CLOSED],
        ExitCode.UNREACHABLE,
        f"cannot reach {CLOSED}",
    ),
    Case("drug unreachable", lambda f: ["drug", "check", DRUG_CODE, "--url", CLOSED], ExitCode.UNREACHABLE),
    Case(
        "verify URL unreachable",
        lambda f: ["verify", f"{CLOSED}/v1/proofs/tx/{ZERO_HASH}", "--trust", str(f["trust.json"])],
        ExitCode.UNREACHABLE,
        "(unreachable",
    ),
    Case(
        "missing CA for a URL",
        lambda f: ["verify", f"{CLOSED}/v1/proofs/tx/{ZERO_HASH}", "--ca", "no-such-ca.pem"],
        ExitCode.INPUT,
        "cannot read the CA certificate no-such-ca.pem",
    ),
    Case(
        "trust URL unreachable",
        lambda f: ["verify", str(f["bundle.json"]), "--trust", CLOSED],
        ExitCode.UNREACHABLE,
    ),
    Case(
        "key unwritable",
        lambda f: ["keys", "new", "-o", str(f["file"] / "key.pem")],
        ExitCode.OUTPUT,
        "cannot write",
    ),
    Case(
        "qr unwritable",
        lambda f: ["credential", "qr", "--bundle", str(f["bundle.json"]), "--out", str(f["file"] / "c.png")],
        ExitCode.OUTPUT,
        "cannot write",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_exit_status_and_streams(case: Case, files: dict[str, Path]) -> None:
    status, out, err = run(case.argv(files), env=case.env)
    assert status == case.status, out + err
    if status == ExitCode.OK:
        assert err == "" and out
        return
    if status >= ExitCode.USAGE:
        assert out == ""  # no result: stdout stays empty for scripts
    if case.parser:
        assert "No such option" in err
        return
    assert err.startswith("error: ") and err.count("\n") == 1, err  # one line, no traceback
    assert case.says in err


def test_every_status_but_the_node_and_internal_ones_is_covered_here() -> None:
    """NODE_ERROR needs a node's answer (tests/integration/test_cli_node.py); INTERNAL and INTERRUPTED are
    below and in typer."""
    assert {c.status for c in CASES} == set(ExitCode) - {
        ExitCode.NODE_ERROR,
        ExitCode.INTERNAL,
        ExitCode.INTERRUPTED,
    }


def _cli(argv: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m sdk.cli` as a process with stdout and stderr on pipes."""
    return subprocess.run(
        [sys.executable, "-m", "sdk.cli", *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        check=False,
    )


def test_a_bug_exits_internal_with_its_traceback_never_1(tmp_path: Path) -> None:
    # The self-test module cannot be imported: an untyped failure, as a bug would raise.
    (tmp_path / "sitecustomize.py").write_text('import sys\nsys.modules["sdk.selftest"] = None\n')
    done = _cli(["selftest"], tmp_path, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]))
    assert done.returncode == ExitCode.INTERNAL
    assert "Traceback" in done.stderr and done.stderr.splitlines()[-1].startswith("error: internal failure: ")
    assert done.stdout == ""


# --- --json ---------------------------------------------------------------------------------------------
FACT_KEYS = [
    "trust",
    "chain_id",
    "height",
    "block_hash",
    "block_time",
    "validators",
    "sealed_by",
    "handovers",
    "tx_hash",
    "tx_index",
    "sender",
    "sender_public_key",
    "contract",
    "event",
    "licence",
    "state",
    "lot",
]
JSON_CASES = [
    ("version", lambda f: ["version"], ["version"]),
    ("selftest", lambda f: ["selftest"], ["version", "passed", "checks"]),
    (
        "keys new",
        lambda f: ["keys", "new", "-o", str(f["file"].with_name("new.pem"))],
        ["public_key", "address", "path"],
    ),
    ("verify", _verify("bundle.json"), ["verified", "facts"]),
    ("verify revoked", _verify("revoked.json"), ["verified", "error", "code", "message", "detail"]),
    (
        "credential qr",
        lambda f: [
            "credential",
            "qr",
            "--bundle",
            str(f["bundle.json"]),
            "--out",
            str(f["file"].with_name("q.svg")),
        ],
        ["out", "payload_out", "qr_version", "kind", "payload_chars", "bundle_bytes", "payload"],
    ),
]


@pytest.mark.parametrize(("argv", "keys"), [c[1:] for c in JSON_CASES], ids=[c[0] for c in JSON_CASES])
def test_json_keys(
    argv: Callable[[dict[str, Path]], list[str]], keys: list[str], files: dict[str, Path]
) -> None:
    status, out, _ = run([*argv(files), "--json"])
    assert status in (ExitCode.OK, ExitCode.NOT_VERIFIED)
    assert out.count("\n") == 1
    assert list(json.loads(out)) == keys


def test_verify_json_facts_are_whole_snake_case_values(files: dict[str, Path]) -> None:
    status, out, _ = run([*_verify("bundle.json")(files), "--json"])
    assert status == ExitCode.OK
    facts = json.loads(out)["facts"]
    assert list(facts) == FACT_KEYS
    assert all(re.fullmatch(r"0x[0-9a-f]{64}", facts[k]) for k in ("block_hash", "tx_hash"))
    assert re.fullmatch(r"0x[0-9a-f]{40}", facts["sender"])
    assert re.fullmatch(ISO_SHANGHAI, facts["block_time"])
    assert facts["state"]["licence_status"] == "VALID" and facts["event"]["name"] == "LicenceIssued"
    args = facts["event"]["args"]  # unix-second arguments shown as times too
    assert args["valid_from"] == facts["licence"]["valid_from"] and args["valid_until"] is None
    licence = facts["licence"]
    assert licence["valid_until"] is None and re.fullmatch(ISO_SHANGHAI, licence["valid_from"])
    revoked = json.loads(run([*_verify("revoked.json")(files), "--json"])[1])
    assert revoked["detail"]["status"] == "REVOKED" and re.fullmatch(
        ISO_SHANGHAI, revoked["detail"]["block_time"]
    )


def test_network_init_json_then_refuses_the_same_folder(tmp_path: Path) -> None:
    done = _cli(["network", "init", "--dir", "net", "--json"], tmp_path)
    assert done.returncode == ExitCode.OK and done.stderr == ""
    assert list(json.loads(done.stdout)) == ["network_dir", "genesis", "orgs", "node_configs", "tls_ca"]
    again = _cli(["network", "init", "--dir", "net"], tmp_path)
    assert again.returncode == ExitCode.USAGE and again.stdout == ""
    assert again.stderr.startswith("error: net already holds a network")


# --- piped and terminal output --------------------------------------------------------------------------
def test_piped_output_keeps_every_hash_whole_on_one_line(files: dict[str, Path], tmp_path: Path) -> None:
    facts = json.loads(run([*_verify("bundle.json")(files), "--json"])[1])["facts"]
    done = _cli(_verify("bundle.json")(files), tmp_path, COLUMNS="30")
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    for value in (facts["block_hash"], facts["tx_hash"], facts["sender"], facts["contract"]):
        assert any(value in line for line in lines), value
    assert "…" not in done.stdout and "\x1b" not in done.stdout  # no ellipsis, no colour codes


def test_a_narrow_terminal_folds_values_but_never_cuts_them(files: dict[str, Path], tmp_path: Path) -> None:
    facts = json.loads(run([*_verify("bundle.json")(files), "--json"])[1])["facts"]
    done = _cli(_verify("bundle.json")(files), tmp_path, COLUMNS="60", TTY_COMPATIBLE="1", NO_COLOR="1")
    assert done.returncode == 0
    assert "│" in done.stdout  # rendered as a table
    plain = re.sub(r"\x1b\[[0-9;]*m|[\s│┃╭╮╰╯─┏┓┗┛━┡┩┠┨]", "", done.stdout)
    assert facts["block_hash"] in plain and facts["tx_hash"] in plain
    assert "…" not in done.stdout


def test_errors_go_to_stderr_of_the_process(tmp_path: Path) -> None:
    done = _cli(["verify", "missing.json", "--trust", "t.json"], tmp_path)
    assert done.returncode == ExitCode.INPUT and done.stdout == ""
    assert (
        done.stderr.startswith("error: cannot read the bundle file missing.json")
        and done.stderr.count("\n") == 1
    )


# --- text is literal ------------------------------------------------------------------------------------
def test_markup_in_errors_and_results_stays_literal(files: dict[str, Path], tmp_path: Path) -> None:
    status, _, err = run(["verify", "[bold]x[/bold].json", "--trust", str(files["trust.json"])])
    assert status == ExitCode.INPUT and "[bold]x[/bold].json" in err
    status, _, err = run(["verify", str(files["bundle.json"]), "--trust", "[code].json"])
    assert status == ExitCode.INPUT and "the trust file [code].json" in err
    key = tmp_path / "[red]k[/red].pem"
    status, out, _ = run(["keys", "new", "-o", str(key)])
    assert status == ExitCode.OK and f"written:    {key} (mode 600)" in out


# --- one time convention --------------------------------------------------------------------------------
def test_times_are_iso_8601_in_shanghai_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ZONE_ENV, raising=False)
    assert show_time(0) == "1970-01-01T08:00:00+08:00"
    assert show_time(1_700_000_000_250) == "2023-11-15T06:13:20.250+08:00"
    monkeypatch.setenv(ZONE_ENV, "UTC")
    assert show_time(0) == "1970-01-01T00:00:00+00:00"
    monkeypatch.setenv(ZONE_ENV, "Europe/Berlin")
    assert show_time(0) == "1970-01-01T01:00:00+01:00"


def test_verify_shows_every_time_one_way(files: dict[str, Path]) -> None:
    status, out, _ = run(_verify("bundle.json")(files))
    assert status == ExitCode.OK
    assert re.search(rf"block time\s+{ISO_SHANGHAI}$", out, flags=re.MULTILINE)
    assert re.search(rf"valid\s+{ISO_SHANGHAI} → 长期", out)
    assert "UTC" not in out and "unix" not in out
    status, _, err = run(_verify("revoked.json")(files))
    assert (
        status == ExitCode.NOT_VERIFIED and re.search(rf"block_time={ISO_SHANGHAI}", err) and "UTC" not in err
    )


def test_the_zone_data_ships_with_the_light_install(tmp_path: Path) -> None:
    """Without a system zone database (Windows, slim images) the tzdata dependency still names the zone."""
    done = subprocess.run(
        [sys.executable, "-c", "from sdk.cli_common import show_time; print(show_time(0))"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONTZPATH": str(tmp_path)},  # an empty search path
        check=False,
    )
    assert done.stdout.strip() == "1970-01-01T08:00:00+08:00", done.stderr


# --- every command --------------------------------------------------------------------------------------
#: Commands that run until stopped and print a log, not a result (docs/cli.md says so in its table).
LONG_RUNNING = {"signer serve", "node run", "devnet", "demo"}


def _leaf_commands(group: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}".strip()
        if hasattr(command, "commands"):
            yield from _leaf_commands(command, path)
        else:
            yield path, command


def test_every_command_has_json_and_is_in_the_documented_table() -> None:
    """Each command but the long-running ones takes --json, and docs/cli.md's table lists every command."""
    import typer.main

    root = typer.main.get_command(app)
    table = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    commands = dict(_leaf_commands(root))
    assert {"letters list", "calendar show", "calendar propose", "proposal vote"} <= set(commands)
    for path, command in commands.items():
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        if path not in LONG_RUNNING:
            assert "--json" in options, f"xinlian {path} has no --json"
        assert f"`xinlian {path}" in table, f"docs/cli.md does not list xinlian {path}"


def test_member_commands_take_the_member_options_in_one_order() -> None:
    """Commands declared with ``member_command`` get --key where their ``member`` stands and --password-env,
    --url, --ca and --json after their own options (before --csv): what typer reads from the rewritten
    signature, so a typer that read parameters another way would fail here, not in a user's terminal."""
    import typer.main

    commands = dict(_leaf_commands(typer.main.get_command(app)))
    member_options = ["--key", "--password-env", "--url", "--ca", "--json"]

    def options(path: str) -> list[str]:
        return [param.opts[0] for param in commands[path].params]

    assert options("proposal show") == ["proposal_id", *member_options]
    assert options("calendar show") == ["--key", "--from", "--days", *member_options[1:]]
    assert options("letters list") == ["--as", "--key", "--status", "--due", *member_options[1:], "--csv"]
    key = next(p for p in commands["proposal vote"].params if p.opts[0] == "--key")
    password_env = next(p for p in commands["proposal vote"].params if p.opts[0] == "--password-env")
    assert key.required and password_env.default == "XINLIAN_KEY_PASSWORD"
