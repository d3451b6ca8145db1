"""Certificate authority, member certificates, CRLs and the trust store: every failure mode."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.crypto import CertificateError, CryptoError, get_suite
from finchain.crypto.ca import CertificateAuthority, TrustStore, load_certificates
from finchain.crypto.cert import MemberCertificate, RevocationList

DAY = 86_400_000
T0 = 1_780_000_000_000  # a fixed "now" (ms) so tests never depend on the clock


@pytest.fixture(params=["gm", "intl"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "root", org="gba", suite=request.param, now=T0)


def _reason(exc: pytest.ExceptionInfo[CertificateError]) -> str:
    return exc.value.reason


def test_issue_and_verify(root: CertificateAuthority) -> None:
    suite = root.suite
    key = suite.generate_key()
    cert = root.issue(org="bank-a", role="user", name="alice", public_key=key.public_key(), now=T0)
    assert cert.serial == 1 and cert.suite == suite.name and cert.issuer == "gba/ca"
    assert cert.public_key == key.public_key().to_bytes()
    assert cert.not_after - cert.not_before == 365 * DAY
    assert cert.load_public_key() == key.public_key()
    assert cert.address == suite.address(key.public_key())
    store = TrustStore([root.certificate], [root.crl(now=T0)])
    store.verify(cert, T0 + 1)
    store.verify(root.certificate, T0 + 1)
    # serials increase; raw key bytes are accepted too
    cert2 = root.issue(
        org="bank-a", role="admin", name="bob", public_key=key.public_key().to_bytes(), now=T0
    )
    assert cert2.serial == 2
    store.verify(cert2, T0)


def test_encodings_round_trip(root: CertificateAuthority) -> None:
    cert = root.issue(
        org="bank-a",
        role="node",
        name="n1",
        public_key=root.suite.generate_key().public_key(),
        node_type="observer",
        now=T0,
    )
    assert cert.node_type == "observer"
    assert MemberCertificate.from_bytes(cert.to_bytes()) == cert
    pem = cert.to_pem()
    assert pem.startswith("-----BEGIN FINCHAIN CERTIFICATE-----")
    assert MemberCertificate.from_pem(pem) == cert
    assert load_certificates(pem + root.certificate.to_pem()) == [cert, root.certificate]
    crl = root.revoke(cert.serial, now=T0)
    assert RevocationList.from_pem(crl.to_pem()) == crl
    assert RevocationList.from_bytes(crl.to_bytes()) == crl


def test_node_type_rules(root: CertificateAuthority) -> None:
    pub = root.suite.generate_key().public_key()
    assert root.issue(org="o", role="node", name="n", public_key=pub, now=T0).node_type == (
        "validator"
    )
    with pytest.raises(CertificateError):
        root.issue(org="o", role="node", name="n", public_key=pub, node_type="leader")
    with pytest.raises(CertificateError):
        root.issue(org="o", role="user", name="u", public_key=pub, node_type="validator")
    with pytest.raises(CertificateError):
        root.issue(org="o", role="king", name="u", public_key=pub)
    with pytest.raises(ValueError):
        root.issue(org="o", role="user", name="u", public_key=pub, days=0)


def test_load_round_trip_and_password(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path / "c", org="gba", suite="gm", password=b"pw")
    loaded = CertificateAuthority.load(tmp_path / "c", password=b"pw")
    assert loaded.certificate == ca.certificate
    pub = get_suite("gm").generate_key().public_key()
    assert loaded.issue(org="o", role="user", name="u", public_key=pub).serial == 1
    with pytest.raises(CryptoError, match="wrong password"):
        CertificateAuthority.load(tmp_path / "c", password=b"nope")
    with pytest.raises(CryptoError, match="no CA"):
        CertificateAuthority.load(tmp_path / "missing")
    with pytest.raises(CryptoError, match="already exists"):
        CertificateAuthority.create(tmp_path / "c", org="gba", suite="gm")


def test_bad_signature(root: CertificateAuthority) -> None:
    cert = root.issue(
        org="bank-a", role="user", name="alice", public_key=root.suite.generate_key().public_key()
    )
    store = TrustStore([root.certificate])
    forged = replace(cert, role="admin")  # escalate the role, keep the signature
    with pytest.raises(CertificateError) as exc:
        store.verify(forged, cert.not_before)
    assert _reason(exc) == "bad-signature"
    other_key = root.suite.generate_key()
    swapped = replace(cert, public_key=other_key.public_key().to_bytes())
    with pytest.raises(CertificateError) as exc:
        store.verify(swapped, cert.not_before)
    assert _reason(exc) == "bad-signature"
    sig = bytearray(cert.signature)
    sig[-1] ^= 1
    assert not store.is_trusted(replace(cert, signature=bytes(sig)), cert.not_before)


def test_unknown_issuer(root: CertificateAuthority, tmp_path: Path) -> None:
    rogue = CertificateAuthority.create(tmp_path / "rogue", org="gba", suite=root.suite.name)
    cert = rogue.issue(
        org="bank-a",
        role="admin",
        name="mallory",
        public_key=root.suite.generate_key().public_key(),
    )
    store = TrustStore([root.certificate])
    with pytest.raises(CertificateError) as exc:
        store.verify(cert, cert.not_before)
    assert _reason(exc) == "unknown-issuer"
    # a rogue root with the same subject name but another key is still unknown
    with pytest.raises(CertificateError) as exc:
        store.verify(rogue.certificate, cert.not_before)
    assert _reason(exc) == "unknown-issuer"


def test_validity_window(root: CertificateAuthority) -> None:
    cert = root.issue(
        org="bank-a",
        role="user",
        name="alice",
        public_key=root.suite.generate_key().public_key(),
        days=10,
        now=T0,
    )
    store = TrustStore([root.certificate])
    store.verify(cert, T0)
    store.verify(cert, T0 + 10 * DAY)
    with pytest.raises(CertificateError) as exc:
        store.verify(cert, T0 + 10 * DAY + 1)
    assert _reason(exc) == "expired"
    with pytest.raises(CertificateError) as exc:
        store.verify(cert, T0 - 1)
    assert _reason(exc) == "not-yet-valid"
    # an expired root invalidates what it issued
    with pytest.raises(CertificateError) as exc:
        store.verify(cert, root.certificate.not_after + 1)
    assert _reason(exc) == "expired"


def test_revocation(root: CertificateAuthority) -> None:
    pub = root.suite.generate_key().public_key()
    a = root.issue(org="bank-a", role="user", name="a", public_key=pub, now=T0)
    b = root.issue(org="bank-a", role="user", name="b", public_key=pub, now=T0)
    old_crl = root.crl(now=T0)
    crl = root.revoke(a.serial, now=T0)
    assert crl.serials == {a.serial} and root.revoked == {a.serial}
    store = TrustStore([root.certificate], [crl])
    with pytest.raises(CertificateError) as exc:
        store.verify(a, T0)
    assert _reason(exc) == "revoked"
    store.verify(b, T0)
    # an older CRL does not un-revoke
    store.add_crl(old_crl)
    assert not store.is_trusted(a, T0)
    # the CRL written to disk is the current one
    assert RevocationList.from_pem((root.directory / "crl.pem").read_text()).serials == {a.serial}
    with pytest.raises(CryptoError, match="never issued"):
        root.revoke(99)
    with pytest.raises(TypeError):
        root.revoke("1")  # type: ignore[arg-type]


def test_forged_or_foreign_crl_rejected(root: CertificateAuthority, tmp_path: Path) -> None:
    crl = root.crl(now=T0)
    store = TrustStore([root.certificate])
    with pytest.raises(CertificateError) as exc:
        store.add_crl(replace(crl, serials=frozenset({7})))  # signature no longer matches
    assert _reason(exc) == "bad-signature"
    rogue = CertificateAuthority.create(tmp_path / "rogue", org="gba", suite=root.suite.name)
    with pytest.raises(CertificateError) as exc:
        store.add_crl(rogue.crl())
    assert _reason(exc) == "unknown-issuer"


def test_wrong_suite(tmp_path: Path) -> None:
    gm_root = CertificateAuthority.create(tmp_path / "gm", org="gba", suite="gm", now=T0)
    intl_root = CertificateAuthority.create(tmp_path / "intl", org="gba", suite="intl", now=T0)
    intl_cert = intl_root.issue(
        org="bank-a",
        role="user",
        name="a",
        public_key=get_suite("intl").generate_key().public_key(),
        now=T0,
    )
    store = TrustStore([gm_root.certificate])
    with pytest.raises(CertificateError) as exc:
        store.verify(intl_cert, T0)
    assert _reason(exc) == "wrong-suite"
    with pytest.raises(CertificateError) as exc:
        gm_root.issue(
            org="bank-a",
            role="user",
            name="a",
            public_key=get_suite("intl").generate_key().public_key(),
        )
    assert _reason(exc) == "wrong-suite"
    with pytest.raises(CertificateError) as exc:
        TrustStore([gm_root.certificate, intl_root.certificate])
    assert _reason(exc) == "wrong-suite"


def test_chain_root_org_member(root: CertificateAuthority, tmp_path: Path) -> None:
    s = root.suite
    org_ca = CertificateAuthority.create(
        tmp_path / "bank-a", org="bank-a", suite=s.name, parent=root, now=T0
    )
    assert org_ca.certificate.issuer == root.certificate.subject and org_ca.certificate.is_ca
    assert CertificateAuthority.load(tmp_path / "bank-a").chain == (root.certificate,)
    node = org_ca.issue(
        org="bank-a", role="node", name="n1", public_key=s.generate_key().public_key(), now=T0
    )
    store = TrustStore([root.certificate])
    # without the org CA certificate the issuer is unknown
    with pytest.raises(CertificateError) as exc:
        store.verify(node, T0)
    assert _reason(exc) == "unknown-issuer"
    store.verify(node, T0, chain=[org_ca.certificate])
    store.add_intermediate(org_ca.certificate, T0)
    store.verify(node, T0)
    # an org CA may not certify another organisation
    with pytest.raises(CertificateError) as exc:
        org_ca.issue(org="bank-b", role="user", name="x", public_key=s.generate_key().public_key())
    assert _reason(exc) == "org-mismatch"
    # ... and a hand-made cross-org certificate is refused by the store as well
    rogue = replace(node, org="bank-b", serial=77).signed_by(org_ca.key)
    with pytest.raises(CertificateError) as exc:
        store.verify(rogue, T0)
    assert _reason(exc) == "org-mismatch"
    # revoking the org CA at the root cuts off its members
    crl = root.revoke(org_ca.certificate.serial, now=T0)
    revoked_store = TrustStore([root.certificate], [crl], intermediates=[org_ca.certificate])
    with pytest.raises(CertificateError) as exc:
        revoked_store.verify(node, T0)
    assert _reason(exc) == "revoked"
    # a member certificate cannot act as a CA
    user_key = s.generate_key()
    user = root.issue(org="bank-a", role="user", name="u", public_key=user_key.public_key(), now=T0)
    fake = replace(node, issuer=user.subject, issuer_key_id=user.key_id).signed_by(user_key)
    with pytest.raises(CertificateError) as exc:
        store.verify(fake, T0, chain=[user])
    assert _reason(exc) in ("unknown-issuer", "not-a-ca")
    with pytest.raises(CertificateError) as exc:
        store.add_intermediate(user, T0)
    assert _reason(exc) == "not-a-ca"


def test_malformed_certificates(root: CertificateAuthority) -> None:
    cert = root.issue(
        org="o", role="user", name="u", public_key=root.suite.generate_key().public_key()
    )
    blob = cert.to_bytes()
    for bad in (
        b"",
        blob[:-1],
        blob + b"\x00",
        b"\x00\x00\x00\x05hello\x00\x00\x00\x00",
        blob[:4] + b"X" + blob[5:],
    ):
        with pytest.raises(CertificateError) as exc:
            MemberCertificate.from_bytes(bad)
        assert _reason(exc) == "malformed"
    with pytest.raises(TypeError):
        MemberCertificate.from_bytes("text")  # type: ignore[arg-type]
    with pytest.raises(CertificateError):
        MemberCertificate.from_pem("no armour here")
    with pytest.raises(CertificateError):
        MemberCertificate.from_pem(
            "-----BEGIN FINCHAIN CERTIFICATE-----\n!!!\n-----END FINCHAIN CERTIFICATE-----"
        )


@settings(max_examples=30, deadline=None)
@given(pos=st.integers(min_value=0, max_value=10_000), flip=st.integers(min_value=1, max_value=255))
def test_any_byte_flip_is_rejected(
    tmp_path_factory: pytest.TempPathFactory, pos: int, flip: int
) -> None:
    ca = _shared_ca(tmp_path_factory)
    cert = ca.issue(
        org="bank-a", role="user", name="u", public_key=ca.suite.generate_key().public_key(), now=T0
    )
    store = TrustStore([ca.certificate])
    blob = bytearray(cert.to_bytes())
    blob[pos % len(blob)] ^= flip
    try:
        tampered = MemberCertificate.from_bytes(bytes(blob))
    except (CertificateError, CryptoError):
        return
    assert not store.is_trusted(tampered, T0)


_CA: dict[str, CertificateAuthority] = {}


def _shared_ca(factory: pytest.TempPathFactory) -> CertificateAuthority:
    if "gm" not in _CA:
        _CA["gm"] = CertificateAuthority.create(
            factory.mktemp("ca") / "ca", org="gba", suite="gm", now=T0
        )
    return _CA["gm"]


def test_concurrent_issue_never_repeats_a_serial(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ca = CertificateAuthority.create(tmp_path / "ca", org="gba", suite="intl", now=T0)
    pub = ca.suite.generate_key().public_key()

    def issue(i: int) -> int:
        # each thread opens the CA from disk, as separate processes would
        own = CertificateAuthority.load(tmp_path / "ca")
        return own.issue(org="o", role="user", name=f"u{i}", public_key=pub, now=T0).serial

    with ThreadPoolExecutor(max_workers=6) as pool:
        serials = list(pool.map(issue, range(30)))
    assert sorted(serials) == list(range(1, 31))
