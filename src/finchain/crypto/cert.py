"""Consortium member certificates and revocation lists: canonical signed records.

Why not X.509: no library finchain can install offers SM2 X.509 through a public Python API.
``cryptography`` has no SM2 curve; ``tongsuopy`` 1.0.1 has no X.509 module (only a partial set of
``X509_*`` calls in its private cffi binding, without ``X509_verify``); ``gmssl-pyx`` has no
certificates at all. So a member's
key is certified by a **signed member record** — one fixed field order, length-prefixed, signed
with the issuing CA's key under the suite's signature (SM2 with the standard signer id for
``gm``, ECDSA-P256/SHA-256 for ``intl``). The same record works for both suites. For outside
tools a CA can additionally export an X.509 v3 rendering (:mod:`finchain.crypto.x509`).

Record layout (:meth:`MemberCertificate.tbs_bytes`)::

    "finchain-cert-v1\\0"
    u32 len || field   for each of: serial (u64be), org, role, name, node_type, suite,
                       public_key (65-byte raw point), issuer, issuer_key_id (20 bytes),
                       not_before (u64be ms), not_after (u64be ms)

``to_bytes()`` appends ``u32 len || signature``; ``to_pem()`` armours it in base64 between
``-----BEGIN FINCHAIN CERTIFICATE-----`` lines.

Roles: ``"ca"`` (may issue: the consortium root and per-organisation CAs), ``"org"``,
``"node"``, ``"user"``, ``"admin"``. A node carries its type in the separate ``node_type`` field
(``"validator"`` or ``"observer"``); every other role has ``node_type == ""``.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from finchain.crypto import get_suite
from finchain.crypto.errors import CertificateError, InvalidKey
from finchain.crypto.suite import ADDRESS_LEN, CryptoSuite, PrivateKey, PublicKey

ROLES = ("ca", "org", "node", "user", "admin")
NODE_TYPES = ("validator", "observer")
CERT_TAG = b"finchain-cert-v1\x00"
CRL_TAG = b"finchain-crl-v1\x00"
CERT_PEM = "FINCHAIN CERTIFICATE"
CRL_PEM = "FINCHAIN CRL"
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_MAX_FIELD = 1 << 16


def _pack(parts: Iterable[bytes]) -> bytes:
    return b"".join(_U32.pack(len(p)) + p for p in parts)


def _unpack(data: bytes, count: int, what: str) -> list[bytes]:
    out: list[bytes] = []
    pos = 0
    for _ in range(count):
        if pos + 4 > len(data):
            raise CertificateError("malformed", f"{what}: truncated")
        (n,) = _U32.unpack_from(data, pos)
        pos += 4
        if n > _MAX_FIELD or pos + n > len(data):
            raise CertificateError("malformed", f"{what}: field length {n} out of range")
        out.append(data[pos : pos + n])
        pos += n
    if pos != len(data):
        raise CertificateError("malformed", f"{what}: {len(data) - pos} trailing bytes")
    return out


def _u64(value: int) -> bytes:
    return _U64.pack(value)


def _get_u64(raw: bytes, what: str) -> int:
    if len(raw) != 8:
        raise CertificateError("malformed", f"{what} must be 8 bytes")
    return int(_U64.unpack(raw)[0])


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CertificateError("malformed", f"{what} is not UTF-8") from None


def armor(label: str, data: bytes) -> str:
    """PEM-style armour: base64 in 64-character lines between BEGIN/END ``label`` lines."""
    b64 = base64.b64encode(data).decode("ascii")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])


def dearmor(label: str, text: str | bytes) -> bytes:
    """Inverse of :func:`armor`; :class:`CertificateError` when the block is missing/corrupt."""
    if isinstance(text, bytes):
        text = text.decode("ascii", errors="replace")
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    start = text.find(begin)
    stop = text.find(end, start + len(begin))
    if start < 0 or stop < 0:
        raise CertificateError("malformed", f"no {label} block found")
    body = "".join(text[start + len(begin) : stop].split())
    try:
        return base64.b64decode(body, validate=True)
    except ValueError:
        raise CertificateError("malformed", f"{label} block is not valid base64") from None


def key_id(suite: CryptoSuite, public_key: PublicKey) -> bytes:
    """The 20-byte identifier of a CA key: its address under ``suite``."""
    return suite.address(public_key)


@dataclass(frozen=True, slots=True)
class MemberCertificate:
    """A consortium member's certified key (see the module docstring for the format).

    ``issuer`` is the issuing CA's subject (``"org/name"``), ``issuer_key_id`` the address of its
    key; a root CA's certificate is self-issued (``issuer == subject``).
    """

    serial: int
    org: str
    role: str
    name: str
    suite: str
    public_key: bytes
    issuer: str
    issuer_key_id: bytes
    not_before: int
    not_after: int
    node_type: str = ""
    signature: bytes = field(default=b"", repr=False)

    # -- identity ---------------------------------------------------------------------------
    @property
    def subject(self) -> str:
        """``"org/name"`` — how other certificates name this one as their issuer."""
        return f"{self.org}/{self.name}"

    @property
    def is_ca(self) -> bool:
        return self.role == "ca"

    @property
    def is_self_issued(self) -> bool:
        return self.issuer == self.subject and self.issuer_key_id == self.key_id

    def get_suite(self) -> CryptoSuite:
        return get_suite(self.suite)

    def load_public_key(self) -> PublicKey:
        """The certified key as a suite key object."""
        try:
            return self.get_suite().load_public_key(self.public_key)
        except InvalidKey as exc:
            raise CertificateError("malformed", f"certificate {self.serial}: {exc}") from None

    @property
    def key_id(self) -> bytes:
        """Address of the certified key (what certificates it issues carry as issuer_key_id)."""
        return key_id(self.get_suite(), self.load_public_key())

    @property
    def address(self) -> bytes:
        """Account address of the certified key (same as :attr:`key_id`)."""
        return self.key_id

    def fingerprint(self) -> bytes:
        """Suite hash of the full encoding."""
        return self.get_suite().hash(self.to_bytes())

    # -- encoding ---------------------------------------------------------------------------
    def _check_fields(self) -> None:
        if not isinstance(self.serial, int) or not 0 <= self.serial < 2**64:
            raise CertificateError("malformed", f"serial {self.serial!r} out of range")
        if self.role not in ROLES:
            raise CertificateError("malformed", f"unknown role {self.role!r}")
        if self.role == "node":
            if self.node_type not in NODE_TYPES:
                raise CertificateError("malformed", f"node_type must be one of {NODE_TYPES}")
        elif self.node_type:
            raise CertificateError("malformed", f"role {self.role!r} takes no node_type")
        for what in ("org", "name", "issuer"):
            value = getattr(self, what)
            if not isinstance(value, str) or not value or ("/" in value and what != "issuer"):
                raise CertificateError("malformed", f"{what} must be a non-empty name without '/'")
        if len(self.issuer_key_id) != ADDRESS_LEN:
            raise CertificateError("malformed", f"issuer_key_id must be {ADDRESS_LEN} bytes")
        for what in ("not_before", "not_after"):
            value = getattr(self, what)
            if not isinstance(value, int) or not 0 <= value < 2**63:
                raise CertificateError("malformed", f"{what} out of range")
        if self.not_after < self.not_before:
            raise CertificateError("malformed", "not_after precedes not_before")

    def tbs_bytes(self) -> bytes:
        """The signed part: tag followed by every field except the signature."""
        self._check_fields()
        return CERT_TAG + _pack(
            [
                _u64(self.serial),
                self.org.encode(),
                self.role.encode(),
                self.name.encode(),
                self.node_type.encode(),
                self.suite.encode(),
                bytes(self.public_key),
                self.issuer.encode(),
                bytes(self.issuer_key_id),
                _u64(self.not_before),
                _u64(self.not_after),
            ]
        )

    def to_bytes(self) -> bytes:
        tbs = self.tbs_bytes()
        return _U32.pack(len(tbs)) + tbs + _U32.pack(len(self.signature)) + self.signature

    @classmethod
    def from_bytes(cls, data: bytes) -> MemberCertificate:
        """Parse :meth:`to_bytes`; :class:`CertificateError` (reason ``malformed``) if invalid."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"certificate must be bytes, not {type(data).__name__}")
        tbs, sig = _unpack(bytes(data), 2, "certificate")
        if not tbs.startswith(CERT_TAG):
            raise CertificateError("malformed", "not a finchain certificate")
        f = _unpack(tbs[len(CERT_TAG) :], 11, "certificate")
        cert = cls(
            serial=_get_u64(f[0], "serial"),
            org=_text(f[1], "org"),
            role=_text(f[2], "role"),
            name=_text(f[3], "name"),
            node_type=_text(f[4], "node_type"),
            suite=_text(f[5], "suite"),
            public_key=f[6],
            issuer=_text(f[7], "issuer"),
            issuer_key_id=f[8],
            not_before=_get_u64(f[9], "not_before"),
            not_after=_get_u64(f[10], "not_after"),
            signature=sig,
        )
        if cert.tbs_bytes() != tbs:  # canonical: one encoding per certificate
            raise CertificateError("malformed", "non-canonical certificate encoding")
        return cert

    def to_pem(self) -> str:
        return armor(CERT_PEM, self.to_bytes())

    @classmethod
    def from_pem(cls, text: str | bytes) -> MemberCertificate:
        return cls.from_bytes(dearmor(CERT_PEM, text))

    # -- signing ----------------------------------------------------------------------------
    def signed_by(self, issuer_key: PrivateKey) -> MemberCertificate:
        """A copy carrying ``issuer_key``'s signature over :meth:`tbs_bytes`."""
        sig = self.get_suite().sign(issuer_key, self.tbs_bytes())
        return replace(self, signature=sig)

    def signature_valid(self, issuer_public_key: PublicKey) -> bool:
        """Whether the signature verifies under ``issuer_public_key`` (no other checks)."""
        try:
            tbs = self.tbs_bytes()
        except CertificateError:
            return False
        return self.get_suite().is_valid(issuer_public_key, tbs, self.signature)


