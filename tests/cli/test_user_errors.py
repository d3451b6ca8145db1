"""User mistakes across the sub-commands: one `error:` line on stderr, exit 1, no traceback,
and refused before any long work (outputs that cannot be written, bad numbers, bad ports)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from finchain.cli.main import main

REPO = Path(__file__).resolve().parents[2]
ULB = REPO / "data" / "ulb_creditcard" / "creditcard_sample.csv"
FL_EXAMPLES = REPO / "src" / "finchain" / "fl" / "examples"


def cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    code = stop.value.code
    return (code if isinstance(code, int) else 0 if code is None else 1), out.out, out.err


def error_line(capsys: pytest.CaptureFixture[str], *argv: object) -> str:
    """Run and return the one error line (asserting exit 1 and no traceback)."""
    code, _, err = cli(capsys, *argv)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def under_a_file(tmp_path: Path) -> Path:
    """An output path whose 'directory' is a regular file: can never be written."""
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    return blocker / "sub" / "out.json"


def _stream_job(tmp_path: Path, **changes: str) -> Path:
    job = {
        "batch": "100",
        "field": "Amount",
    } | changes
    text = (
        f"source: {{type: csv, path: {ULB}, time_field: Time, time_scale: 1000, sort: true,"
        ' constant: {all: "*"}}\n'
        f"batch: {job['batch']}\n"
        "indicators:\n"
        f"  - {{name: spend, kind: lookback, key: all, field: {job['field']}, span: 10m}}\n"
    )
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return path


def test_stream_run_validates_the_job_up_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], under_a_file: Path
) -> None:
    line = error_line(capsys, "stream", "run", _stream_job(tmp_path, batch="lots"))
    assert "batch must be a whole number" in line and "'lots'" in line
    line = error_line(capsys, "stream", "run", _stream_job(tmp_path, field="Amountt"))
    assert "'Amountt' is not a column" in line and "did you mean 'Amount'" in line
    line = error_line(capsys, "stream", "run", _stream_job(tmp_path), "--json", under_a_file)
    assert "--json" in line
    code, out, err = cli(capsys, "stream", "run", _stream_job(tmp_path))
    assert code == 0 and "events=1722" in out, err


def test_fl_job_and_json_checked_before_parties_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (FL_EXAMPLES / "lr_breast.yaml").read_text().replace("epochs: 20", "epochs: many")
    job = tmp_path / "lr.yaml"
    job.write_text(text.replace("data: breast", f"data: {FL_EXAMPLES}/breast"))
    line = error_line(capsys, "fl", "run", job, "--workdir", tmp_path / "wd")
    assert "model.epochs must be a whole number" in line and "'many'" in line
    assert not (tmp_path / "wd").exists()
    bad = tmp_path / "missing-dir" / "x.json"
    assert "does not exist" in error_line(
        capsys, "fl", "parties", FL_EXAMPLES / "lr_breast.yaml", "--json", bad
    )


def test_scf_replay_refuses_bad_chunk_and_limit(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--chunk must be at least 1, not 0" in error_line(
        capsys, "scf", "replay", "--chunk", "0"
    )
    assert "--limit must be at least 0, not -3" in error_line(
        capsys, "scf", "replay", "--limit", "-3"
    )


def test_bench_chain_refuses_zero_validators(capsys: pytest.CaptureFixture[str]) -> None:
    line = error_line(capsys, "bench", "chain", "--validators", "0", "--quick")
    assert "--validators must be at least 1" in line
    line = error_line(capsys, "bench", "chain", "--verification", "some", "--quick")
    assert "--verification 'some': use one of attested, all" in line


def test_bench_json_checked_before_the_benchmark(
    capsys: pytest.CaptureFixture[str], under_a_file: Path
) -> None:
    assert "--json" in error_line(capsys, "bench", "crypto", "--quick", "--json", under_a_file)


def test_risk_train_out_checked_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], under_a_file: Path
) -> None:
    # the data file does not even exist: the --out check must come first
    train = ("risk", "train", "--data", tmp_path / "none.csv", "--target", "y")
    line = error_line(capsys, *train, "--out", under_a_file.parent)
    assert line.startswith("error: --out")
    line = error_line(capsys, *train, "--json", under_a_file)
    assert line.startswith("error: --json")


def test_servers_refuse_out_of_range_ports(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (("scf", "serve"), ("risk", "serve", "--model-dir", "/nonexistent")):
        line = error_line(capsys, *argv, "--port", "99999")
        assert "--port 99999: a port must be in 1..65535" in line


def test_scf_serve_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        line = error_line(capsys, "scf", "serve", "--port", port)
    assert f"port {port} in use" in line


def test_watch_names_the_right_option_for_missing_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = error_line(capsys, "watch", "replay", tmp_path / "nope.csv")
    assert "SOURCE argument" in line and "--data" not in line
    line = error_line(capsys, "watch", "trace", "0x" + "1" * 40, "--source", tmp_path / "n.csv")
    assert "--source" in line and "--data" not in line
    code, _, err = cli(
        capsys, "watch", "trace", "0x" + "1" * 40, "--labels-dir", tmp_path / "no-labels"
    )
    assert code == 0
    assert "--labels-dir" in err and "--data" not in err
