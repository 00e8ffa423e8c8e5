"""scripts/bench/sm3_evm.py stays runnable, and what it measures is right: SM3 written in EVM code gives the
SDK's digests on both engines (a known answer for every length across the one/two-block padding boundary),
runs natively on the native engine where the precompile cannot, and both engines agree on the state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sm3_in_evm_code_matches_the_sdk_on_both_engines_and_runs_natively() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/bench/sm3_evm.py", "--messages", "4", "--per-block", "2",
         "--bytes", "56", "--check-up-to", "70", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    runs = {(run["engine"], run["variant"]): run for run in result["runs"]}
    assert result["checked_up_to"] == 70 and set(runs) == {
        (engine, variant) for engine in ("pyevm", "native") for variant in ("evm", "precompile")
    }
    assert runs["native", "evm"]["ran"] == {"native": 4}  # SM3 in EVM code stays on revm
    assert runs["native", "precompile"]["ran"] == {"failed natively": 4}  # the precompile sends it to py-evm
    for variant in ("evm", "precompile"):  # both engines: the same gas and the same state
        assert runs["pyevm", variant]["gas_per_message"] == runs["native", variant]["gas_per_message"]
        assert runs["pyevm", variant]["state_root"] == runs["native", variant]["state_root"]
    assert runs["native", "evm"]["gas_per_message"] > runs["native", "precompile"]["gas_per_message"]
