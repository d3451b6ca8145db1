"""Published test vectors: GB/T 32905 (SM3), GB/T 32907 (SM4), GB/T 32918.5 / GM/T 0003.5 (SM2 on
the recommended curve), and RFC-style checks of the intl suite."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from finchain.crypto import DecryptionError, get_suite
from finchain.crypto.gm import (
    Sm2PrivateKey,
    Sm2PublicKey,
    sm2_z,
    sm4_decrypt_block,
    sm4_encrypt_block,
)

GM = get_suite("gm")

# -- GB/T 32905-2016 Appendix A ------------------------------------------------------------------
SM3_VECTORS = [
    (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
]


@pytest.mark.parametrize(("message", "digest"), SM3_VECTORS)
def test_sm3_gbt32905(message: bytes, digest: str) -> None:
    assert GM.hash(message).hex() == digest
    assert GM.hash(bytearray(message)).hex() == digest
    assert GM.hash_many([message[:1], message[1:]]).hex() == digest


# -- GB/T 32907-2016 Appendix A ------------------------------------------------------------------
SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")


def test_sm4_gbt32907_single_block() -> None:
    ct = sm4_encrypt_block(SM4_KEY, SM4_KEY)
    assert ct.hex() == "681edf34d206965e86b3e94f536e4246"
    assert sm4_decrypt_block(SM4_KEY, ct) == SM4_KEY


@pytest.mark.slow
def test_sm4_gbt32907_million_iterations() -> None:
    # the first step through finchain's helper, the rest through one ECB context of the same
    # primitive (a million helper calls would mostly time Python object set-up)
    block = sm4_encrypt_block(SM4_KEY, SM4_KEY)
    enc = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    for _ in range(999_999):
        block = enc.update(block)
    assert block.hex() == "595298c7c6fd271f0402f804c33d3f66"


# -- GB/T 32918.5-2017 / GM/T 0003.5-2012 Appendix A: the recommended curve ----------------------
SM2_D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
SM2_PUB = bytes.fromhex(
    "04"
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
SM2_Z = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
SM2_SIG_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
SM2_SIG_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
# Encryption example: message "encryption standard", recipient key SM2_D, k =
SM2_K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
SM2_C1 = (
    "04"
    "04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73"
    "E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0"
)
SM2_C3 = "59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766"
SM2_C2 = "21886CA989CA9C7D58087307CA93092D651EFA"


def test_sm2_key_pair_of_the_standard() -> None:
    key = GM.load_private_key(SM2_D)
    assert key.public_key().to_bytes() == SM2_PUB
    assert key.to_bytes() == SM2_D


def test_sm2_z_value() -> None:
    pub = GM.load_public_key(SM2_PUB)
    assert isinstance(pub, Sm2PublicKey)
    assert sm2_z(pub).hex().upper() == SM2_Z
    assert sm2_z(pub, b"ALICE123@YAHOO.COM") != sm2_z(pub)
    with pytest.raises(TypeError):
        sm2_z(SM2_PUB)  # type: ignore[arg-type]


def test_sm2_published_signature_verifies() -> None:
    pub = GM.load_public_key(SM2_PUB)
    sig = encode_dss_signature(SM2_SIG_R, SM2_SIG_S)
    GM.verify(pub, b"message digest", sig)
    assert not GM.is_valid(pub, b"message digest!", sig)
    assert not GM.is_valid(pub, b"message digest", encode_dss_signature(SM2_SIG_R, SM2_SIG_S + 1))
    # and the standard's key signs messages that verify (k is random here, so r, s differ)
    key = GM.load_private_key(SM2_D)
    GM.verify(pub, b"message digest", GM.sign(key, b"message digest"))


def test_sm2_published_ciphertext_decrypts() -> None:
    key = GM.load_private_key(SM2_D)
    # C1 is kG for the standard's k (its x coordinate is also the x1 behind the signature's r)
    assert GM.load_private_key(SM2_K.to_bytes(32, "big")).public_key().to_bytes().hex().upper() == (
        SM2_C1
    )
    raw = bytes.fromhex(SM2_C1 + SM2_C3 + SM2_C2)
    assert GM.pke_decrypt(key, raw) == b"encryption standard"
    tampered = bytearray(raw)
    tampered[-1] ^= 1
    with pytest.raises(DecryptionError):
        GM.pke_decrypt(key, bytes(tampered))


# -- intl -----------------------------------------------------------------------------------------
def test_intl_hash_is_sha256() -> None:
    intl = get_suite("intl")
    assert intl.hash(b"abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert intl.hash(b"x" * 1000) == hashlib.sha256(b"x" * 1000).digest()


def test_sm2_private_key_type() -> None:
    assert isinstance(GM.load_private_key(SM2_D), Sm2PrivateKey)
