"""The fault proxy on real sockets: clean pipe, cut, delay, drop, reset, corrupt, control socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finchain.chain.faults.proxy import HANDSHAKE_FRAMES, FaultError, ProxyHub
from finchain.chain.faults.scenario import Scenario

pytestmark = pytest.mark.timeout(120)


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


class Echo:
    """A framed echo server in its own thread (via a second hub loop)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        import threading

        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _serve(self) -> None:
        import threading

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                try:
                    conn.sendall(data)
                except OSError:
                    return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def hub() -> Iterator[tuple[ProxyHub, Echo]]:
    echo = Echo()
    h = ProxyHub(seed=7)
    h.start()
    try:
        yield h, echo
    finally:
        h.stop()
        echo.close()


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def read_frames(s: socket.socket, n: int, timeout: float = 5.0) -> list[bytes]:
    s.settimeout(timeout)
    buf = b""
    out: list[bytes] = []
    while len(out) < n:
        while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
            (k,) = struct.unpack(">I", buf[:4])
            out.append(buf[4 : 4 + k])
            buf = buf[4 + k :]
            if len(out) == n:
                return out
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return out


def test_clean_pipe_forwards_frames_in_order(hub: tuple[ProxyHub, Echo]) -> None:
    h, echo = hub
    p = h.add("a>b", ("127.0.0.1", echo.port))
    with connect(p.port) as s:
        msgs = [bytes([i]) * (i * 37 + 1) for i in range(50)]
        s.sendall(b"".join(frame(m) for m in msgs))
        assert read_frames(s, 50) == msgs
    assert h.state("a>b")["frames"] >= 100  # each frame passed both ways


def test_cut_closes_open_and_new_connections_until_heal(hub: tuple[ProxyHub, Echo]) -> None:
    h, echo = hub
    p = h.add("a>b", ("127.0.0.1", echo.port))
    s = connect(p.port)
    s.sendall(frame(b"x"))
    assert read_frames(s, 1) == [b"x"]
    h.cut("a>b")
    s.settimeout(5)
    assert s.recv(10) == b""  # the open connection was closed
    s.close()
    with connect(p.port) as s2:  # new ones are accepted then closed at once
        s2.settimeout(5)
        assert s2.recv(10) == b""
    h.heal("a>b")
    with connect(p.port) as s3:
        s3.sendall(frame(b"back"))
        assert read_frames(s3, 1) == [b"back"]


def test_delay_holds_frames_and_keeps_order(hub: tuple[ProxyHub, Echo]) -> None:
    h, echo = hub
    p = h.add("a>b", ("127.0.0.1", echo.port))
    h.set("a>b", delay_ms=150, jitter_ms=50)
    with connect(p.port) as s:
        t0 = time.monotonic()
        msgs = [str(i).encode() for i in range(20)]
        s.sendall(b"".join(frame(m) for m in msgs))
        got = read_frames(s, 20)
        # both directions pass the proxy: at least two delays for the round trip
        assert time.monotonic() - t0 >= 0.3
    assert got == msgs


def test_drop_loses_frames_after_the_handshake(hub: tuple[ProxyHub, Echo]) -> None:
    h, echo = hub
    p = h.add("a>b", ("127.0.0.1", echo.port))
    h.set("a>b", drop=1.0)
    with connect(p.port) as s:
        s.sendall(b"".join(frame(b"h%d" % i) for i in range(HANDSHAKE_FRAMES)))
        assert read_frames(s, HANDSHAKE_FRAMES) == [b"h0", b"h1"]
        s.sendall(frame(b"lost"))
        s.settimeout(0.5)
        with pytest.raises(TimeoutError):
            s.recv(10)
    assert h.state("a>b")["dropped"] >= 1
    h.set("a>b", drop=1.0, reset=True)
    with connect(p.port) as s:
        s.sendall(b"".join(frame(b"h") for _ in range(HANDSHAKE_FRAMES)))
        assert read_frames(s, HANDSHAKE_FRAMES) == [b"h"] * HANDSHAKE_FRAMES
        s.sendall(frame(b"boom"))
        s.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            assert s.recv(10) == b""  # the proxy closed the connection
    assert h.state("a>b")["resets"] == 1


