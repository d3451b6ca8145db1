"""The consortium verifier over real CA certificates: members in, everyone else out."""

from __future__ import annotations

import time

import pytest

from finchain.chain.net import HandshakeError
from finchain.chain.net.identity import ConsortiumVerifier, decode_bundle, encode_bundle
from finchain.crypto import get_suite
from finchain.crypto.ca import CertificateAuthority, TrustStore


def now() -> int:
    return int(time.time() * 1000)


def test_members_accepted_outsiders_revoked_and_users_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    gm = get_suite("gm")
    root = CertificateAuthority.create(tmp_path / "root", org="consortium", suite="gm")
    bank = CertificateAuthority.create(tmp_path / "bank", org="bank", suite="gm", parent=root)
    key = gm.generate_key()
    cert = bank.issue(
        org="bank", role="node", name="bank-v0", public_key=key.public_key(), node_type="validator"
    )
    verifier = ConsortiumVerifier(TrustStore([root.certificate], [root.crl()]), suite="gm")
    ident = verifier(encode_bundle(cert, [bank.certificate]), now())
    assert (ident.name, ident.org, ident.role) == ("bank-v0", "bank", "validator")
    assert ident.public_key.to_bytes() == key.public_key().to_bytes()
    leaf, chain = decode_bundle(encode_bundle(cert, [bank.certificate]))
    assert leaf == cert and chain == [bank.certificate]

    # a certificate from a CA outside the consortium
    other = CertificateAuthority.create(tmp_path / "other", org="evil", suite="gm")
    fake = other.issue(org="evil", role="node", name="bank-v0", public_key=key.public_key())
    with pytest.raises(HandshakeError, match="not trusted"):
        verifier(encode_bundle(fake), now())
    # a user certificate is not a node
    user = bank.issue(org="bank", role="user", name="alice", public_key=key.public_key())
    with pytest.raises(HandshakeError, match="not 'node'"):
        verifier(encode_bundle(user, [bank.certificate]), now())
    # a revoked organisation CA takes its nodes with it
    root.revoke(bank.certificate.serial)
    revoked = ConsortiumVerifier(TrustStore([root.certificate], [root.crl()]), suite="gm")
    with pytest.raises(HandshakeError):
        revoked(encode_bundle(cert, [bank.certificate]), now())
    with pytest.raises(HandshakeError, match="malformed"):
        verifier(b"\x93garbage", now())
