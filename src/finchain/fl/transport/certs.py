"""X.509 certificates for the mutual-TLS channel between parties.

gRPC's TLS needs X.509, so each federated job (or consortium) has its own CA: a P-256 key and a
self-signed CA certificate made with ``cryptography``. Every party gets a P-256 leaf certificate
signed by that CA with

* subject CN = the party name (the transport checks that the TLS peer's CN equals the ``src``
  a message claims), SAN ``DNS:<party>`` (the name the client verifies);
* SAN ``URI:urn:finchain:member:<org>:<member-id>`` binding the TLS key to the party's finchain
  member identity: ``member-id`` is the hex SHA-256 of the member's public key (for instance the
  key in its ``finchain.crypto.ca`` member certificate) when one is given, else of the TLS key.

A party whose certificate was not issued by the job's CA is refused during the handshake.

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> ca = JobCA.create(d, name="demo-job")
>>> p = ca.issue("guest", org="Bank A")
>>> member_uri(p.cert_pem).startswith("urn:finchain:member:Bank A:")
True
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from finchain.fl.errors import CertificateError

_VALIDITY = dt.timedelta(days=30)


@dataclass(frozen=True)
class PartyCredentials:
    """PEM material one party needs for mutual TLS."""

    name: str
    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes

    def save(self, directory: str | Path) -> None:
        """Write ``<name>.crt``, ``<name>.key`` and ``ca.crt`` into ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{self.name}.crt").write_bytes(self.cert_pem)
        key = d / f"{self.name}.key"
        key.write_bytes(self.key_pem)
        key.chmod(0o600)
        (d / "ca.crt").write_bytes(self.ca_pem)

    @classmethod
    def load(cls, directory: str | Path, name: str) -> PartyCredentials:
        """Read what :meth:`save` wrote."""
        d = Path(directory)
        try:
            return cls(
                name,
                (d / f"{name}.crt").read_bytes(),
                (d / f"{name}.key").read_bytes(),
                (d / "ca.crt").read_bytes(),
            )
        except OSError as exc:
            raise CertificateError(f"no TLS credentials for party {name!r} in {d}: {exc}") from exc


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        ]
    )


class JobCA:
    """A per-job (or per-consortium) certificate authority for the TLS layer."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        self.key = key
        self.cert = cert

    @classmethod
    def create(cls, directory: str | Path, *, name: str = "finchain-fl") -> JobCA:
        """A new CA; its certificate and key are written to ``directory``."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        subject = _name(f"{name} CA", "finchain federated learning")
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        ca_key = d / "ca.key"
        ca_key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        ca_key.chmod(0o600)
        return cls(key, cert)

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate (the trust anchor every party loads)."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self, party: str, *, org: str = "", member_public_key: bytes | None = None
    ) -> PartyCredentials:
        """A leaf certificate for ``party`` usable as TLS server and client."""
        if not party or any(c in party for c in "/\\ "):
            raise CertificateError(f"bad party name {party!r}")
        key = ec.generate_private_key(ec.SECP256R1())
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        member_id = hashlib.sha256(member_public_key or spki).hexdigest()
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(party, org or party))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName(party),
                        x509.UniformResourceIdentifier(
                            f"urn:finchain:member:{org or party}:{member_id}"
                        ),
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return PartyCredentials(
            party,
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            self.cert_pem,
        )


def member_uri(cert_pem: bytes) -> str:
    """The ``urn:finchain:member:…`` SAN of a party certificate."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith("urn:finchain:member:"):
            return str(uri)
    raise CertificateError("certificate carries no finchain member URI")
