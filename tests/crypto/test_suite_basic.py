from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.crypto import CryptoError, DecryptionError, InvalidKey, InvalidSignature, get_suite


@pytest.fixture(params=["gm", "intl"])
def suite(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return get_suite(request.param)


def test_unknown_suite() -> None:
    with pytest.raises(CryptoError, match="unknown crypto suite"):
        get_suite("rot13")


def test_sign_verify_and_reject(suite) -> None:  # type: ignore[no-untyped-def]
    key = suite.generate_key()
    sig = suite.sign(key, b"pay 100")
    suite.verify(key.public_key(), b"pay 100", sig)
    with pytest.raises(InvalidSignature):
        suite.verify(key.public_key(), b"pay 101", sig)
    with pytest.raises(InvalidSignature):
        suite.verify(key.public_key(), b"pay 100", b"garbage")


@settings(max_examples=20, deadline=None)
@given(msg=st.binary(max_size=256), flip=st.integers(min_value=0, max_value=10_000))
def test_any_tampered_signature_rejected(msg: bytes, flip: int) -> None:
    for name in ("gm", "intl"):
        suite = get_suite(name)
        key = suite.generate_key()
        sig = bytearray(suite.sign(key, msg))
        i = flip % len(sig)
        sig[i] ^= 1 + flip % 255
        assert not suite.is_valid(key.public_key(), msg, bytes(sig))


def test_key_round_trips(suite) -> None:  # type: ignore[no-untyped-def]
    key = suite.generate_key()
    pub = key.public_key()
    for blob in (pub.to_bytes(), pub.to_pem(), pub.to_der()):
        assert suite.load_public_key(blob) == pub
    for blob in (key.to_bytes(), key.to_pem(), key.to_der()):
        assert suite.load_private_key(blob).public_key() == pub
    enc = key.to_pem(password=b"pw")
    assert suite.load_private_key(enc, password=b"pw").public_key() == pub


def test_malformed_keys(suite) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidKey):
        suite.load_public_key(b"\x04" + b"\x01" * 64)
    with pytest.raises(InvalidKey):
        suite.load_public_key(b"short")
    with pytest.raises(TypeError):
        suite.load_public_key("not bytes")


def test_batch_verify_per_item(suite) -> None:  # type: ignore[no-untyped-def]
    key = suite.generate_key()
    items = []
    expected = []
    for i in range(200):
        msg = i.to_bytes(4, "big")
        sig = suite.sign(key, msg)
        ok = i % 7 != 0
        items.append((key.public_key(), msg if ok else msg + b"x", sig))
        expected.append(ok)
    assert suite.verify_batch(items) == expected


def test_aead_round_trip_and_tamper(suite) -> None:  # type: ignore[no-untyped-def]
    k = suite.new_symmetric_key()
    sealed = suite.encrypt(k, b"invoice 42", b"ad")
    assert suite.decrypt(k, sealed, b"ad") == b"invoice 42"
    with pytest.raises(DecryptionError):
        suite.decrypt(k, sealed, b"other ad")
    bad = bytearray(sealed)
    bad[-1] ^= 1
    with pytest.raises(DecryptionError):
        suite.decrypt(k, bytes(bad), b"ad")
