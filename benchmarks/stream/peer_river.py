"""River peer: per-card utils.TimeRolling(stats.Var) lookback plus hopping windows of
stats.Var objects (River has no window operator; windows close when event time passes their end).

Usage: python peer_river.py WORKDIR LIMIT
"""

from __future__ import annotations

import datetime as dt
import sys
import warnings

from common import SIZE, SLIDE, SPAN, Checksum, cpu, load, now, report
from river import stats, utils

warnings.filterwarnings("ignore")


def main() -> None:
    ts, card, amount = load(sys.argv[1], int(sys.argv[2]))
    epoch = dt.datetime(2026, 1, 1)
    times = [epoch + dt.timedelta(milliseconds=int(t)) for t in ts.tolist()]
    tl, cl, al = ts.tolist(), card.tolist(), amount.tolist()
    period = dt.timedelta(milliseconds=SPAN - 1)  # River keeps t_i > t - period: (t-300s, t]
    period = dt.timedelta(milliseconds=SPAN)
    lb = Checksum()
    hop = Checksum()
    rolls: dict[int, utils.TimeRolling] = {}
    open_windows: dict[int, dict[int, tuple[stats.Var, stats.Sum]]] = {}  # end -> card -> stats
    next_close = None
    start = now()
    start_cpu = cpu()
    for i in range(len(tl)):
        t, c, x = tl[i], cl[i], al[i]
        r = rolls.get(c)
        if r is None:
            r = rolls[c] = utils.TimeRolling(stats.Var, period=period, ddof=0)
        r.update(x, t=times[i])
        v = r.obj
        lb.add(v.mean.n, v.mean.get() * v.mean.n, v.get())
        # close every window that ended at or before t
        if next_close is not None and t >= next_close:
            for end in sorted(e for e in open_windows if e <= t):
                for var_, sum_ in open_windows.pop(end).values():
                    hop.add(var_.mean.n, sum_.get(), var_.get())
            next_close = min(open_windows) if open_windows else None
        s = t // SLIDE * SLIDE
        while s > t - SIZE:
            end = s + SIZE
            w = open_windows.setdefault(end, {})
            pair = w.get(c)
            if pair is None:
                pair = w[c] = (stats.Var(ddof=0), stats.Sum())
            pair[0].update(x)
            pair[1].update(x)
            if next_close is None or end < next_close:
                next_close = end
            s -= SLIDE
    for end in sorted(open_windows):
        for var_, sum_ in open_windows[end].values():
            hop.add(var_.mean.n, sum_.get(), var_.get())
    report("river", len(tl), now() - start, lb, hop, cpu_seconds=cpu() - start_cpu)


if __name__ == "__main__":
    main()
