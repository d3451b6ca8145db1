"""Real processes over gRPC with mutual TLS on loopback; certificates; job files; drop-outs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from finchain.fl.errors import CertificateError, FlError, JobConfigError, PartyDropped
from finchain.fl.job import load_job
from finchain.fl.runner import run_job
from finchain.fl.transport.certs import JobCA, member_uri
from finchain.fl.transport.grpc_channel import GrpcChannel


def test_mtls_channel_refuses_foreign_and_impersonating_certificates() -> None:
    d = Path(tempfile.mkdtemp())
    ca = JobCA.create(d / "a")
    a = GrpcChannel("a", ca.issue("a"), timeout=5, connect_timeout=3)
    b = GrpcChannel("b", ca.issue("b"), timeout=5, connect_timeout=3)
    try:
        a.connect({"b": f"127.0.0.1:{b.port}"})
        a.send("b", "hello", {"v": np.arange(3)})
        assert b.recv("a", "hello")["v"].tolist() == [0, 1, 2]
        # a certificate from another CA: the TLS handshake fails, nothing is delivered
        rogue = GrpcChannel("a", JobCA.create(d / "rogue").issue("a"), timeout=2, connect_timeout=2)
        rogue.connect({"b": f"127.0.0.1:{b.port}"})
        with pytest.raises(PartyDropped):
            rogue.send("b", "hello", 1)
        rogue.close()
        # a valid certificate of party "m" cannot speak as "a"
        m = GrpcChannel("m", ca.issue("m"), timeout=2, connect_timeout=2)
        m.me = "a"
        m.connect({"b": f"127.0.0.1:{b.port}"})
        with pytest.raises(CertificateError):
            m.send("b", "hello", 2)
        m.close()
        with pytest.raises(PartyDropped):
            b.recv("a", "hello", timeout=0.5)
    finally:
        a.close()
        b.close()


def test_member_identity_bound_in_certificate() -> None:
    ca = JobCA.create(tempfile.mkdtemp())
    creds = ca.issue("guest", org="Bank-A", member_public_key=b"member-key")
    import hashlib

    assert (
        member_uri(creds.cert_pem)
        == f"urn:finchain:member:Bank-A:{hashlib.sha256(b'member-key').hexdigest()}"
    )


def _write(tmp: Path, text: str) -> Path:
    p = tmp / "job.yaml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.xdist_group("fl-processes")
def test_two_process_secureboost_job(tmp_path: Path) -> None:
    job = _write(
        tmp_path,
        """
name: t-sbt
protocol: hetero_secureboost
parties:
  - {name: guest, role: guest, org: Bank A, data: breast_hetero_guest.csv}
  - {name: host, role: host, org: Hospital B, data: breast_hetero_host.csv}
model: {n_trees: 2, max_depth: 2, max_bins: 8}
encryption: {key_bits: 512}
timeout_s: 300
""",
    )
    out = run_job(job, workdir=tmp_path / "wd", show_progress=False)
    g = out["results"]["guest"]
    assert g["n_train"] == 456 and g["n_test"] == 113
    assert g["auc"] > 0.9
    assert (tmp_path / "wd" / "events.jsonl").read_text().count('"progress"') >= 2


@pytest.mark.slow
@pytest.mark.xdist_group("fl-processes")
def test_party_that_never_answers_gives_a_clear_error(tmp_path: Path) -> None:
    # the host's data file lacks the ids the guest expects → host fails → job reports it
    bad = tmp_path / "host.csv"
    bad.write_text("id,x0\n", encoding="utf-8")
    job = _write(
        tmp_path,
        f"""
name: t-bad
protocol: hetero_secureboost
parties:
  - {{name: guest, role: guest, data: breast_hetero_guest.csv}}
  - {{name: host, role: host, data: {bad}}}
model: {{n_trees: 1, max_depth: 1, max_bins: 4}}
encryption: {{key_bits: 512}}
timeout_s: 15
""",
    )
    with pytest.raises(FlError, match="party"):
        run_job(job, workdir=tmp_path / "wd", show_progress=False)


def test_job_file_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(JobConfigError, match="protocol"):
        load_job(_write(tmp_path, "name: x\nprotocol: nope\nparties: []\n"))
    with pytest.raises(JobConfigError, match="cannot read"):
        load_job(tmp_path / "missing.yaml")
