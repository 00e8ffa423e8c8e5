"""End-to-end helpers: a one-validator network on disk and a snapshot of the code its node runs; the `xinlian`
command of the working tree or of an installed wheel (``Cli``, ``build_wheel``, ``make_venv``); the genesis
ceremony of four organisations in four folders (``run_ceremony``). The grant workload (``Grantor``,
``Network``, ``make_grant``) and the node process (``NodeProcess``) come from scripts/bench/, shared with the
benchmarks."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from node.demo_network import init_network, make_uscc
from node.genesis import GLOBAL_SCOPE, GOVERNANCE_ADDRESS
from scripts.bench.grants import (
    Grantor,
    Network,
    encode_grant_role,
    get_free_port,
    load_accounts,
    load_grantors,
    make_grant,
)
from scripts.bench.node_process import REPO_ROOT, NodeProcess
from sdk.client import Client
from sdk.crypto import PrivateKey
from sdk.signer import Signer
from tests import sm2_certs
from tests.sm2_certs import Issued

__all__ = [
    "CEREMONY_CHAIN_ID",
    "REPO_CLI",
    "REPO_ROOT",
    "Ceremony",
    "Cli",
    "Grantor",
    "Network",
    "NodeProcess",
    "Org",
    "Venv",
    "build_wheel",
    "commit_grant",
    "create_network",
    "get_free_port",
    "make_grant",
    "make_venv",
    "run_ceremony",
    "run_walkthrough",
    "snapshot_code",
    "start_ceremony_nodes",
    "start_demo_network",
]


def create_network(
    base: Path, *, chain_id: int = 4343, block_period_ms: int = 200, mempool_capacity: int = 50_000
) -> Network:
    """Initialise a one-validator network under ``base`` with its API on a free port."""
    port = get_free_port()
    init_network(
        base,
        validators=1,
        chain_id=chain_id,
        api_port=port,
        p2p_port=get_free_port(),
        committee_size=1,
        chain_overrides={"block_period_ms": block_period_ms},
    )
    config_path = base / "nodes" / "node-0.json"
    raw = json.loads(config_path.read_text(encoding="utf-8"))
    raw["mempool_capacity"] = mempool_capacity
    raw["log_level"] = "warning"
    config_path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    return Network(
        base=base,
        config_path=config_path,
        port=port,
        chain_id=chain_id,
        accounts=load_accounts(base),
        grantors=load_grantors(base),
    )


def start_demo_network(base: Path) -> tuple[Network, NodeProcess]:
    """Initialise under ``base`` a network set up like `make run`'s (default committee, API over https under
    its local CA) with one validator, start its node and wait until it is healthy. The caller terminates
    the returned process."""
    port = get_free_port()
    init_network(base, validators=1, api_port=port, p2p_port=get_free_port(), tls=True)
    network = Network(
        base=base,
        config_path=base / "nodes" / "node-0.json",
        port=port,
        chain_id=1001,
        accounts=(),
        grantors=(),
    )
    process = NodeProcess(network)
    process.start()
    try:
        process.wait_healthy(timeout_s=120)
    except BaseException:
        process.terminate()
        raise
    return network, process


def run_walkthrough(network: Network, script: str, cwd: Path) -> str:
    """Run the walkthrough ``scripts/<script>`` against ``network`` as the README does and return its
    output; AssertionError with the output's end when it fails."""
    command = [sys.executable, str(REPO_ROOT / "scripts" / script)]
    done = subprocess.run(
        [*command, "--url", network.url, "--network", str(network.base)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{script} failed:\n{output[-4000:]}"
    return output


def snapshot_code(dest: Path) -> Path:
    """Copy the node's code (sdk/, node/, contracts/build/) to ``dest`` and return it.

    A restarted node must run the same software as before its crash. The working tree is shared and edited
    while tests run, and genesis installs whichever contract artifacts exist at start-up, so a node run
    from the live tree may compute another genesis after a restart; a snapshot keeps every restart equal.
    """
    for package in ("sdk", "node"):
        shutil.copytree(REPO_ROOT / package, dest / package)
    shutil.copytree(REPO_ROOT / "contracts" / "build", dest / "contracts" / "build")
    return dest


# --- the `xinlian` command: of the working tree, or installed from the wheel --------------------------------
@dataclass(frozen=True)
class Cli:
    """A way to run `xinlian`: the argv that starts it, the folder it runs in and its environment.

    ``env`` None: the test's environment (read at each call, so monkeypatched variables count) with the
    working tree on PYTHONPATH. Otherwise exactly ``env``: an installed command sees no repository.
    """

    command: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] | None = None

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        base = {**os.environ, "PYTHONPATH": str(REPO_ROOT)} if self.env is None else dict(self.env)
        return {**base, "COLUMNS": "200", **(extra or {})}

    def run(
        self, *args: str | Path, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, *map(str, args)],
            cwd=self.cwd,
            env=self.environment(env),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def __call__(self, *args: str | Path, env: Mapping[str, str] | None = None, ok: bool = True) -> str:
        """Run `xinlian *args` and return stdout + stderr; AssertionError when it exits 0 and ``ok`` is
        False, or the other way round."""
        done = self.run(*args, env=env)
        output = done.stdout + done.stderr
        assert (done.returncode == 0) == ok, (
            f"xinlian {' '.join(map(str, args))} -> {done.returncode}:\n{output}"
        )
        return output


#: The working tree's `xinlian` (python -m sdk.cli).
REPO_CLI = Cli((sys.executable, "-m", "sdk.cli"), REPO_ROOT)


def build_wheel(out: Path) -> Path:
    """Build the wheel as a release does (pip's isolated PEP 517 build, with the setuptools pyproject.toml
    asks for) from a copy of the working tree's files (tracked and new, not ignored), so no build/ folder
    of the checkout leaks into it and none is left behind. Returns the wheel's path under ``out``."""
    source = out / "source"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    ).stdout
    for name in listed.decode().split("\0"):
        if name and (REPO_ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(out / "dist")]
    done = subprocess.run(command, capture_output=True, text=True, cwd=out, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = (out / "dist").glob("xinlian-*.whl")
    return built


@dataclass(frozen=True)
class Venv:
    """A virtual environment with xinlian installed from the wheel: ``cli`` runs its `xinlian` from
    ``home`` with a minimal environment (no PYTHONPATH: the repository is not importable)."""

    path: Path
    home: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {
            "PATH": f"{self.path / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            **self.extra_env,
            **(extra or {}),
        }

    def cli(self, extra: Mapping[str, str] | None = None) -> Cli:
        return Cli((str(self.path / "bin" / "xinlian"),), self.home, self.env(extra))

    def packages(self) -> list[str]:
        """The normalised names (PEP 503) of the distributions installed in the venv."""
        done = subprocess.run(
            [str(self.python), "-m", "pip", "list", "--format=json"],
            capture_output=True, text=True, check=True, env=self.env(),
        )  # fmt: skip
        return sorted(re.sub(r"[-_.]+", "-", entry["name"]).lower() for entry in json.loads(done.stdout))


def make_venv(path: Path, wheel: Path, extras: str = "") -> Venv:
    """Create a fresh venv at ``path`` (not sharing the test's site-packages) and install ``wheel`` into it
    with pip (dependencies from the index or pip's cache), e.g. ``extras="node"``."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, capture_output=True)
    home = path.parent / f"{path.name}-home"
    home.mkdir(exist_ok=True)
    venv = Venv(path, home)
    requirement = f"{wheel}[{extras}]" if extras else str(wheel)
    pip = [str(venv.python), "-m", "pip", "install", "-q", "--disable-pip-version-check", requirement]
    # pip's own configuration (index, cache) still applies: HOME stays the test's for pip only.
    done = subprocess.run(
        pip, capture_output=True, text=True, check=False, env={**os.environ, "PYTHONPATH": ""}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return venv


# --- the genesis ceremony: four organisations, four folders ---------------------------------------------
CEREMONY_CHAIN_ID = 6161
# (folder, name, roles asked for); the first organisation accredits auditors and grants one in the tests.
ORGANISATIONS = (
    ("org-a", "Audit Accreditation Office", "AUDIT_ACCREDITOR"),
    ("org-b", "Commercial Bank of Example", "BANK"),
    ("org-c", "Example Certified Public Accountants", "AUDITOR"),
    ("org-d", "Provincial Drug Administration", "DRUG_REGULATOR"),
)


@dataclass(frozen=True)
class Org:
    folder: Path
    name: str
    uscc: str
    password_env: str
    password: str
    api_port: int

    @property
    def keys(self) -> Path:
        return self.folder / "keys"

    @property
    def config(self) -> Path:
        return self.folder / "node.json"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def private_key(self, file: str) -> PrivateKey:
        return PrivateKey.from_pem((self.keys / file).read_bytes(), self.password.encode())


@dataclass(frozen=True)
class Ceremony:
    orgs: tuple[Org, ...]
    coordinator: Path  # the coordinator's folder: member files, the genesis, signatures; no private key

    @property
    def sealed(self) -> Path:
        return self.coordinator / "genesis.sealed.json"

    @property
    def passwords(self) -> dict[str, str]:
        """Each organisation's key password under its own environment variable (its node reads it)."""
        return {org.password_env: org.password for org in self.orgs}


def run_ceremony(base: Path, xinlian: Cli = REPO_CLI, *, ca: Issued | None = None) -> Ceremony:
    """Every step of docs/operations.md "four organisations on four machines", each in its own folder and
    through ``xinlian``; only public files (member files, the genesis, signatures, the sealed genesis) are
    copied between folders.

    With ``ca`` (standing in for a CA such as CFCA), the first two organisations have that CA certify their
    account keys and put the certificates in their member files; the coordinator assembles with ``--ca``, so
    the genesis records the chain of trust (docs/keys.md, "Organisation certificates on chain")."""
    coordinator = base / "coordinator"
    coordinator.mkdir(parents=True)
    orgs = []
    for i, (folder, name, role) in enumerate(ORGANISATIONS):
        org = Org(
            folder=base / folder,
            name=name,
            uscc=make_uscc("110000", 30_000_001 + i),
            password_env=f"XL_TEST_PW_{i}",
            password=f"pw-{folder}-{os.urandom(4).hex()}",
            api_port=get_free_port(),
        )
        env = {org.password_env: org.password}
        xinlian("genesis", "keys", "--dir", org.keys, "--password-env", org.password_env, env=env)
        certificate: list[str | Path] = []
        if ca is not None and i < 2:  # the CA certifies the key the organisation made on its own machine
            account_key = org.private_key("account.pem").public_key.to_bytes()
            subject = f"/O={name}/serialNumber={org.uscc}"
            issued = sm2_certs.issue(org.folder, "organisation", subject, ca, for_key=account_key)
            certificate = ["--certificate", issued.cert]
        xinlian(
            "genesis", "member", "--uscc", org.uscc, "--name", name, "--roles", role, "--keys", org.keys,
            "--p2p", f"127.0.0.1:{get_free_port()}", "--api", f"127.0.0.1:{org.api_port}",
            "--out", org.folder / "member.json", *certificate,
        )  # fmt: skip
        shutil.copy(org.folder / "member.json", coordinator / f"{folder}.json")
        orgs.append(org)
    members = [coordinator / f"{folder}.json" for folder, _, _ in ORGANISATIONS]
    out = xinlian(
        "genesis", "assemble", *members, "--chain-id", str(CEREMONY_CHAIN_ID),
        "--out", coordinator / "genesis.json",
        "--committee", orgs[0].uscc, "--committee", orgs[1].uscc, "--committee", orgs[2].uscc,
        "--param", "block_period_ms=100", "--json", *(["--ca", ca.cert] if ca is not None else []),
    )  # fmt: skip
    assembled = json.loads(out)
    assert (assembled["validators"], assembled["committee"], assembled["threshold"]) == (4, 3, 2)
    for org in orgs:  # each validator fetches the genesis, checks and signs it on its own machine
        shutil.copy(coordinator / "genesis.json", org.folder / "genesis.json")
        xinlian(
            "genesis", "sign", org.folder / "genesis.json", "--keys", org.keys,
            "--out", org.folder / "sig.json", "--password-env", org.password_env,
            env={org.password_env: org.password},
        )  # fmt: skip
        shutil.copy(org.folder / "sig.json", coordinator / f"sig-{org.folder.name}.json")
    signatures = sorted(coordinator.glob("sig-*.json"))
    xinlian(
        "genesis",
        "seal",
        coordinator / "genesis.json",
        *signatures,
        "--out",
        coordinator / "genesis.sealed.json",
    )
    for org in orgs:
        shutil.copy(coordinator / "genesis.sealed.json", org.folder / "genesis.sealed.json")
        for other in orgs:
            if other is not org:
                shutil.copy(
                    coordinator / f"{other.folder.name}.json", org.folder / f"peer-{other.folder.name}.json"
                )
        xinlian(
            "node", "init", "--keys", org.keys, "--member", org.folder / "member.json",
            "--genesis", org.folder / "genesis.sealed.json", *sorted(org.folder.glob("peer-*.json")),
            "--out", org.config, "--password-env", org.password_env,
        )  # fmt: skip
    return Ceremony(tuple(orgs), coordinator)


@contextmanager
def start_ceremony_nodes(
    ceremony: Ceremony, *, cli: Cli | None = None, timeout_s: float = 120
) -> Iterator[list[NodeProcess]]:
    """The four organisations' nodes as `xinlian node run` processes, healthy; terminated on exit.

    ``cli`` None: the working tree's code with the test's environment (which must hold the passwords);
    otherwise that installed `xinlian`, given the passwords in its environment.
    """
    processes = [
        NodeProcess(
            Network(org.folder, org.config, org.api_port, CEREMONY_CHAIN_ID, (), ()),
            log_path=org.folder / "node.log",
            cli=cli.command if cli is not None else None,
            env={**cli.environment(), **ceremony.passwords} if cli is not None else None,
        )
        for org in ceremony.orgs
    ]
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.wait_healthy(timeout_s=timeout_s)
        yield processes
    finally:
        for process in processes:
            process.terminate()


def commit_grant(ceremony: Ceremony, nodes: list[NodeProcess]) -> tuple[bytes, list[tuple[int, bytes]]]:
    """The first organisation (the accreditor) makes the second an auditor; wait until every node has
    committed it. Returns the transaction hash and each node's (height, block hash) of it."""
    accreditor, bank = ceremony.orgs[0], ceremony.orgs[1]
    signer = Signer(accreditor.private_key("account.pem"))
    target = Signer(bank.private_key("account.pem")).address
    with Client(accreditor.url, signer=signer, chain_id=CEREMONY_CHAIN_ID) as client:
        tx_hash = client.send(
            signer, GOVERNANCE_ADDRESS, encode_grant_role(target, "AUDITOR", GLOBAL_SCOPE),
            gas_limit=300_000, wait=False,
        )  # fmt: skip
    committed = []
    for org, process in zip(ceremony.orgs, nodes, strict=True):
        with Client(org.url, signer=signer, chain_id=CEREMONY_CHAIN_ID) as client:
            try:
                receipt = client.wait(tx_hash, timeout=120, check=True)
            except Exception as exc:
                raise AssertionError(f"{org.url}: {exc}\n{process.log_tail()}") from exc
        committed.append((receipt.height, receipt.block_hash))
    return tx_hash, committed
