"""X.509 v3 export of member certificates, for tools outside finchain (OpenSSL/Tongsuo/GmSSL).

The signed member record (:mod:`finchain.crypto.cert`) stays authoritative inside finchain. An
issuing CA can also re-sign the same facts as an RFC 5280 certificate, written here directly in
DER (no Python library builds SM2 X.509) and signed with the suite's signature:

* signature algorithm ``SM2-with-SM3`` (OID 1.2.156.10197.1.501, GM/T 0015) for ``gm``,
  ``ecdsa-with-SHA256`` for ``intl``; SM2 signatures use the default signer id
  ``1234567812345678`` as GM/T 0015 prescribes;
* subject ``O=<org>, OU=<role>[/<node_type>], CN=<name>``; issuer likewise with ``OU=ca``;
* serial ``2**64 + serial`` (positive and non-zero as RFC 5280 requires, the finchain serial
  readable in its low 64 bits);
* extensions: basicConstraints (critical; ``cA`` for role ``ca``), keyUsage (critical;
  ``keyCertSign|cRLSign`` for CAs, ``digitalSignature|keyEncipherment`` otherwise),
  subjectKeyIdentifier and authorityKeyIdentifier = the 20-byte finchain key ids, so chains
  build by key id.

The tests check the output with ``cryptography``'s X.509 parser and ``openssl verify``.
"""

from __future__ import annotations

import datetime as _dt

from finchain.crypto.cert import MemberCertificate
from finchain.crypto.errors import CertificateError
from finchain.crypto.suite import PrivateKey

SM2_WITH_SM3 = "1.2.156.10197.1.501"
ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
_SIG_OID = {"gm": SM2_WITH_SM3, "intl": ECDSA_WITH_SHA256}
_OID_CN, _OID_O, _OID_OU = "2.5.4.3", "2.5.4.10", "2.5.4.11"
_OID_BASIC_CONSTRAINTS, _OID_KEY_USAGE = "2.5.29.19", "2.5.29.15"
_OID_SKI, _OID_AKI = "2.5.29.14", "2.5.29.35"
SERIAL_OFFSET = 1 << 64


# -- a minimal DER writer --------------------------------------------------------------------
def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _len(len(body)) + body


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _time(ms: int) -> bytes:
    t = _dt.datetime.fromtimestamp(ms // 1000, _dt.UTC)
    if 1950 <= t.year < 2050:
        return _tlv(0x17, t.strftime("%y%m%d%H%M%SZ").encode())
    return _tlv(0x18, t.strftime("%Y%m%d%H%M%SZ").encode())


def _name(org: str, unit: str, common: str) -> bytes:
    def rdn(oid: str, value: str) -> bytes:
        return _tlv(0x31, _seq(_oid(oid), _tlv(0x0C, value.encode())))

    return _seq(rdn(_OID_O, org), rdn(_OID_OU, unit), rdn(_OID_CN, common))


def _bits(flags: list[int]) -> bytes:
    """A DER named-bit BIT STRING with bits ``flags`` set (bit 0 = most significant)."""
    value = 0
    for bit in flags:
        value |= 0x80 >> bit
    unused = (value & -value).bit_length() - 1 if value else 0
    return _tlv(0x03, bytes([unused, value]))


def _ext(oid: str, value: bytes, *, critical: bool = False) -> bytes:
    crit = _tlv(0x01, b"\xff") if critical else b""
    return _seq(_oid(oid), crit, _tlv(0x04, value))


# -- the certificate -------------------------------------------------------------------------
def build_x509(cert: MemberCertificate, issuer: MemberCertificate, issuer_key: PrivateKey) -> bytes:
    """DER X.509 v3 certificate carrying ``cert``'s facts, signed by ``issuer_key``.

    ``issuer`` is the CA certificate whose key is ``issuer_key`` (``cert`` itself for a root).

    >>> import tempfile
    >>> from finchain.crypto.ca import CertificateAuthority
    >>> root = CertificateAuthority.create(tempfile.mkdtemp() + "/ca", org="gba", suite="gm")
    >>> der = build_x509(root.certificate, root.certificate, root.key)
    >>> der[0] == 0x30 and to_pem(der).startswith("-----BEGIN CERTIFICATE-----")
    True
    """
    if cert.issuer_key_id != issuer.key_id or cert.issuer != issuer.subject:
        raise CertificateError("unknown-issuer", f"{issuer.subject} did not issue {cert.subject}")
    if issuer_key.public_key().to_bytes() != issuer.public_key:
        raise CertificateError("bad-signature", "issuer_key does not match the issuer certificate")
    suite = cert.get_suite()
    alg = _seq(_oid(_SIG_OID[suite.name]))
    unit = f"{cert.role}/{cert.node_type}" if cert.node_type else cert.role
    if cert.is_ca:
        basic = _seq(_tlv(0x01, b"\xff"))
        usage = _bits([5, 6])  # keyCertSign, cRLSign
    else:
        basic = _seq()
        usage = _bits([0, 2])  # digitalSignature, keyEncipherment
    extensions = _seq(
        _ext(_OID_BASIC_CONSTRAINTS, basic, critical=True),
        _ext(_OID_KEY_USAGE, usage, critical=True),
        _ext(_OID_SKI, _tlv(0x04, cert.key_id)),
        _ext(_OID_AKI, _seq(_tlv(0x80, cert.issuer_key_id))),
    )
    tbs = _seq(
        _tlv(0xA0, _int(2)),  # v3
        _int(SERIAL_OFFSET + cert.serial),
        alg,
        _name(issuer.org, issuer.role, issuer.name),
        _seq(_time(cert.not_before), _time(cert.not_after)),
        _name(cert.org, unit, cert.name),
        cert.load_public_key().to_der(),  # SubjectPublicKeyInfo
        _tlv(0xA3, extensions),
    )
    signature = suite.sign(issuer_key, tbs)
    return _seq(tbs, alg, _tlv(0x03, b"\x00" + signature))


def to_pem(der: bytes) -> str:
    """PEM ``CERTIFICATE`` block of a DER certificate."""
    import base64

    b64 = base64.b64encode(der).decode("ascii")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return "\n".join(["-----BEGIN CERTIFICATE-----", *lines, "-----END CERTIFICATE-----", ""])


__all__ = ["ECDSA_WITH_SHA256", "SERIAL_OFFSET", "SM2_WITH_SM3", "build_x509", "to_pem"]
