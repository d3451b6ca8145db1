"""Strategy optimisation: cut-offs per segment and credit limits as a mixed-integer programme.

Given scored applicants (probability of bad ``p_i``, segment ``s(i)``), choose for every segment
one approval cut-off ``c_k`` (approve ``p_i < c_k``; ``k = 0`` approves nobody) and one credit
limit ``L_l`` from a menu. With ``N_sk`` the applicants approved and ``B_sk = Σ p_i`` their
expected bads, binary ``z_skl`` picks the pair (k, l) for segment s:

    maximise   Σ z_skl · N_sk · L_l                                    (approved volume)
          or   Σ z_skl · L_l · (m · (N_sk − B_sk) − lgd · B_sk)          (expected profit)
    subject to Σ_kl z_skl = 1                                  for every segment s
               Σ z_skl · (B_sk − cap · N_sk) ≤ 0                expected bad rate ≤ cap
               Σ_kl z_skl · N_sk ≥ a_min · N_s                  minimum approval per segment
               Σ z_skl · N_sk · L_l ≤ budget                     (optional) total exposure

(with ``weighting="exposure"`` the bad-rate row is weighted by ``L_l``). Solved by HiGHS through
:func:`scipy.optimize.milp`; :func:`efficient_frontier` sweeps the cap.

Example:
    >>> p = np.array([0.01, 0.02, 0.03, 0.2, 0.01, 0.5])
    >>> seg = np.array(["a", "a", "a", "a", "b", "b"])
    >>> plan = optimise_strategy(p, seg, bad_rate_cap=0.02, limits=[100])
    >>> plan.expected_bad_rate <= 0.02, plan.approved
    (True, 4)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from finchain.risk.errors import StrategyError


@dataclass
class SegmentPlan:
    segment: str
    cutoff: float
    limit: int
    applicants: int
    approved: int
    expected_bad_rate: float


@dataclass
class StrategyPlan:
    segments: list[SegmentPlan]
    objective: float
    bad_rate_cap: float
    approved: int
    applicants: int
    expected_bad_rate: float
    volume: int

    def to_json(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "bad_rate_cap": self.bad_rate_cap,
            "approved": self.approved,
            "applicants": self.applicants,
            "approval_rate": self.approved / max(self.applicants, 1),
            "expected_bad_rate": self.expected_bad_rate,
            "volume": self.volume,
            "segments": [s.__dict__ for s in self.segments],
        }


def _candidates(ps: np.ndarray, n_cutoffs: int) -> np.ndarray:
    """Cut-offs just above the segment's probabilities (every one for small segments, else
    quantiles), plus 0 (approve none)."""
    if len(ps) <= 400:
        qs = np.unique(ps)
    else:
        qs = np.unique(np.quantile(ps, np.linspace(0, 1, n_cutoffs + 1)[1:]))
    return np.r_[0.0, np.nextafter(qs, np.inf)]


def optimise_strategy(
    p: np.ndarray,
    segments: np.ndarray,
    *,
    bad_rate_cap: float = 0.02,
    limits: Sequence[int] = (1_000_000,),
    objective: Literal["volume", "profit"] = "volume",
    min_approval: float | dict[str, float] = 0.0,
    budget: int | None = None,
    margin: float = 0.05,
    lgd: float = 0.6,
    weighting: Literal["count", "exposure"] = "count",
    n_cutoffs: int = 50,
    time_limit: float = 30.0,
) -> StrategyPlan:
    """Solve the cut-off and limit programme; raises :class:`StrategyError` when infeasible."""
    from scipy.optimize import LinearConstraint, milp

    p = np.asarray(p, dtype=float)
    seg = np.asarray(segments).astype(str)
    if len(p) != len(seg) or len(p) == 0:
        raise StrategyError("need one segment per scored applicant, and at least one applicant")
    if not 0 < bad_rate_cap < 1:
        raise StrategyError("bad-rate cap must be between 0 and 1")
    lims = np.asarray(sorted(set(int(v) for v in limits)), dtype=float)
    if len(lims) == 0 or (lims <= 0).any():
        raise StrategyError("credit limits must be positive integers (minor units)")
    names = sorted(set(seg.tolist()))
    cols: list[tuple[int, float, float, float, float]] = []  # (s, cutoff, N, B, limit)
    for s, name in enumerate(names):
        ps = np.sort(p[seg == name])
        cum = np.r_[0.0, np.cumsum(ps)]
        for c in _candidates(ps, n_cutoffs):
            n_app = int(np.searchsorted(ps, c, side="left"))
            for lim in lims:
                cols.append((s, float(c), float(n_app), float(cum[n_app]), float(lim)))
    arr = np.array(cols)
    s_idx, cut, nn, bb, ll = (arr[:, i] for i in range(5))
    if objective == "volume":
        obj = nn * ll
    elif objective == "profit":
        obj = ll * (margin * (nn - bb) - lgd * bb)
    else:
        raise StrategyError(f"unknown objective {objective!r}")
    scale = max(float(np.abs(obj).max()), 1.0)
    rows, lo, hi = [], [], []
    for s in range(len(names)):
        rows.append((s_idx == s).astype(float))
        lo.append(1.0)
        hi.append(1.0)
    w = ll / ll.max() if weighting == "exposure" else np.ones_like(ll)
    rows.append(w * (bb - bad_rate_cap * nn))
    lo.append(-np.inf)
    hi.append(0.0)
    for s, name in enumerate(names):
        a_min = min_approval.get(name, 0.0) if isinstance(min_approval, dict) else min_approval
        if a_min > 0:
            n_s = float((seg == name).sum())
            rows.append(np.where(s_idx == s, nn, 0.0))
            # approvals are whole applicants: a rate of 1e-9 of 20 still needs one (the
            # solver's feasibility tolerance would otherwise accept none)
            lo.append(float(math.ceil(a_min * n_s - 1e-9)))
            hi.append(np.inf)
    if budget is not None:
        rows.append(nn * ll)
        lo.append(-np.inf)
        hi.append(float(budget))
    res = milp(
        c=-obj / scale,
        constraints=LinearConstraint(np.vstack(rows), lo, hi),
        integrality=np.ones(len(obj)),
        bounds=(0, 1),
        options={"time_limit": time_limit, "mip_rel_gap": 1e-6},
    )
    if res.x is None or res.status not in (0, 1):
        raise StrategyError(
            f"no strategy meets the constraints (bad rate ≤ {bad_rate_cap:.2%}, min approval "
            f"{min_approval}): {res.message}"
        )
    chosen = np.flatnonzero(res.x > 0.5)
    plans = []
    for j in chosen:
        s = int(s_idx[j])
        plans.append(
            SegmentPlan(
                segment=names[s],
                cutoff=float(cut[j]),
                limit=int(ll[j]),
                applicants=int((seg == names[s]).sum()),
                approved=int(nn[j]),
                expected_bad_rate=float(bb[j] / nn[j]) if nn[j] else 0.0,
            )
        )
    approved = int(nn[chosen].sum())
    exp_bad = float(bb[chosen].sum() / approved) if approved else 0.0
    return StrategyPlan(
        segments=sorted(plans, key=lambda q: q.segment),
        objective=float(obj[chosen].sum()),
        bad_rate_cap=bad_rate_cap,
        approved=approved,
        applicants=len(p),
        expected_bad_rate=exp_bad,
        volume=int((nn[chosen] * ll[chosen]).sum()),
    )


def efficient_frontier(
    p: np.ndarray,
    segments: np.ndarray,
    caps: Sequence[float],
    **kwargs: Any,
) -> list[dict[str, float]]:
    """Best objective, approval and volume for each bad-rate cap (infeasible caps skipped)."""
    out = []
    for cap in caps:
        try:
            plan = optimise_strategy(p, segments, bad_rate_cap=cap, **kwargs)
        except StrategyError:
            continue
        out.append(
            {
                "cap": cap,
                "objective": plan.objective,
                "approval_rate": plan.approved / plan.applicants,
                "expected_bad_rate": plan.expected_bad_rate,
                "volume": plan.volume,
            }
        )
    return out


def single_cutoff_curve(p: np.ndarray, caps: Sequence[float]) -> list[dict[str, float]]:
    """The best approval rate with one global cut-off for each cap (the baseline to beat)."""
    ps = np.sort(np.asarray(p, dtype=float))
    rate = np.cumsum(ps) / np.arange(1, len(ps) + 1)
    out = []
    for cap in caps:
        ok = np.flatnonzero(rate <= cap)
        n = int(ok[-1] + 1) if ok.size else 0
        out.append({"cap": cap, "approval_rate": n / len(ps)})
    return out


def plot_frontier(
    frontier: list[dict[str, float]], baseline: list[dict[str, float]], path: str
) -> None:
    """Approval rate against the expected bad-rate cap, MILP per segment vs one global cut-off."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(
        [f["cap"] * 100 for f in frontier],
        [f["approval_rate"] * 100 for f in frontier],
        "o-",
        label="MILP: cut-off and limit per segment",
    )
    ax.plot(
        [b["cap"] * 100 for b in baseline],
        [b["approval_rate"] * 100 for b in baseline],
        "s--",
        label="one global cut-off",
    )
    ax.set(
        xlabel="expected bad-rate cap (%)", ylabel="approval rate (%)", title="Efficient frontier"
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
