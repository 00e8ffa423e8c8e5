"""scripts/bench/lot_index.py stays runnable, and what it compares is right: the indexed store holds one
``lot_codes`` row a code, the baseline (the same blocks sent to another contract) none."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lot_index_bench_indexes_every_code_of_the_indexed_store_only() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/bench/lot_index.py", "--blocks", "2", "--parts", "1", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["codes"] == 2 * 3142 == result["indexed_rows"]
    assert result["baseline_rows"] == 0
    assert result["lot_codes_bytes_per_code"] > 32  # at least the key itself
