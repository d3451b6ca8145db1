"""Pathway peer: hopping via windowby(sliding) per card (origin -50 s, so the windows that
start before 0 exist, as in the other engines); lookback via an interval self-join on card over
[t - 299,999 ms, t] reduced per event. Static (batch) mode through pw.debug, which was Pathway's
fastest exact path on this workload. Usage: python peer_pathway.py WORKDIR LIMIT
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("PATHWAY_DISABLE_PROGRESS", "1")

import pandas as pd
import pathway as pw
from common import SIZE, SLIDE, SPAN, Checksum, cpu, load, now, report, var_of


def main() -> None:
    ts, card, amount = load(sys.argv[1], int(sys.argv[2]))
    df = pd.DataFrame({"t": ts, "card": card, "amount": amount})
    start = now()
    start_cpu = cpu()
    t = pw.debug.table_from_pandas(df)
    hop = t.windowby(
        t.t,
        window=pw.temporal.sliding(hop=SLIDE, duration=SIZE, origin=-(SIZE - SLIDE)),
        instance=t.card,
    ).reduce(
        n=pw.reducers.count(),
        s=pw.reducers.sum(pw.this.amount),
        q=pw.reducers.sum(pw.this.amount * pw.this.amount),
    )
    t2 = t.copy()
    joined = t.interval_join(
        t2, t.t, t2.t, pw.temporal.interval(-(SPAN - 1), 0), t.card == t2.card
    ).select(ev=pw.left.id, x=pw.right.amount)
    lbt = joined.groupby(pw.this.ev).reduce(
        n=pw.reducers.count(),
        s=pw.reducers.sum(pw.this.x),
        q=pw.reducers.sum(pw.this.x * pw.this.x),
    )
    hop_df, lb_df = pw.debug.table_to_pandas(hop), pw.debug.table_to_pandas(lbt)
    seconds = now() - start
    cpu_seconds = cpu() - start_cpu
    hc, lc = Checksum(), Checksum()
    for n, s, q in zip(hop_df.n.tolist(), hop_df.s.tolist(), hop_df.q.tolist(), strict=True):
        hc.add(n, s, var_of(n, s, q))
    for n, s, q in zip(lb_df.n.tolist(), lb_df.s.tolist(), lb_df.q.tolist(), strict=True):
        lc.add(n, s, var_of(n, s, q))
    report("pathway", len(df), seconds, lc, hc, cpu_seconds=cpu_seconds)


if __name__ == "__main__":
    main()
