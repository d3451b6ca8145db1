"""Bytewax peer: lookback with op.stateful_map per card; hopping with the framework's own
windowing (fold_window + SlidingWindower + EventClock). The clock's now_getter is pinned so
the watermark follows event time only (with the default wall clock a slow run turns in-order
events late). Usage: python peer_bytewax.py WORKDIR LIMIT
"""

from __future__ import annotations

import datetime as dt
import sys

import bytewax.operators as op
import bytewax.operators.windowing as win
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main
from common import SIZE, SLIDE, SPAN, Checksum, cpu, load, now, report, var_of

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def main() -> None:
    ts, card, amount = load(sys.argv[1], int(sys.argv[2]))
    items = list(zip(ts.tolist(), card.tolist(), amount.tolist(), strict=True))
    lb = Checksum()
    hop = Checksum()
    late = [0]

    def lookback(state, e):
        if state is None:
            state = [[], [], 0, 0, 0, 0]  # times, values, head, n, s, q
        tl, xl = state[0], state[1]
        h, n, s, q = state[2], state[3], state[4], state[5]
        t, _, x = e
        cut = t - SPAN
        while h < len(tl) and tl[h] <= cut:
            v = xl[h]
            n -= 1
            s -= v
            q -= v * v
            h += 1
        if h > 64 and h * 2 > len(tl):
            del tl[:h]
            del xl[:h]
            h = 0
        tl.append(t)
        xl.append(x)
        n += 1
        s += x
        q += x * x
        state[2], state[3], state[4], state[5] = h, n, s, q
        return state, (n, s, var_of(n, s, q))

    flow = Dataflow("bench")
    inp = op.input("inp", flow, TestingSource(items, batch_size=1000))
    keyed = op.key_on("key", inp, lambda e: str(e[1]))
    out = op.stateful_map("lookback", keyed, lookback)
    op.inspect("lb_sink", out, lambda _s, kv: lb.add(kv[1][0], kv[1][1], kv[1][2]))
    pinned = EPOCH
    clock = win.EventClock(
        lambda e: EPOCH + dt.timedelta(milliseconds=e[0]),
        wait_for_system_duration=dt.timedelta(0),
        now_getter=lambda: pinned,
    )
    windower = win.SlidingWindower(
        length=dt.timedelta(milliseconds=SIZE),
        offset=dt.timedelta(milliseconds=SLIDE),
        align_to=EPOCH,
    )

    def folder(acc, e):
        x = e[2]
        return (acc[0] + 1, acc[1] + x, acc[2] + x * x)

    def merger(a, b):
        return (a[0] + b[0], a[1] + b[1], a[2] + b[2])

    wo = win.fold_window("hop", keyed, clock, windower, lambda: (0, 0, 0), folder, merger)
    op.inspect(
        "hop_sink", wo.down, lambda _s, kv: hop.add(kv[1][1][0], kv[1][1][1], var_of(*kv[1][1]))
    )
    op.inspect("late", wo.late, lambda _s, kv: late.__setitem__(0, late[0] + 1))
    start = now()
    start_cpu = cpu()
    run_main(flow)
    report(
        "bytewax",
        len(items),
        now() - start,
        lb,
        hop,
        cpu_seconds=cpu() - start_cpu,
        late_assignments=late[0],
    )


if __name__ == "__main__":
    main()
