"""Compile every contracts/*.vy with the pinned Vyper into deterministic JSON artifacts in contracts/build/.

Usage::

    python scripts/build_contracts.py            # (re)write contracts/build/<Name>.json
    python scripts/build_contracts.py --check    # exit 1 when an artifact is missing, stale or orphaned

Each artifact holds: ``abi``, ``bytecode`` (init code, 0x-hex), ``deployed_bytecode`` (runtime code, 0x-hex),
``storage_layout``, ``source_sm3`` (SM3 of the source bytes, hex), ``source_path``, ``compiler`` and
``evm_version``. Output is byte-for-byte deterministic (sorted keys, fixed indentation, trailing newline).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import vyper
from vyper.compiler.input_bundle import FilesystemInputBundle

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sdk.contracts import write_sdk_abis  # noqa: E402
from sdk.crypto import sm3  # noqa: E402

CONTRACTS_DIR = ROOT / "contracts"
BUILD_DIR = CONTRACTS_DIR / "build"
EVM_VERSION = "prague"
OUTPUT_FORMATS = ["abi", "bytecode", "bytecode_runtime", "layout"]


def get_sources(contracts_dir: Path = CONTRACTS_DIR) -> list[Path]:
    """Return the contract sources (contracts/*.vy), sorted by name."""
    return sorted(contracts_dir.glob("*.vy"))


def _plain(value: Any) -> Any:
    """Turn Vyper's layout containers (defaultdicts, custom dicts) into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def compile_contract(path: Path, contracts_dir: Path = CONTRACTS_DIR) -> dict[str, Any]:
    """Compile one source and return its artifact as a dict.

    Takes the source path; imports resolve relative to ``contracts_dir``.
    Raises whatever Vyper raises on a compile error.
    """
    source_bytes = path.read_bytes()
    out = vyper.compile_code(
        source_bytes.decode("utf-8"),
        contract_path=path.name,
        output_formats=OUTPUT_FORMATS,
        input_bundle=FilesystemInputBundle([contracts_dir]),
    )
    return {
        "contract_name": path.stem,
        "source_path": f"contracts/{path.name}",
        "source_sm3": sm3(source_bytes).hex(),
        "compiler": f"vyper {vyper.__long_version__}",
        "evm_version": EVM_VERSION,
        "abi": _plain(out["abi"]),
        "bytecode": out["bytecode"],
        "deployed_bytecode": out["bytecode_runtime"],
        "storage_layout": _plain(out["layout"]),
    }


def render_artifact(artifact: dict[str, Any]) -> str:
    """Serialise an artifact deterministically (sorted keys, indent 2, trailing newline)."""
    return json.dumps(artifact, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def get_artifact_path(source: Path, build_dir: Path = BUILD_DIR) -> Path:
    """Return where the artifact of ``source`` lives."""
    return build_dir / f"{source.stem}.json"


def main(argv: list[str] | None = None) -> int:
    """Build or check all artifacts; returns the process exit code (1 = stale in --check mode)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that artifacts are fresh")
    args = parser.parse_args(argv)

    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    sources = get_sources()
    stale: list[str] = []
    artifacts: dict[str, dict[str, Any]] = {}
    for source in sources:
        artifact = compile_contract(source)
        artifacts[source.stem] = artifact
        rendered = render_artifact(artifact)
        target = get_artifact_path(source)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == rendered:
            print(f"fresh    {target.relative_to(ROOT)}")
            continue
        if args.check:
            stale.append(str(target.relative_to(ROOT)))
            print(f"STALE    {target.relative_to(ROOT)}")
        else:
            target.write_text(rendered, encoding="utf-8")
            print(f"wrote    {target.relative_to(ROOT)}")
    expected = {get_artifact_path(s).name for s in sources}
    for orphan in sorted(p for p in BUILD_DIR.glob("*.json") if p.name not in expected):
        stale.append(str(orphan.relative_to(ROOT)))
        print(f"ORPHAN   {orphan.relative_to(ROOT)} (no contracts/{orphan.stem}.vy)")
    # The light SDK ships a copy of each ABI (sdk/abi/) so clients need neither contracts/ nor the compiler.
    if not args.check:
        for changed in write_sdk_abis(artifacts):
            print(f"wrote    {changed.relative_to(ROOT)}")
    if stale and args.check:
        print("artifacts are stale: run python scripts/build_contracts.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
