"""``finchain ca``: run a consortium certificate authority (init, issue, verify, revoke)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import typer

app = typer.Typer(
    help="Consortium certificate authority: signed member certificates for SM2 / P-256 keys.",
    no_args_is_help=True,
)


def _fmt_ms(ms: int) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _ca_password(directory: Path) -> bytes | None:
    from finchain.crypto.keyfile import is_encrypted, password_from_env

    key_file = directory / "ca.key"
    if not key_file.exists() or not is_encrypted(key_file.read_bytes()):
        return None
    env = password_from_env()
    if env is not None:
        return env
    return str(typer.prompt("CA key password", hide_input=True)).encode()


def _load_ca(directory: Path):  # type: ignore[no-untyped-def]
    from finchain.crypto.ca import CertificateAuthority

    return CertificateAuthority.load(directory, password=_ca_password(directory))


@app.command("init")
def init(
    directory: Path = typer.Argument(..., help="Directory to create the CA in."),
    org: str = typer.Option(..., "--org", help="Organisation that runs this CA."),
    suite: str = typer.Option("gm", "--suite", "-s", help="gm (SM2) or intl (P-256)."),
    name: str = typer.Option("ca", "--name", help="Name of the CA within its organisation."),
    parent: Path | None = typer.Option(
        None, "--parent", help="Directory of the root CA that certifies this organisation CA."
    ),
    days: int = typer.Option(3650, "--days", min=1, help="Validity in days."),
    password: bool = typer.Option(
        False, "--password", help="Encrypt the CA key (prompted, or $FINCHAIN_KEY_PASSWORD)."
    ),
) -> None:
    """Create a root CA (or, with --parent, an organisation CA)."""
    from finchain.crypto import SUITES
    from finchain.crypto.ca import CertificateAuthority
    from finchain.crypto.cli_keys import _ask_password
    from finchain.errors import UserInputError

    if suite not in SUITES:
        raise UserInputError(f"unknown suite {suite!r}; choose gm or intl")
    parent_ca = _load_ca(parent) if parent is not None else None
    pw = _ask_password(confirm=True) if password else None
    ca = CertificateAuthority.create(
        directory, org=org, suite=suite, name=name, parent=parent_ca, days=days, password=pw
    )
    cert = ca.certificate
    kind = "organisation CA" if parent_ca else "root CA"
    typer.echo(f"{kind} {cert.subject} ({cert.suite}) in {directory}")
    typer.echo(f"key id:     {cert.key_id.hex()}")
    typer.echo(f"valid:      {_fmt_ms(cert.not_before)} .. {_fmt_ms(cert.not_after)}")


@app.command("issue")
def issue(
    directory: Path = typer.Argument(..., help="The issuing CA's directory."),
    org: str = typer.Option(..., "--org", help="Member organisation."),
    role: str = typer.Option(..., "--role", help="ca, org, node, user or admin."),
    name: str = typer.Option(..., "--name", help="Member name within the organisation."),
    pubkey: Path = typer.Option(..., "--pubkey", help="Public key file (PEM or hex)."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the certificate."),
    node_type: str | None = typer.Option(
        None, "--node-type", help="validator or observer (role node only; default validator)."
    ),
    days: int = typer.Option(365, "--days", min=1, help="Validity in days."),
) -> None:
    """Certify a member's public key."""
    from finchain.crypto.cli_keys import _ask_password
    from finchain.crypto.keyfile import is_encrypted, parse_key, read_file

    ca = _load_ca(directory)
    data = read_file(pubkey)
    pw = _ask_password(confirm=False) if is_encrypted(data) else None
    info = parse_key(data, password=pw, origin=str(pubkey))
    cert = ca.issue(
        org=org, role=role, name=name, public_key=info.public_key, days=days, node_type=node_type
    )
    out.write_text(cert.to_pem())
    kind = f"{role}/{cert.node_type}" if cert.node_type else role
    typer.echo(f"issued serial {cert.serial}: {cert.subject} as {kind} ({cert.suite}) -> {out}")


@app.command("verify")
def verify(
    directory: Path = typer.Argument(..., help="A CA directory whose root is trusted."),
    cert_file: Path = typer.Argument(..., help="Certificate to check."),
    at_ms: int | None = typer.Option(None, "--at", help="Check at this time (ms since epoch)."),
) -> None:
    """Check a certificate against the CA's root, chain and revocation list."""
    from finchain.crypto.ca import now_ms, trust_store_for
    from finchain.crypto.cert import MemberCertificate
    from finchain.crypto.keyfile import read_file

    store = trust_store_for(directory)
    cert = MemberCertificate.from_pem(read_file(cert_file))
    store.verify(cert, now_ms() if at_ms is None else at_ms)
    kind = f"{cert.role}/{cert.node_type}" if cert.node_type else cert.role
    typer.echo(
        f"OK: serial {cert.serial} {cert.subject} as {kind} ({cert.suite}), issued by "
        f"{cert.issuer}, valid until {_fmt_ms(cert.not_after)}"
    )


@app.command("revoke")
def revoke(
    directory: Path = typer.Argument(..., help="The CA that issued the certificate."),
    serial: int = typer.Argument(..., help="Serial number to revoke."),
) -> None:
    """Revoke a certificate and rewrite the CA's crl.pem."""
    ca = _load_ca(directory)
    crl = ca.revoke(serial)
    typer.echo(
        f"revoked serial {serial}; CRL #{crl.number} lists {len(crl.serials)} serial(s) "
        f"-> {directory / 'crl.pem'}"
    )


@app.command("export")
def export(
    directory: Path = typer.Argument(..., help="The CA that issued the certificate."),
    cert_file: Path = typer.Argument(..., help="finchain certificate to export."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the X.509 PEM."),
) -> None:
    """Re-sign a certificate this CA issued as an X.509 v3 certificate (PEM) for outside tools."""
    from finchain.crypto.cert import MemberCertificate
    from finchain.crypto.keyfile import read_file
    from finchain.crypto.x509 import to_pem

    ca = _load_ca(directory)
    cert = MemberCertificate.from_pem(read_file(cert_file))
    out.write_text(to_pem(ca.export_x509(cert)))
    typer.echo(f"X.509 certificate for {cert.subject} (serial {cert.serial}) -> {out}")
