"""``finchain keys`` / ``finchain ca``: CliRunner for behaviour, a subprocess for the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finchain.cli.main import app
from finchain.crypto import CertificateError, get_suite
from finchain.crypto.ca import CertificateAuthority
from finchain.crypto.cert import MemberCertificate
from finchain.errors import FinchainError, UserInputError

runner = CliRunner()


def _ok(*args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def _fails(*args: str, input: str | None = None) -> BaseException:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code != 0
    assert isinstance(result.exception, FinchainError), result.exception
    return result.exception


@pytest.mark.parametrize("suite", ["gm", "intl"])
def test_keys_new_and_show(tmp_path: Path, suite: str) -> None:
    key_path = tmp_path / "k.pem"
    out = _ok("keys", "new", "--suite", suite, "--out", str(key_path))
    assert f"suite:      {suite}" in out
    s = get_suite(suite)
    key = s.load_private_key(key_path.read_bytes())
    assert oct(key_path.stat().st_mode & 0o777) == "0o600"
    address = s.address(key.public_key()).hex()
    assert address in out
    shown = _ok("keys", "show", str(key_path))
    assert (
        "private key" in shown and address in shown and key.public_key().to_bytes().hex() in shown
    )
    shown_pub = _ok("keys", "show", str(tmp_path / "k.pem.pub"))
    assert "public key" in shown_pub and address in shown_pub
    hex_file = tmp_path / "k.hex"
    hex_file.write_text(key.public_key().to_bytes().hex() + "\n")
    assert address in _ok("keys", "show", str(hex_file))
    # refuses to overwrite
    assert "exists" in str(_fails("keys", "new", "--suite", suite, "--out", str(key_path)))


def test_keys_new_to_stdout() -> None:
    out = _ok("keys", "new", "--suite", "intl")
    assert "-----BEGIN PRIVATE KEY-----" in out


def test_keys_password(tmp_path: Path) -> None:
    key_path = tmp_path / "enc.pem"
    _ok(
        "keys",
        "new",
        "--suite",
        "gm",
        "--out",
        str(key_path),
        "--password",
        input="s3cret\ns3cret\n",
    )
    assert b"ENCRYPTED PRIVATE KEY" in key_path.read_bytes()
    assert "private key" in _ok("keys", "show", str(key_path), input="s3cret\n")
    exc = _fails("keys", "show", str(key_path), input="wrong\n")
    assert isinstance(exc, UserInputError) and "wrong password" in str(exc)


def test_keys_user_mistakes(tmp_path: Path) -> None:
    assert "no such file" in str(_fails("keys", "show", str(tmp_path / "missing.pem")))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello")
    assert "not a PEM key" in str(_fails("keys", "show", str(garbage)))
    off_curve = tmp_path / "off.hex"
    off_curve.write_text("04" + "01" * 64)
    assert "not an SM2 or P-256 public key" in str(_fails("keys", "show", str(off_curve)))
    assert "unknown suite" in str(_fails("keys", "new", "--suite", "rsa"))


def test_ca_flow(tmp_path: Path) -> None:
    root, org = tmp_path / "root", tmp_path / "bank-a"
    _ok("ca", "init", str(root), "--org", "gba", "--suite", "gm")
    _ok("ca", "init", str(org), "--org", "bank-a", "--suite", "gm", "--parent", str(root))
    _ok("keys", "new", "--suite", "gm", "--out", str(tmp_path / "n1.pem"))
    cert_path = tmp_path / "n1.cert"
    out = _ok(
        "ca", "issue", str(org), "--org", "bank-a", "--role", "node", "--name", "n1",
        "--node-type", "observer", "--pubkey", str(tmp_path / "n1.pem.pub"),
        "--out", str(cert_path),
    )  # fmt: skip
    assert "serial 1" in out and "node/observer" in out
    cert = MemberCertificate.from_pem(cert_path.read_text())
    assert cert.issuer == "bank-a/ca" and cert.node_type == "observer"
    assert "OK: serial 1 bank-a/n1" in _ok("ca", "verify", str(org), str(cert_path))
    # too late
    exc = _fails("ca", "verify", str(org), str(cert_path), "--at", str(cert.not_after + 1))
    assert isinstance(exc, CertificateError) and exc.reason == "expired"
    # a root-only trust store does not know bank-a's CA
    exc = _fails("ca", "verify", str(root), str(cert_path))
    assert isinstance(exc, CertificateError) and exc.reason == "unknown-issuer"
    # the org CA refuses to certify another organisation
    exc = _fails(
        "ca", "issue", str(org), "--org", "bank-b", "--role", "user", "--name", "x",
        "--pubkey", str(tmp_path / "n1.pem.pub"), "--out", str(tmp_path / "x.cert"),
    )  # fmt: skip
    assert isinstance(exc, CertificateError) and exc.reason == "org-mismatch"
    x509_path = tmp_path / "n1.x509.pem"
    assert "X.509 certificate" in _ok(
        "ca", "export", str(org), str(cert_path), "--out", str(x509_path)
    )
    assert x509_path.read_text().startswith("-----BEGIN CERTIFICATE-----")
    exc = _fails("ca", "export", str(root), str(cert_path), "--out", str(x509_path))
    assert isinstance(exc, CertificateError) and exc.reason == "unknown-issuer"
    assert "revoked serial 1" in _ok("ca", "revoke", str(org), "1")
    exc = _fails("ca", "verify", str(org), str(cert_path))
    assert isinstance(exc, CertificateError) and exc.reason == "revoked"


def test_ca_user_mistakes(tmp_path: Path) -> None:
    assert "no CA" in str(_fails("ca", "verify", str(tmp_path / "none"), str(tmp_path / "c")))
    root = tmp_path / "root"
    _ok("ca", "init", str(root), "--org", "gba", "--suite", "intl")
    assert "already exists" in str(_fails("ca", "init", str(root), "--org", "gba"))
    _ok("keys", "new", "--suite", "gm", "--out", str(tmp_path / "sm2.pem"))
    exc = _fails(
        "ca", "issue", str(root), "--org", "o", "--role", "user", "--name", "u",
        "--pubkey", str(tmp_path / "sm2.pem.pub"), "--out", str(tmp_path / "u.cert"),
    )  # fmt: skip
    assert isinstance(exc, CertificateError) and exc.reason == "wrong-suite"
    exc = _fails(
        "ca", "issue", str(root), "--org", "o", "--role", "pope", "--name", "u",
        "--pubkey", str(tmp_path / "sm2.pem.pub"), "--out", str(tmp_path / "u.cert"),
    )  # fmt: skip
    assert "unknown role" in str(exc)
    assert "never issued" in str(_fails("ca", "revoke", str(root), "42"))
    bogus = tmp_path / "bogus.cert"
    bogus.write_text("not a certificate")
    assert "no FINCHAIN CERTIFICATE block" in str(_fails("ca", "verify", str(root), str(bogus)))


def test_ca_password_protected(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _ok("ca", "init", str(root), "--org", "gba", "--suite", "gm", "--password", input="pw\npw\n")
    _ok("keys", "new", "--suite", "gm", "--out", str(tmp_path / "u.pem"))
    args = [
        "ca", "issue", str(root), "--org", "o", "--role", "user", "--name", "u",
        "--pubkey", str(tmp_path / "u.pem.pub"), "--out", str(tmp_path / "u.cert"),
    ]  # fmt: skip
    _ok(*args, input="pw\n")
    assert "wrong password" in str(_fails(*args, input="nope\n"))


def test_real_cli_subprocess(tmp_path: Path) -> None:
    """The installed entry point: a full flow, then a user mistake is one line, no traceback."""
    env = {**os.environ, "FINCHAIN_KEY_PASSWORD": "pw"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "finchain.cli.main", *args],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
            env=env,
            timeout=120,
        )

    made = run("keys", "new", "--suite", "gm", "--out", "k.pem", "--password")
    assert made.returncode == 0, made.stderr
    key = get_suite("gm").load_private_key((tmp_path / "k.pem").read_bytes(), password=b"pw")
    shown = run("keys", "show", "k.pem")
    assert shown.returncode == 0 and get_suite("gm").address(key.public_key()).hex() in shown.stdout
    # a certificate revoked through the library, checked by the real CLI
    ca = CertificateAuthority.create(tmp_path / "root", org="gba", suite="gm")
    cert = ca.issue(org="bank-a", role="admin", name="ops", public_key=key.public_key())
    (tmp_path / "ops.cert").write_text(cert.to_pem())
    ca.revoke(cert.serial)
    failed = run("ca", "verify", "root", "ops.cert")
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert failed.stderr.strip().splitlines() == [
        "error: certificate 1 of bank-a/ops has been revoked"
    ]
    missing = run("keys", "show", "nope.pem")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.strip() == "error: nope.pem: no such file"