@dataclass(frozen=True, slots=True)
class RevocationList:
    """The serials a CA has revoked, signed by that CA; ``number`` grows with each issue."""

    issuer: str
    issuer_key_id: bytes
    suite: str
    number: int
    this_update: int
    serials: frozenset[int]
    signature: bytes = field(default=b"", repr=False)

    def tbs_bytes(self) -> bytes:
        if len(self.issuer_key_id) != ADDRESS_LEN:
            raise CertificateError("malformed", f"issuer_key_id must be {ADDRESS_LEN} bytes")
        return CRL_TAG + _pack(
            [
                self.issuer.encode(),
                bytes(self.issuer_key_id),
                self.suite.encode(),
                _u64(self.number),
                _u64(self.this_update),
                b"".join(_u64(s) for s in sorted(self.serials)),
            ]
        )

    def to_bytes(self) -> bytes:
        tbs = self.tbs_bytes()
        return _U32.pack(len(tbs)) + tbs + _U32.pack(len(self.signature)) + self.signature

    @classmethod
    def from_bytes(cls, data: bytes) -> RevocationList:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"CRL must be bytes, not {type(data).__name__}")
        tbs, sig = _unpack(bytes(data), 2, "CRL")
        if not tbs.startswith(CRL_TAG):
            raise CertificateError("malformed", "not a finchain CRL")
        f = _unpack(tbs[len(CRL_TAG) :], 6, "CRL")
        if len(f[5]) % 8:
            raise CertificateError("malformed", "CRL serial list length")
        serials = [_get_u64(f[5][i : i + 8], "serial") for i in range(0, len(f[5]), 8)]
        crl = cls(
            issuer=_text(f[0], "issuer"),
            issuer_key_id=f[1],
            suite=_text(f[2], "suite"),
            number=_get_u64(f[3], "number"),
            this_update=_get_u64(f[4], "this_update"),
            serials=frozenset(serials),
            signature=sig,
        )
        if crl.tbs_bytes() != tbs:
            raise CertificateError("malformed", "non-canonical CRL encoding")
        return crl

    def to_pem(self) -> str:
        return armor(CRL_PEM, self.to_bytes())

    @classmethod
    def from_pem(cls, text: str | bytes) -> RevocationList:
        return cls.from_bytes(dearmor(CRL_PEM, text))

    def signed_by(self, issuer_key: PrivateKey) -> RevocationList:
        return replace(self, signature=get_suite(self.suite).sign(issuer_key, self.tbs_bytes()))

    def signature_valid(self, issuer_public_key: PublicKey) -> bool:
        return get_suite(self.suite).is_valid(issuer_public_key, self.tbs_bytes(), self.signature)


__all__ = [
    "NODE_TYPES",
    "ROLES",
    "MemberCertificate",
    "RevocationList",
    "armor",
    "dearmor",
    "key_id",
]
