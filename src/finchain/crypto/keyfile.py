"""Reading key files whose suite is not known in advance (used by the ``keys`` and ``ca`` CLIs).

A key file is a PKCS#8 private key PEM (possibly password-encrypted), a SubjectPublicKeyInfo
public key PEM, or the hex of a raw public point (``04 || x || y``). The suite is found by trying
each one: SM2 and P-256 keys carry their curve's OID, so only one suite accepts a PEM key. A raw
point is on at most one of the two curves in practice; ``gm`` is tried first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from finchain.crypto import SUITES, get_suite
from finchain.crypto.errors import InvalidKey
from finchain.crypto.suite import CryptoSuite, PrivateKey, PublicKey
from finchain.errors import UserInputError

PASSWORD_ENV = "FINCHAIN_KEY_PASSWORD"


@dataclass(frozen=True)
class KeyInfo:
    """What a key file holds."""

    suite: CryptoSuite
    public_key: PublicKey
    private_key: PrivateKey | None = None

    @property
    def address(self) -> bytes:
        return self.suite.address(self.public_key)


def is_encrypted(data: bytes) -> bool:
    """Whether ``data`` is an encrypted PKCS#8 PEM."""
    return b"ENCRYPTED PRIVATE KEY" in data


def read_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of ``path``, or a one-line :class:`UserInputError`."""
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise UserInputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise UserInputError(f"{p}: is a directory, not a key file") from None
    except OSError as exc:
        raise UserInputError(f"{p}: cannot read ({exc.strerror})") from None


def parse_key(data: bytes, *, password: bytes | None = None, origin: str = "key") -> KeyInfo:
    """Identify and load a private or public key in any supported form."""
    text = data.strip()
    if is_encrypted(text) and not password:
        raise UserInputError(f"{origin}: the key is password-protected; give its password")
    if b"PRIVATE KEY" in text:
        bad_password = False
        for name in SUITES:
            suite = get_suite(name)
            try:
                priv = suite.load_private_key(text, password=password)
            except InvalidKey as exc:
                reason = str(exc).lower()
                bad_password |= "password" in reason or "decrypt" in reason
                continue
            return KeyInfo(suite, priv.public_key(), priv)
        if bad_password:
            raise UserInputError(f"{origin}: wrong password")
        raise UserInputError(f"{origin}: not an SM2 or P-256 private key")
    blob = text
    if not text.startswith(b"-----BEGIN"):
        try:
            blob = bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise UserInputError(f"{origin}: not a PEM key or hex public key") from None
    for name in SUITES:
        suite = get_suite(name)
        try:
            pub = suite.load_public_key(blob)
        except InvalidKey:
            continue
        return KeyInfo(suite, pub)
    raise UserInputError(f"{origin}: not an SM2 or P-256 public key")


def load_key_file(path: str | os.PathLike[str], *, password: bytes | None = None) -> KeyInfo:
    """:func:`parse_key` on the contents of ``path``."""
    return parse_key(read_file(path), password=password, origin=str(path))


def password_from_env() -> bytes | None:
    value = os.environ.get(PASSWORD_ENV)
    return value.encode() if value else None


__all__ = [
    "PASSWORD_ENV",
    "KeyInfo",
    "is_encrypted",
    "load_key_file",
    "parse_key",
    "password_from_env",
    "read_file",
]
