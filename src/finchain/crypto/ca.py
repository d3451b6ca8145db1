"""Consortium certificate authorities and the trust store that checks member certificates.

A consortium runs one **root CA** (self-issued, role ``"ca"``); it may certify one **organisation
CA** per member bank (role ``"ca"``, issued by the root), which in turn certifies that
organisation's nodes, users and admins. An organisation CA may only certify its own
organisation. Certificates are the signed member records of :mod:`finchain.crypto.cert`.

>>> import tempfile, time
>>> from finchain.crypto import get_suite
>>> gm = get_suite("gm")
>>> d = tempfile.mkdtemp()
>>> root = CertificateAuthority.create(d + "/root", org="consortium", suite="gm")
>>> node_key = gm.generate_key()
>>> cert = root.issue(org="bank-a", role="node", name="n1", public_key=node_key.public_key(),
...                   node_type="validator")
>>> store = TrustStore([root.certificate], [root.crl()])
>>> store.verify(cert, int(time.time() * 1000))
>>> crl = root.revoke(cert.serial)
>>> TrustStore([root.certificate], [root.crl()]).is_trusted(cert, int(time.time() * 1000))
False

Directory layout of a CA: ``ca.key`` (PKCS#8 PEM, encrypted when a password is given),
``ca.cert`` (this CA's certificate), ``chain.cert`` (certificates above it, nearest first, for
an organisation CA), ``state.json`` (next serial, revoked serials, CRL number) and ``crl.pem``
(rewritten on every revocation).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from finchain.crypto import get_suite
from finchain.crypto.cert import (
    CERT_PEM,
    NODE_TYPES,
    ROLES,
    MemberCertificate,
    RevocationList,
    dearmor,
    key_id,
)
from finchain.crypto.errors import CertificateError, CryptoError, InvalidKey
from finchain.crypto.suite import PrivateKey, PublicKey

DAY_MS = 86_400_000
MAX_CHAIN = 4


def now_ms() -> int:
    """Wall-clock milliseconds (the default ``now`` of :class:`CertificateAuthority`)."""
    return time.time_ns() // 1_000_000


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def split_pem_blocks(text: str) -> list[str]:
    """Every ``FINCHAIN CERTIFICATE`` block in ``text``, in order."""
    end = f"-----END {CERT_PEM}-----"
    blocks = []
    for part in text.split(end)[:-1]:
        blocks.append(part + end)
    return blocks


def load_certificates(text: str | bytes) -> list[MemberCertificate]:
    """All certificates in a PEM bundle."""
    if isinstance(text, bytes):
        text = text.decode("ascii", errors="replace")
    return [MemberCertificate.from_bytes(dearmor(CERT_PEM, b)) for b in split_pem_blocks(text)]


class CertificateAuthority:
    """A CA kept in one directory: its key, its certificate, its issue and revocation state."""

    def __init__(
        self,
        directory: Path,
        key: PrivateKey,
        certificate: MemberCertificate,
        chain: Sequence[MemberCertificate] = (),
    ) -> None:
        self.directory = directory
        self.key = key
        self.certificate = certificate
        self.chain = tuple(chain)
        self.suite = get_suite(certificate.suite)

    # -- creation and loading ---------------------------------------------------------------
    @classmethod
    def create(
        cls,
        directory: str | os.PathLike[str],
        *,
        org: str,
        suite: str,
        name: str = "ca",
        parent: CertificateAuthority | None = None,
        days: int = 3650,
        password: bytes | None = None,
        now: int | None = None,
    ) -> CertificateAuthority:
        """A new CA in ``directory`` (which must not hold one already).

        Without ``parent`` it is a self-issued root; with ``parent`` an organisation CA whose
        certificate ``parent`` issues (same suite required).
        """
        path = Path(directory)
        if (path / "ca.key").exists():
            raise CryptoError(f"a CA already exists in {path}")
        s = get_suite(suite)
        if parent is not None and parent.suite.name != s.name:
            raise CertificateError(
                "wrong-suite", f"parent CA uses {parent.suite.name}, not {s.name}"
            )
        key = s.generate_key()
        t = now_ms() if now is None else now
        if parent is None:
            subject = f"{org}/{name}"
            cert = MemberCertificate(
                serial=0,
                org=org,
                role="ca",
                name=name,
                suite=s.name,
                public_key=key.public_key().to_bytes(),
                issuer=subject,
                issuer_key_id=key_id(s, key.public_key()),
                not_before=t,
                not_after=t + days * DAY_MS,
            ).signed_by(key)
            chain: tuple[MemberCertificate, ...] = ()
        else:
            cert = parent.issue(
                org=org, role="ca", name=name, public_key=key.public_key(), days=days, now=t
            )
            chain = (parent.certificate, *parent.chain)
        path.mkdir(parents=True, exist_ok=True)
        _atomic_write(path / "ca.key", key.to_pem(password=password), mode=0o600)
        _atomic_write(path / "ca.cert", cert.to_pem().encode())
        if chain:
            _atomic_write(path / "chain.cert", "".join(c.to_pem() for c in chain).encode())
        ca = cls(path, key, cert, chain)
        ca._save_state({"next_serial": 1, "revoked": [], "crl_number": 0})
        ca._write_crl(t)
        return ca

    @classmethod
    def load(
        cls, directory: str | os.PathLike[str], *, password: bytes | None = None
    ) -> CertificateAuthority:
        """The CA kept in ``directory``."""
        path = Path(directory)
        try:
            cert_text = (path / "ca.cert").read_bytes()
            key_pem = (path / "ca.key").read_bytes()
        except FileNotFoundError:
            raise CryptoError(f"no CA in {path} (run `finchain ca init` first)") from None
        cert = MemberCertificate.from_pem(cert_text)
        s = get_suite(cert.suite)
        try:
            key = s.load_private_key(key_pem, password=password)
        except InvalidKey:
            raise CryptoError(f"cannot open the CA key in {path} (wrong password?)") from None
        if key.public_key().to_bytes() != cert.public_key:
            raise CertificateError("malformed", f"{path}: ca.key does not match ca.cert")
        chain_file = path / "chain.cert"
        chain = load_certificates(chain_file.read_bytes()) if chain_file.exists() else []
        return cls(path, key, cert, chain)

    # -- state ------------------------------------------------------------------------------
    def _load_state(self) -> dict[str, object]:
        try:
            state: dict[str, object] = json.loads((self.directory / "state.json").read_text())
        except (FileNotFoundError, ValueError):
            raise CryptoError(f"{self.directory}/state.json is missing or corrupt") from None
        return state

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive lock on the CA state, so concurrent ``issue``/``revoke`` calls (threads or
        processes) never hand out one serial twice."""
        fd = os.open(self.directory / "state.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _save_state(self, state: dict[str, object]) -> None:
        _atomic_write(self.directory / "state.json", json.dumps(state, indent=1).encode())

    @property
    def revoked(self) -> frozenset[int]:
        revoked = self._load_state()["revoked"]
        assert isinstance(revoked, list)
        return frozenset(int(s) for s in revoked)

    # -- issuing ----------------------------------------------------------------------------
    def issue(
        self,
        *,
        org: str,
        role: str,
        name: str,
        public_key: PublicKey | bytes,
        days: int = 365,
        node_type: str | None = None,
        now: int | None = None,
    ) -> MemberCertificate:
        """Certify ``public_key`` for ``org``/``name`` in ``role`` for ``days`` days.

        ``node_type`` (``"validator"``/``"observer"``) goes with role ``"node"`` and defaults to
        ``"validator"`` there. An organisation CA issues only for its own organisation.
        """
        if role not in ROLES:
            raise CertificateError("malformed", f"unknown role {role!r}; choose from {ROLES}")
        if role == "node":
            node_type = node_type or "validator"
            if node_type not in NODE_TYPES:
                raise CertificateError("malformed", f"node_type must be one of {NODE_TYPES}")
        elif node_type:
            raise CertificateError("malformed", f"role {role!r} takes no node_type")
        if not isinstance(days, int) or days <= 0:
            raise ValueError(f"days must be a positive integer, got {days!r}")
        if self.chain and org != self.certificate.org:
            raise CertificateError(
                "org-mismatch",
                f"the CA of {self.certificate.org!r} cannot certify members of {org!r}",
            )
        pub = public_key if isinstance(public_key, PublicKey) else None
        if pub is None:
            pub = self.suite.load_public_key(public_key)  # type: ignore[arg-type]
        if pub.suite_name != self.suite.name:
            raise CertificateError(
                "wrong-suite",
                f"a {pub.suite_name} key cannot be certified by a {self.suite.name} CA",
            )
        t = now_ms() if now is None else now
        with self._locked():
            state = self._load_state()
            serial = state["next_serial"]
            assert isinstance(serial, int)
            state["next_serial"] = serial + 1
            self._save_state(state)
        return MemberCertificate(
            serial=serial,
            org=org,
            role=role,
            name=name,
            suite=self.suite.name,
            public_key=pub.to_bytes(),
            issuer=self.certificate.subject,
            issuer_key_id=self.certificate.key_id,
            not_before=t,
            not_after=t + days * DAY_MS,
            node_type=node_type or "",
        ).signed_by(self.key)

    # -- revocation -------------------------------------------------------------------------
    def revoke(self, serial: int, *, now: int | None = None) -> RevocationList:
        """Revoke the certificate numbered ``serial``; returns (and saves) the new CRL."""
        if not isinstance(serial, int) or isinstance(serial, bool):
            raise TypeError(f"serial must be int, not {type(serial).__name__}")
        with self._locked():
            state = self._load_state()
            next_serial = state["next_serial"]
            assert isinstance(next_serial, int)
            if not 1 <= serial < next_serial:
                raise CryptoError(f"this CA never issued serial {serial}")
            revoked = state["revoked"]
            assert isinstance(revoked, list)
            if serial not in revoked:
                revoked.append(serial)
                self._save_state(state)
            return self._write_crl(now_ms() if now is None else now)

    def crl(self, *, now: int | None = None) -> RevocationList:
        """A freshly signed revocation list of everything revoked so far."""
        state = self._load_state()
        number = state["crl_number"]
        revoked = state["revoked"]
        assert isinstance(number, int) and isinstance(revoked, list)
        return RevocationList(
            issuer=self.certificate.subject,
            issuer_key_id=self.certificate.key_id,
            suite=self.suite.name,
            number=number,
            this_update=now_ms() if now is None else now,
            serials=frozenset(int(s) for s in revoked),
        ).signed_by(self.key)

    def _write_crl(self, t: int) -> RevocationList:
        state = self._load_state()
        number = state["crl_number"]
        assert isinstance(number, int)
        state["crl_number"] = number + 1
        self._save_state(state)
        crl = self.crl(now=t)
        _atomic_write(self.directory / "crl.pem", crl.to_pem().encode())
        return crl

    def export_x509(self, cert: MemberCertificate) -> bytes:
        """DER X.509 v3 form of ``cert`` (one this CA issued, or its own root certificate),
        signed by this CA, for tools outside finchain (see :mod:`finchain.crypto.x509`)."""
        from finchain.crypto.x509 import build_x509

        return build_x509(cert, self.certificate, self.key)

    def __repr__(self) -> str:
        return f"<CertificateAuthority {self.certificate.subject} ({self.suite.name})>"


class TrustStore:
    """Trusted roots plus revocation lists; verifies member certificates and their chains.

    ``intermediates`` are organisation-CA certificates that may appear between a root and a
    member; they are checked like any certificate each time they are used.
    """

    def __init__(
        self,
        roots: Iterable[MemberCertificate],
        crls: Iterable[RevocationList] = (),
        *,
        intermediates: Iterable[MemberCertificate] = (),
        suite: str | None = None,
    ) -> None:
        self._keys: dict[bytes, PublicKey] = {}
        self.roots = {r.key_id: r for r in roots}
        if not self.roots:
            raise CertificateError("unknown-issuer", "a trust store needs at least one root")
        suites = {r.suite for r in self.roots.values()}
        self.suite = suite or next(iter(suites))
        for r in self.roots.values():
            if r.suite != self.suite:
                raise CertificateError("wrong-suite", f"root {r.subject} uses {r.suite}")
            if not r.is_ca or not r.is_self_issued or not r.signature_valid(self._key(r)):
                raise CertificateError("bad-signature", f"root {r.subject} is not a valid root")
        self.intermediates = {c.key_id: c for c in intermediates if c.is_ca}
        self.crls: dict[bytes, RevocationList] = {}
        for crl in crls:
            self.add_crl(crl)

    def _key(self, cert: MemberCertificate) -> PublicKey:
        """``cert``'s public key, parsed once per store (issuer keys are used on every verify)."""
        key = self._keys.get(cert.public_key)
        if key is None or key.suite_name != cert.suite:
            key = cert.load_public_key()
            if len(self._keys) < 4096:
                self._keys[cert.public_key] = key
        return key

    def add_crl(self, crl: RevocationList) -> None:
        """Accept ``crl`` if its issuer is known and its signature holds; keeps the newest."""
        issuer = self.roots.get(crl.issuer_key_id) or self.intermediates.get(crl.issuer_key_id)
        if issuer is None:
            raise CertificateError("unknown-issuer", f"CRL from unknown issuer {crl.issuer}")
        if crl.suite != self.suite or not crl.signature_valid(self._key(issuer)):
            raise CertificateError("bad-signature", f"CRL from {crl.issuer} does not verify")
        held = self.crls.get(crl.issuer_key_id)
        if held is None or crl.number >= held.number:
            self.crls[crl.issuer_key_id] = crl

    def add_intermediate(self, cert: MemberCertificate, now_ms: int) -> None:
        """Verify an organisation-CA certificate and add it."""
        if not cert.is_ca:
            raise CertificateError("not-a-ca", f"{cert.subject} is not a CA certificate")
        self.verify(cert, now_ms)
        self.intermediates[cert.key_id] = cert

    def verify(
        self,
        cert: MemberCertificate,
        now_ms: int,
        *,
        chain: Sequence[MemberCertificate] = (),
    ) -> None:
        """Return silently when ``cert`` is trusted at ``now_ms``; else :class:`CertificateError`.

        Checks, for ``cert`` and every CA up to a root: suite, issuer known, issuer is a CA,
        organisation CAs only certify their own organisation, signature, validity window and
        revocation. ``chain`` may supply organisation-CA certificates not yet in the store.
        """
        if not isinstance(cert, MemberCertificate):
            raise TypeError(f"expected a MemberCertificate, not {type(cert).__name__}")
        extra = {c.key_id: c for c in chain if isinstance(c, MemberCertificate) and c.is_ca}
        current = cert
        for _ in range(MAX_CHAIN + 1):
            self._check_one(current, now_ms)
            issuer = (
                self.roots.get(current.issuer_key_id)
                or self.intermediates.get(current.issuer_key_id)
                or extra.get(current.issuer_key_id)
            )
            if issuer is None or issuer.subject != current.issuer:
                raise CertificateError(
                    "unknown-issuer",
                    f"certificate {current.serial} of {current.subject}: issuer "
                    f"{current.issuer} is not trusted",
                )
            if not issuer.is_ca:
                raise CertificateError("not-a-ca", f"{issuer.subject} may not issue certificates")
            if issuer.suite != current.suite:
                raise CertificateError(
                    "wrong-suite", f"{current.subject}: suite differs from issuer"
                )
            if not current.signature_valid(self._key(issuer)):
                raise CertificateError(
                    "bad-signature",
                    f"certificate {current.serial} of {current.subject}: bad signature",
                )
            root = self.roots.get(current.issuer_key_id)
            if root is not None and root.subject == current.issuer:
                self._check_window(root, now_ms)
                return
            if issuer.org != current.org:
                raise CertificateError(
                    "org-mismatch", f"{issuer.subject} cannot certify members of {current.org}"
                )
            current = issuer
        raise CertificateError("chain-too-long", f"{cert.subject}: more than {MAX_CHAIN} CAs")

    def _check_window(self, cert: MemberCertificate, now_ms: int) -> None:
        if now_ms < cert.not_before:
            raise CertificateError(
                "not-yet-valid", f"certificate {cert.serial} of {cert.subject} is not yet valid"
            )
        if now_ms > cert.not_after:
            raise CertificateError(
                "expired", f"certificate {cert.serial} of {cert.subject} expired"
            )

    def _check_one(self, cert: MemberCertificate, now_ms: int) -> None:
        if cert.suite != self.suite:
            raise CertificateError(
                "wrong-suite",
                f"{cert.subject} uses suite {cert.suite!r}, this store {self.suite!r}",
            )
        self._check_window(cert, now_ms)
        crl = self.crls.get(cert.issuer_key_id)
        if crl is not None and cert.serial in crl.serials:
            raise CertificateError(
                "revoked", f"certificate {cert.serial} of {cert.subject} has been revoked"
            )

    def is_trusted(
        self, cert: MemberCertificate, now_ms: int, *, chain: Sequence[MemberCertificate] = ()
    ) -> bool:
        """``True`` when :meth:`verify` passes."""
        try:
            self.verify(cert, now_ms, chain=chain)
        except CertificateError:
            return False
        return True


def trust_store_for(directory: str | os.PathLike[str]) -> TrustStore:
    """A trust store from a CA directory's public files (no key needed): the top of its chain as
    root, the CA itself and any CAs between as intermediates, its ``crl.pem``."""
    path = Path(directory)
    try:
        cert = MemberCertificate.from_pem((path / "ca.cert").read_bytes())
    except FileNotFoundError:
        raise CryptoError(f"no CA in {path} (run `finchain ca init` first)") from None
    chain_file = path / "chain.cert"
    chain = load_certificates(chain_file.read_bytes()) if chain_file.exists() else []
    crl_file = path / "crl.pem"
    crls = [RevocationList.from_pem(crl_file.read_bytes())] if crl_file.exists() else []
    if not chain:
        return TrustStore([cert], crls)
    return TrustStore([chain[-1]], crls, intermediates=[cert, *chain[:-1]])


__all__ = [
    "CertificateAuthority",
    "TrustStore",
    "load_certificates",
    "now_ms",
    "trust_store_for",
]
