"""Where tongsuopy is not installed (the wheel leaves it out on platforms it ships no wheel for, e.g. aarch64
Linux), the SDK falls back to the gmssl backend: bundles verify, signatures interoperate, the self-test
passes, and what needs tongsuopy (PEM keys) says so. Forced here by blocking the import of tongsuopy in a
child process; tests/e2e/test_wheel_install.py does the same on a real install without tongsuopy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_verify import SyntheticChain, issue

from sdk.proofs.trust import trust_to_json

REPO = Path(__file__).resolve().parents[3]


def run_without_tongsuo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` with the repository on the path and ``import tongsuopy`` failing."""
    site = tmp_path / "block-tongsuo"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text('import sys\nsys.modules["tongsuopy"] = None\n', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    env.pop("XINLIAN_SM2_BACKEND", None)
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )


@pytest.fixture(scope="module")
def bundle_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    chain = SyntheticChain.start()
    height, _ = issue(chain)
    chain.add_block()
    base = tmp_path_factory.mktemp("fallback")
    trust, bundle = base / "trust.json", base / "bundle.json"
    trust.write_text(json.dumps(trust_to_json(chain.genesis, chain.blocks[0].header)), encoding="utf-8")
    bundle.write_text(chain.bundle(height, 2, state_height=2).dumps(), encoding="utf-8")
    return trust, bundle


def test_the_gmssl_backend_is_the_default_and_interoperates(tmp_path: Path) -> None:
    # A signature made by Tongsuo here verifies there, and one made there verifies here.
    from sdk.crypto import PrivateKey

    key = PrivateKey.generate()
    ours = key.sign(b"m", backend="tongsuo")
    script = f"""
import json, sys
from sdk.crypto import PrivateKey, PublicKey, get_backend
from sdk.crypto.sm2 import tongsuo_available
from sdk.errors import CryptoError
assert "tongsuopy" not in [m for m in sys.modules if sys.modules[m] is not None]
key = PrivateKey.from_hex({key.to_hex()!r})
key.public_key.verify(b"m", bytes.fromhex({ours.hex()!r}))
out = {{"default": get_backend().name, "available": tongsuo_available(), "sig": key.sign(b"m").hex()}}
for call in (lambda: get_backend("tongsuo"), lambda: key.to_pem(), lambda: PublicKey.from_pem(b"x")):
    try:
        call()
    except CryptoError as exc:
        out.setdefault("errors", []).append([exc.code, exc.message])
print(json.dumps(out))
"""
    done = run_without_tongsuo(tmp_path, "-c", script)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["default"], out["available"]) == ("gmssl", False)
    key.public_key.verify(b"m", bytes.fromhex(out["sig"]), backend="tongsuo")
    assert [code for code, _ in out["errors"]] == ["backend_unavailable"] * 3
    assert all("tongsuopy is not installed" in message for _, message in out["errors"])


def test_xinlian_verify_and_selftest_work_without_tongsuopy(
    tmp_path: Path, bundle_files: tuple[Path, Path]
) -> None:
    trust, bundle = bundle_files
    done = run_without_tongsuo(tmp_path, "-m", "sdk.cli", "verify", str(bundle), "--trust", str(trust))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "VERIFIED" in done.stdout
    done = run_without_tongsuo(tmp_path, "-m", "sdk.cli", "selftest")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gmssl → verify gmssl (tongsuopy not installed)" in done.stdout


def test_a_pem_key_without_tongsuopy_is_one_clear_error(tmp_path: Path) -> None:
    done = run_without_tongsuo(tmp_path, "-m", "sdk.cli", "keys", "new", "-o", str(tmp_path / "k.pem"))
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stderr.startswith("error: SM2 PEM keys need tongsuopy")
    assert "backend_unavailable" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "k.pem").exists()
