"""`finchain chain`/`tx`/`block` user mistakes: one `error:` line, exit 1, nothing left running.

A failed `chain up` stops the nodes it started; busy ports are named before anything starts; a
failing or rejected transaction makes `tx send` exit 1 with its reason.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from finchain.chain import network
from finchain.cli.main import main

pytestmark = [pytest.mark.xdist_group("chain-cli-errors"), pytest.mark.timeout(120)]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `finchain ARGV` in process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    code = stop.value.code
    return (code if isinstance(code, int) else 0 if code is None else 1), out.out, out.err


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def processes_under(directory: Path) -> list[int]:
    """Pids of processes whose command line mentions ``directory``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(directory) in cmd and network.alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def hold(port: int) -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen()
    return s


def test_init_refuses_unknown_consensus_and_bad_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "net"
    code, _, err = cli(capsys, "chain", "init", d, "--consensus", "foo")
    assert code == 1
    assert "unknown consensus 'foo'" in one_error_line(err) and "hotstuff" in err
    code, _, err = cli(capsys, "chain", "init", d, "--observers", "-1")
    assert code == 1 and "observers cannot be negative" in one_error_line(err)
    code, _, err = cli(capsys, "chain", "init", d, "--validators", "0")
    assert code == 1 and "at least one validator" in one_error_line(err)
    code, _, err = cli(capsys, "chain", "init", d, "--base-port", "65530")
    assert code == 1 and "1..65535" in one_error_line(err)
    assert not d.exists()  # refused before anything was written


def test_up_names_a_busy_port_and_starts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "net"
    specs = network.init_network(d, orgs=2, validators=2, observers=0, suite="gm")
    busy = specs[1]
    with hold(busy.p2p_port):
        code, _, err = cli(capsys, "chain", "up", d)
        assert code == 1
        line = one_error_line(err)
        assert f"port {busy.p2p_port} ({busy.name} p2p) is in use" in line
        assert processes_under(d) == [] and network.read_pids(d) == {}
        # `chain node` on the busy port: the same one line, no traceback
        code, _, err = cli(capsys, "chain", "node", network.node_config_path(d, busy.name))
        assert code == 1 and f"port {busy.p2p_port}" in one_error_line(err)


def test_failed_up_stops_the_nodes_it_started(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "net"
    specs = network.init_network(d, orgs=2, validators=2, observers=0, suite="gm")
    broken = network.node_config_path(d, specs[1].name)
    broken.write_text(broken.read_text() + "garbage: [\n")
    try:
        code, _, err = cli(capsys, "chain", "up", d, "--timeout", "60")
        assert code == 1
        line = one_error_line(err)
        assert f"node {specs[1].name} exited during start-up" in line and "not valid YAML" in line
        assert processes_under(d) == []  # the healthy node this `up` started was stopped
        assert network.read_pids(d) == {}
    finally:
        network.down(d)


def test_error_line_does_not_wrap_when_stderr_is_a_pipe(tmp_path: Path) -> None:
    name = "x" * 150
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "finchain.cli.main",
            "chain",
            "init",
            str(tmp_path / "n"),
            "--consensus",
            name,
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert proc.returncode == 1
    assert one_error_line(proc.stderr).endswith("choose one of hotstuff, pbft, raft")
    assert name in proc.stderr


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    d = tmp_path_factory.mktemp("chaincli") / "net"
    network.init_network(d, orgs=1, validators=1, observers=0, suite="gm")
    try:
        network.up(d, timeout=60)
        yield d
    finally:
        network.down(d)


BOB = "00112233445566778899aabbccddeeff00112233"


def send_on(net: Path) -> tuple[object, ...]:
    """``tx send`` with the network's admin key, to its first validator."""
    return ("tx", "send", "--key", net / "users" / "admin.key", "--network", net)


def test_tx_send_through_network_dir(net: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, *send_on(net), "--to", BOB, "--amount", "5")
    assert code == 0, err
    assert '"ok": true' in out
    code, out, err = cli(capsys, "block", "show", "1", "--network", net)
    assert code == 0 and "height" in out, err


def test_tx_send_failed_transaction_exits_1(net: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, *send_on(net), "--to", BOB, "--amount", str(10**18))
    assert code == 1
    assert '"ok": false' in out  # the receipt is still printed
    assert "transaction failed: insufficient balance" in one_error_line(err)


def test_tx_send_unknown_contract_says_why(net: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(
        capsys,
        *send_on(net),
        "--contract",
        "nosuch",
        "--method",
        "foo",
        "--timeout",
        "60",
    )
    assert code == 1
    line = one_error_line(err)
    assert "refused" in line and "nosuch" in line and "not committed" not in line


def test_json_paths_checked_up_front(net: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = "/nonexistent-dir/x.json"
    code, out, err = cli(capsys, "chain", "status", net, "--json", bad)
    assert code == 1 and "/nonexistent-dir" in one_error_line(err) and out == ""
    code, out, err = cli(capsys, *send_on(net), "--to", BOB, "--amount", "1", "--json", bad)
    assert code == 1 and "does not exist" in one_error_line(err) and out == ""
    key = net / "users" / "admin.key"
    code, _, err = cli(capsys, "tx", "send", "--key", key, "--url", "http://x", "--network", net)
    assert code == 1 and "not both" in one_error_line(err)