def test_corrupt_flips_one_byte(hub: tuple[ProxyHub, Echo]) -> None:
    h, echo = hub
    p = h.add("a>b", ("127.0.0.1", echo.port))
    h.set("a>b", corrupt=1.0)
    with connect(p.port) as s:
        s.sendall(b"".join(frame(b"hs") for _ in range(HANDSHAKE_FRAMES)))
        read_frames(s, HANDSHAKE_FRAMES)
        body = bytes(range(64))
        s.sendall(frame(body))
        (got,) = read_frames(s, 1)
    # one byte flipped on the way in and one on the way back (maybe the same one)
    assert len(got) == len(body)
    assert sum(a != b for a, b in zip(got, body, strict=True)) <= 2
    assert h.state("a>b")["corrupted"] == 2


def test_control_socket(hub: tuple[ProxyHub, Echo]) -> None:
    h, echo = hub
    h.add("a>b", ("127.0.0.1", echo.port))
    port = h.serve_control()
    with connect(port) as c:
        f = c.makefile("rwb")

        def ask(req: dict) -> dict:  # type: ignore[type-arg]
            f.write(json.dumps(req).encode() + b"\n")
            f.flush()
            return json.loads(f.readline())  # type: ignore[no-any-return]

        assert ask({"op": "links"}) == {"ok": True, "links": ["a>b"]}
        assert ask({"op": "set", "link": "a>b", "delay_ms": 20})["state"]["delay_ms"] == 20
        assert ask({"op": "cut", "link": "a>b"})["state"]["cut"] is True
        assert ask({"op": "heal"}) == {"ok": True}
        assert h.state("a>b")["cut"] is False
        bad = ask({"op": "set", "link": "a>b", "drop": 2})
        assert bad["ok"] is False and "probability" in bad["error"]
        assert ask({"op": "cut", "link": "nope"})["ok"] is False


def test_bad_settings_are_refused(hub: tuple[ProxyHub, Echo]) -> None:
    h, echo = hub
    h.add("a>b", ("127.0.0.1", echo.port))
    with pytest.raises(FaultError, match="unknown link fault"):
        h.set("a>b", teleport=True)
    with pytest.raises(FaultError, match="no link"):
        h.cut("x>y")
    with pytest.raises(FaultError, match="already"):
        h.add("a>b", ("127.0.0.1", echo.port))


_actions = st.sampled_from(["kill", "pause", "resume", "restart", "cut", "heal", "delay"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 30), _actions), max_size=12))
def test_scenario_timeline_is_sorted_and_validated(items: list[tuple[float, str]]) -> None:
    raw = {"name": "h", "duration_s": 30, "timeline": []}
    for at, do in items:
        ev: dict = {"at": at, "do": do}  # type: ignore[type-arg]
        if do in ("kill", "pause", "resume", "restart"):
            ev["node"] = "v1"
        raw["timeline"].append(ev)  # type: ignore[attr-defined]
    sc = Scenario.from_dict(raw)
    times = [e.at for e in sc.timeline]
    assert times == sorted(times) and len(times) == len(items)
    assert sc.applies_to("raft") and sc.applies_to("hotstuff")


def test_scenario_errors_are_clear() -> None:
    with pytest.raises(FaultError, match="needs 'node'"):
        Scenario.from_dict({"name": "x", "timeline": [{"at": 1, "do": "kill"}]})
    with pytest.raises(FaultError, match="past duration_s"):
        Scenario.from_dict({"name": "x", "duration_s": 5, "timeline": [{"at": 9, "do": "heal"}]})
    with pytest.raises(FaultError, match="needs both"):
        Scenario.from_dict({"name": "x", "timeline": [{"at": 1, "do": "cut", "a": "v0"}]})
    byz = Scenario.from_dict({"name": "x", "fault_model": "byzantine"})
    assert not byz.applies_to("raft") and byz.applies_to("pbft")


def test_shipped_scenarios_parse() -> None:
    from finchain.chain.faults.scenario import builtin, builtin_dir

    names = sorted(p.stem for p in builtin_dir().glob("*.yaml"))
    assert {"short", "kill-restart", "pause-resume", "partition", "lossy", "corrupt"} <= set(names)
    for n in names:
        assert builtin(n).timeline
    with pytest.raises(FaultError, match="no built-in scenario"):
        builtin("nope")


def test_asyncio_unused() -> None:
    # the hub runs its own loop in a thread; the caller's thread needs none
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
