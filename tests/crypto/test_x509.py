"""X.509 export: parsed by ``cryptography``, verified by ``openssl verify`` (when installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from finchain.crypto import CertificateError, get_suite
from finchain.crypto.ca import CertificateAuthority
from finchain.crypto.cert import MemberCertificate
from finchain.crypto.x509 import ECDSA_WITH_SHA256, SERIAL_OFFSET, SM2_WITH_SM3, to_pem

T0 = 1_780_000_000_000


def _chain(
    tmp_path: Path, suite: str
) -> tuple[CertificateAuthority, CertificateAuthority, MemberCertificate]:
    root = CertificateAuthority.create(tmp_path / "root", org="gba", suite=suite, now=T0)
    org = CertificateAuthority.create(
        tmp_path / "org", org="bank-a", suite=suite, parent=root, now=T0
    )
    key = get_suite(suite).generate_key()
    leaf = org.issue(org="bank-a", role="node", name="n1", public_key=key.public_key(), now=T0)
    return root, org, leaf


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    value = name.get_attributes_for_oid(oid)[0].value
    assert isinstance(value, str)
    return value


@pytest.mark.parametrize("suite", ["gm", "intl"])
def test_fields_parse_in_cryptography(tmp_path: Path, suite: str) -> None:
    root, org, leaf = _chain(tmp_path, suite)
    cert = x509.load_der_x509_certificate(org.export_x509(leaf))
    assert cert.version == x509.Version.v3
    assert cert.serial_number == SERIAL_OFFSET + leaf.serial
    assert cert.signature_algorithm_oid.dotted_string == (
        SM2_WITH_SM3 if suite == "gm" else ECDSA_WITH_SHA256
    )
    assert _attr(cert.subject, NameOID.ORGANIZATION_NAME) == "bank-a"
    assert _attr(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME) == "node/validator"
    assert _attr(cert.subject, NameOID.COMMON_NAME) == "n1"
    assert _attr(cert.issuer, NameOID.COMMON_NAME) == "ca"
    assert int(cert.not_valid_before_utc.timestamp()) == leaf.not_before // 1000
    assert int(cert.not_valid_after_utc.timestamp()) == leaf.not_after // 1000
    basic = cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS)
    assert basic.critical and basic.value.ca is False  # type: ignore[attr-defined]
    usage = cert.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
    assert usage.digital_signature and not usage.key_cert_sign  # type: ignore[attr-defined]
    ski = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    aki = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value
    assert ski.digest == leaf.key_id  # type: ignore[attr-defined]
    assert aki.key_identifier == org.certificate.key_id  # type: ignore[attr-defined]
    # the certified key is the member's, and the CA's signature holds over the TBS bytes
    assert leaf.load_public_key().to_der() in cert.tbs_certificate_bytes
    s = get_suite(suite)
    s.verify(org.key.public_key(), cert.tbs_certificate_bytes, cert.signature)
    ca_cert = x509.load_der_x509_certificate(root.export_x509(org.certificate))
    assert ca_cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca  # type: ignore[attr-defined]


def test_intl_chain_verifies_in_cryptography(tmp_path: Path) -> None:
    root, org, leaf = _chain(tmp_path, "intl")
    root_x = x509.load_der_x509_certificate(root.export_x509(root.certificate))
    org_x = x509.load_der_x509_certificate(root.export_x509(org.certificate))
    leaf_x = x509.load_der_x509_certificate(org.export_x509(leaf))
    root_x.verify_directly_issued_by(root_x)
    org_x.verify_directly_issued_by(root_x)
    leaf_x.verify_directly_issued_by(org_x)
    with pytest.raises(ValueError):
        leaf_x.verify_directly_issued_by(root_x)


def test_only_the_issuer_can_export(tmp_path: Path) -> None:
    root, _org, leaf = _chain(tmp_path, "gm")
    with pytest.raises(CertificateError) as exc:
        root.export_x509(leaf)
    assert exc.value.reason == "unknown-issuer"


def _openssl_has_sm2() -> bool:
    if shutil.which("openssl") is None:
        return False
    out = subprocess.run(
        ["openssl", "list", "-public-key-algorithms"], capture_output=True, text=True, check=False
    )
    return "SM2" in out.stdout


needs_openssl = pytest.mark.skipif(
    not _openssl_has_sm2(), reason="openssl 3 with SM2 not installed"
)


def _openssl_verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "verify", *args], capture_output=True, text=True, check=False, timeout=60
    )


@needs_openssl
def test_openssl_verifies_sm2_certificate(tmp_path: Path) -> None:
    root = CertificateAuthority.create(tmp_path / "root", org="gba", suite="gm")
    key = get_suite("gm").generate_key()
    leaf = root.issue(org="bank-a", role="user", name="u1", public_key=key.public_key())
    (tmp_path / "root.pem").write_text(to_pem(root.export_x509(root.certificate)))
    (tmp_path / "leaf.pem").write_text(to_pem(root.export_x509(leaf)))
    # OpenSSL 3.0 needs the GM/T 0015 default signer id spelled out (it applies it to the leaf)
    ok = _openssl_verify(
        "-vfyopt",
        "distid:1234567812345678",
        "-CAfile",
        str(tmp_path / "root.pem"),
        str(tmp_path / "leaf.pem"),
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # one flipped bit in the signature value is caught
    der = bytearray(root.export_x509(leaf))
    der[-1] ^= 1
    (tmp_path / "flipped.pem").write_text(to_pem(bytes(der)))
    flipped = _openssl_verify(
        "-vfyopt", "distid:1234567812345678", "-CAfile", str(tmp_path / "root.pem"),
        str(tmp_path / "flipped.pem"),
    )  # fmt: skip
    assert flipped.returncode != 0 and "signature failure" in flipped.stdout + flipped.stderr
    # the same certificate re-signed by a rogue CA with the same name fails
    rogue = CertificateAuthority.create(tmp_path / "rogue", org="gba", suite="gm")
    forged = rogue.issue(org="bank-a", role="user", name="u1", public_key=key.public_key())
    (tmp_path / "forged.pem").write_text(to_pem(rogue.export_x509(forged)))
    bad = _openssl_verify(
        "-vfyopt",
        "distid:1234567812345678",
        "-CAfile",
        str(tmp_path / "root.pem"),
        str(tmp_path / "forged.pem"),
    )
    assert bad.returncode != 0


@needs_openssl
def test_openssl_verifies_intl_chain(tmp_path: Path) -> None:
    root, org, leaf = _chain(tmp_path, "intl")
    (tmp_path / "root.pem").write_text(to_pem(root.export_x509(root.certificate)))
    (tmp_path / "org.pem").write_text(to_pem(root.export_x509(org.certificate)))
    (tmp_path / "leaf.pem").write_text(to_pem(org.export_x509(leaf)))
    at = str(T0 // 1000 + 3600)
    ok = _openssl_verify(
        "-attime", at, "-CAfile", str(tmp_path / "root.pem"),
        "-untrusted", str(tmp_path / "org.pem"), str(tmp_path / "leaf.pem"),
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # without the organisation CA there is no path to the root
    assert (
        _openssl_verify(
            "-attime", at, "-CAfile", str(tmp_path / "root.pem"), str(tmp_path / "leaf.pem")
        ).returncode
        != 0
    )
