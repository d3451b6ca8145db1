"""Public-key encryption (SM2 per GB/T 32918.4, ECIES over P-256) and SM4-CBC."""

from __future__ import annotations

import gmssl_pyx
import pytest
from gmssl import sm2 as pure_sm2
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.crypto import DecryptionError, get_suite, sm2_cipher
from finchain.crypto.gm import (
    Sm2PrivateKey,
    sm4_cbc_decrypt,
    sm4_cbc_encrypt,
    sm4_decrypt_block,
    sm4_encrypt_block,
)

SUITES = ("gm", "intl")


@pytest.mark.parametrize("name", SUITES)
def test_round_trip_and_wrong_key(name: str) -> None:
    suite = get_suite(name)
    alice, bob = suite.generate_key(), suite.generate_key()
    ct = suite.pke_encrypt(alice.public_key(), b"document key 0123456789abcdef")
    assert suite.pke_decrypt(alice, ct) == b"document key 0123456789abcdef"
    with pytest.raises(DecryptionError):
        suite.pke_decrypt(bob, ct)
    # randomised: two encryptions of one message differ
    assert suite.pke_encrypt(alice.public_key(), b"k") != suite.pke_encrypt(
        alice.public_key(), b"k"
    )


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(SUITES),
    msg=st.binary(min_size=1, max_size=300),
    flip=st.integers(min_value=0, max_value=100_000),
)
def test_any_tampering_rejected(name: str, msg: bytes, flip: int) -> None:
    suite = get_suite(name)
    key = suite.generate_key()
    ct = bytearray(suite.pke_encrypt(key.public_key(), msg))
    assert suite.pke_decrypt(key, bytes(ct)) == msg
    i = flip % len(ct)
    ct[i] ^= 1 + flip % 255
    with pytest.raises(DecryptionError):
        suite.pke_decrypt(key, bytes(ct))
    with pytest.raises(DecryptionError):
        suite.pke_decrypt(key, bytes(ct[: len(ct) // 2]))


@pytest.mark.parametrize("name", SUITES)
def test_pke_bad_inputs(name: str) -> None:
    suite = get_suite(name)
    other = get_suite("intl" if name == "gm" else "gm")
    key = suite.generate_key()
    with pytest.raises(TypeError):
        suite.pke_encrypt(other.generate_key().public_key(), b"x")
    with pytest.raises(TypeError):
        suite.pke_decrypt(other.generate_key(), b"x")
    with pytest.raises(TypeError):
        suite.pke_encrypt(key.public_key(), "text")  # type: ignore[arg-type]
    for junk in (b"", b"\x04", b"\x30\x00", bytes(200)):
        with pytest.raises(DecryptionError):
            suite.pke_decrypt(key, junk)


def test_sm2_empty_plaintext_rejected() -> None:
    gm = get_suite("gm")
    with pytest.raises(ValueError, match="non-empty"):
        gm.pke_encrypt(gm.generate_key().public_key(), b"")


def _pure(key: Sm2PrivateKey, mode: int) -> pure_sm2.CryptSM2:
    return pure_sm2.CryptSM2(
        private_key=key.to_bytes().hex(),
        public_key=key.public_key().to_bytes()[1:].hex(),
        mode=mode,
    )


@pytest.mark.parametrize(("mode", "order"), [(1, "c1c3c2"), (0, "c1c2c3")])
def test_sm2_encryption_interop_with_pure_gmssl(mode: int, order: sm2_cipher.Order) -> None:
    gm = get_suite("gm")
    key = gm.generate_key()
    assert isinstance(key, Sm2PrivateKey)
    oracle = _pure(key, mode)
    # finchain → pure gmssl (raw form without the 04 prefix, in the library's byte order)
    ct = gm.pke_encrypt(key.public_key(), b"wrapped key for bank A")
    raw = sm2_cipher.der_to_raw(ct, order=order, prefix=False)
    assert oracle.decrypt(raw) == b"wrapped key for bank A"
    # pure gmssl → finchain
    theirs = oracle.encrypt(b"wrapped key for bank B")
    der = sm2_cipher.raw_to_der(theirs, order=order, prefix=False)
    assert gm.pke_decrypt(key, der) == b"wrapped key for bank B"
    if order == "c1c3c2":  # the GB/T 32918.4-2016 raw form is accepted directly
        assert gm.pke_decrypt(key, b"\x04" + theirs) == b"wrapped key for bank B"


def test_sm2_encryption_interop_with_gmssl_pyx() -> None:
    gm = get_suite("gm")
    key = gm.generate_key()
    raw_pub = key.public_key().to_bytes()[1:]
    ct = gm.pke_encrypt(key.public_key(), b"to GmSSL")
    assert gmssl_pyx.sm2_decrypt(key.to_bytes(), ct) == b"to GmSSL"
    theirs = gmssl_pyx.sm2_encrypt(raw_pub, b"from GmSSL")
    assert gm.pke_decrypt(key, theirs) == b"from GmSSL"


@settings(max_examples=50, deadline=None)
@given(
    x=st.integers(0, 2**256 - 1),
    y=st.integers(0, 2**256 - 1),
    c3=st.binary(min_size=32, max_size=32),
    c2=st.binary(min_size=1, max_size=300),
)
def test_sm2_cipher_encodings_round_trip(x: int, y: int, c3: bytes, c2: bytes) -> None:
    der = sm2_cipher.encode_der(x, y, c3, c2)
    assert sm2_cipher.decode_der(der) == (x, y, c3, c2)
    for order in ("c1c3c2", "c1c2c3"):
        for prefix in (True, False):
            raw = sm2_cipher.der_to_raw(der, order=order, prefix=prefix)  # type: ignore[arg-type]
            assert sm2_cipher.raw_to_der(raw, order=order, prefix=prefix) == der  # type: ignore[arg-type]


def test_sm2_cipher_malformed() -> None:
    der = sm2_cipher.encode_der(5, 7, bytes(32), b"abc")
    for bad in (
        der[:-1],
        der + b"\x00",
        b"\x31" + der[1:],
        der.replace(bytes(32), bytes(31) + b"\x01", 1)[:-1],
    ):
        with pytest.raises(ValueError):
            sm2_cipher.decode_der(bad)
    with pytest.raises(ValueError):
        sm2_cipher.raw_to_der(b"\x05" + bytes(100))
    with pytest.raises(ValueError):
        sm2_cipher.raw_to_der(b"\x04" + bytes(96))


def test_sm4_cbc() -> None:
    key, iv = bytes(range(16)), bytes(16)
    for n in (0, 1, 15, 16, 17, 100):
        msg = bytes(range(n))
        ct = sm4_cbc_encrypt(key, iv, msg)
        assert len(ct) == (n // 16 + 1) * 16
        assert sm4_cbc_decrypt(key, iv, ct) == msg
        # interop with GmSSL's SM4-CBC (PKCS#7) both ways
        assert gmssl_pyx.sm4_cbc_padding_decrypt(key, iv, ct) == msg
        if msg:  # GmSSL refuses to encrypt an empty message
            theirs = gmssl_pyx.sm4_cbc_padding_encrypt(key, iv, msg)
            assert sm4_cbc_decrypt(key, iv, theirs) == msg
    with pytest.raises(DecryptionError):
        sm4_cbc_decrypt(key, iv, b"\x00" * 15)
    with pytest.raises(DecryptionError):
        sm4_cbc_decrypt(bytes(16), iv, sm4_cbc_encrypt(key, iv, b"x" * 16))
    with pytest.raises(ValueError):
        sm4_cbc_encrypt(bytes(15), iv, b"x")
    with pytest.raises(ValueError):
        sm4_cbc_encrypt(key, bytes(8), b"x")
    with pytest.raises(TypeError):
        sm4_cbc_encrypt(key, iv, "x")  # type: ignore[arg-type]


def test_sm4_block_round_trip() -> None:
    key = bytes(range(16))
    block = bytes(range(16, 32))
    assert sm4_decrypt_block(key, sm4_encrypt_block(key, block)) == block
    with pytest.raises(ValueError):
        sm4_encrypt_block(key, b"short")
