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
try:
    get_backend("tongsuo")
except CryptoError as exc:
    out["tongsuo"] = exc.code
print(json.dumps(out))
"""
    done = run_without_tongsuo(tmp_path, "-c", script)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["default"], out["available"], out["tongsuo"]) == ("gmssl", False, "backend_unavailable")
    key.public_key.verify(b"m", bytes.fromhex(out["sig"]), backend="tongsuo")


def test_pem_keys_without_tongsuopy_are_the_files_tongsuopy_reads_and_writes(tmp_path: Path) -> None:
    """Both ways, plain and encrypted: a key file written without tongsuopy opens with it (and the other way
    round), and public keys the same; a wrong password is refused there as here."""
    from sdk.crypto import PrivateKey, PublicKey

    key = PrivateKey.generate()
    (tmp_path / "ours-plain.pem").write_bytes(key.to_pem())
    (tmp_path / "ours-secret.pem").write_bytes(key.to_pem(b"pa55"))
    (tmp_path / "ours-public.pem").write_bytes(key.public_key.to_pem())
    script = f"""
import json
from pathlib import Path
from sdk.crypto import PrivateKey, PublicKey
from sdk.errors import InvalidKeyError
here = Path({str(tmp_path)!r})
plain = PrivateKey.from_pem((here / "ours-plain.pem").read_bytes())
secret = PrivateKey.from_pem((here / "ours-secret.pem").read_bytes(), b"pa55")
public = PublicKey.from_pem((here / "ours-public.pem").read_bytes())
assert plain.to_hex() == secret.to_hex() == {key.to_hex()!r} and public == plain.public_key
try:
    PrivateKey.from_pem((here / "ours-secret.pem").read_bytes(), b"wrong")
    refused = None
except InvalidKeyError as exc:
    refused = exc.code
(here / "theirs-plain.pem").write_bytes(plain.to_pem())
(here / "theirs-secret.pem").write_bytes(plain.to_pem(b"s3cret"))
(here / "theirs-public.pem").write_bytes(public.to_pem())
print(json.dumps({{"refused": refused}}))
"""
    done = run_without_tongsuo(tmp_path, "-c", script)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["refused"] == "invalid_key"
    assert PrivateKey.from_pem((tmp_path / "theirs-plain.pem").read_bytes()) == key
    assert PrivateKey.from_pem((tmp_path / "theirs-secret.pem").read_bytes(), b"s3cret") == key
    assert PublicKey.from_pem((tmp_path / "theirs-public.pem").read_bytes()) == key.public_key
    # the unencrypted forms are the same bytes either way
    assert (tmp_path / "theirs-plain.pem").read_bytes() == key.to_pem()
    assert (tmp_path / "theirs-public.pem").read_bytes() == key.public_key.to_pem()


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


def test_keys_new_without_tongsuopy_writes_an_encrypted_key_tongsuopy_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sdk.crypto import PrivateKey

    out = tmp_path / "k.pem"
    monkeypatch.setenv("XL_FALLBACK_PW", "fallback-pw")
    done = run_without_tongsuo(
        tmp_path, "-m", "sdk.cli", "keys", "new", "-o", str(out), "--password-env", "XL_FALLBACK_PW", "--json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    written = json.loads(done.stdout)
    key = PrivateKey.from_pem(out.read_bytes(), b"fallback-pw")
    assert written["address"] == "0x" + key.public_key.address.hex()
    assert out.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
