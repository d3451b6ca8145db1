"""Brute-force reference semantics for the engine (kept deliberately naive)."""

from __future__ import annotations

import math
from typing import Any


def simulate_release(events, ooo, lateness):
    """Arrival-ordered ``(ts, key, x)`` → (released ``(ts, key, x, offset, late)``, dropped)."""
    released, dropped, buf = [], [], []
    max_ts = None
    for off, (t, k, x) in enumerate(events):
        wm = None if max_ts is None else max_ts - ooo
        if wm is not None and t < wm:
            if t < wm - lateness:
                dropped.append(off)
            else:
                released.append((t, k, x, off, True))
            continue
        max_ts = t if max_ts is None else max(max_ts, t)
        buf.append((t, off, k, x))
        buf.sort()
        while buf and buf[0][0] <= max_ts - ooo:
            t2, o2, k2, x2 = buf.pop(0)
            released.append((t2, k2, x2, o2, False))
    for t2, o2, k2, x2 in sorted(buf):
        released.append((t2, k2, x2, o2, False))
    return released, dropped


def moments(xs: list[Any]) -> dict[str, Any]:
    n = len(xs)
    s = sum(xs)
    mean = s / n
    var = sum((v - mean) ** 2 for v in xs) / n
    return {
        "count": n,
        "sum": s,
        "mean": mean,
        "var": var,
        "std": math.sqrt(var),
        "min": min(xs),
        "max": max(xs),
    }


def lookback(released, span):
    out = []
    for i, (t, k, _x, _o, _l) in enumerate(released):
        xs = [x2 for (t2, k2, x2, _, _) in released[: i + 1] if k2 == k and t - span < t2 <= t]
        out.append(moments(xs))
    return out


def hopping(released, size, slide):
    acc: dict[tuple[Any, int], list[Any]] = {}
    for t, k, x, _o, _l in released:
        s = t // slide * slide
        while s > t - size:
            acc.setdefault((k, s), []).append(x)
            s -= slide
    return {key: moments(xs) for key, xs in acc.items()}


def sessions(released, gap):
    by_key: dict[Any, list[tuple[int, Any]]] = {}
    for t, k, x, _o, _l in released:
        by_key.setdefault(k, []).append((t, x))
    out = {}
    for k, items in by_key.items():
        items.sort(key=lambda p: p[0])
        cur = [items[0]]
        for t, x in items[1:]:
            if t - cur[-1][0] >= gap:
                out[(k, cur[0][0])] = (cur[-1][0] + gap, moments([v for _, v in cur]))
                cur = []
            cur.append((t, x))
        out[(k, cur[0][0])] = (cur[-1][0] + gap, moments([v for _, v in cur]))
    return out
