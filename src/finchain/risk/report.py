"""A self-contained HTML evaluation report: ROC, KS, calibration and score distributions.

Plots are drawn with matplotlib (Agg) and embedded as base64 PNGs, so the file can be mailed or
archived on its own.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from finchain.risk.metrics import evaluate, reliability, roc_points
from finchain.risk.models import ScoreScale


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def plot_images(y: np.ndarray, preds: Mapping[str, np.ndarray]) -> dict[str, str]:
    """Base64 PNGs keyed ``roc``, ``ks``, ``calibration`` and ``scores``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, p in preds.items():
        fpr, tpr, _ = roc_points(y, p)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(fontsize=8)
    out["roc"] = _png(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    name, p = next(iter(preds.items()))
    order = np.argsort(p)
    ys = y[order].astype(float)
    share = np.arange(1, len(ys) + 1) / len(ys)
    cum_bad = np.cumsum(ys) / max(ys.sum(), 1)
    cum_good = np.cumsum(1 - ys) / max((1 - ys).sum(), 1)
    k = int(np.argmax(np.abs(cum_good - cum_bad)))
    ax.plot(share, cum_good, label="good (CDF)")
    ax.plot(share, cum_bad, label="bad (CDF)")
    ax.vlines(
        share[k],
        cum_bad[k],
        cum_good[k],
        colors="r",
        label=f"KS {abs(cum_good[k] - cum_bad[k]):.3f}",
    )
    ax.set(
        xlabel="population share (ordered by risk, safest first)",
        ylabel="cumulative share",
        title=f"KS — {name}",
    )
    ax.legend(fontsize=8)
    out["ks"] = _png(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    for name, p in preds.items():
        r = reliability(y, p, 10)
        ax.plot(r["mean_predicted"], r["observed_rate"], "o-", label=name, ms=3)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    top = max(float(np.max(p)) for p in preds.values())
    ax.set(
        xlim=(0, min(1, top * 1.05)),
        ylim=(0, 1),
        xlabel="mean predicted PD",
        ylabel="observed bad rate",
        title="Calibration (equal-count deciles)",
    )
    ax.legend(fontsize=8)
    out["calibration"] = _png(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    name, p = next(iter(preds.items()))
    s = ScoreScale().score(p)
    bins = np.linspace(np.percentile(s, 0.5), np.percentile(s, 99.5), 40).tolist()
    ax.hist(s[y == 0], bins=bins, alpha=0.6, density=True, label="good")
    ax.hist(s[y == 1], bins=bins, alpha=0.6, density=True, label="bad")
    ax.set(
        xlabel="score (600 = 50:1, 20 points double the odds)",
        ylabel="density",
        title=f"Score distribution — {name}",
    )
    ax.legend(fontsize=8)
    out["scores"] = _png(fig)
    return out


def render_html(
    title: str,
    y: np.ndarray,
    preds: Mapping[str, np.ndarray],
    *,
    cutoffs: Mapping[str, float] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The report page: a metrics table per model and the four plots."""
    rows = []
    keys = ("auc", "ks", "gini", "accuracy", "brier", "ece", "approval_rate", "bad_rate_approved")
    for name, p in preds.items():
        m = evaluate(y, p, cutoff=(cutoffs or {}).get(name))
        cells = "".join(f"<td>{m[k]:.4f}</td>" for k in keys)
        rows.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    head = "".join(f"<th>{k}</th>" for k in keys)
    imgs = plot_images(np.asarray(y), preds)
    figs = "".join(
        f'<figure><img alt="{k}" src="data:image/png;base64,{v}">'
        f"<figcaption>{k}</figcaption></figure>"
        for k, v in imgs.items()
    )
    info = ""
    if extra:
        info = (
            "<ul>"
            + "".join(
                f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>"
                for k, v in extra.items()
            )
            + "</ul>"
        )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
figure{{display:inline-block;margin:8px}}</style>
</head><body><h1>{html.escape(title)}</h1>{info}
<p>n = {len(y)}, bad rate = {float(np.mean(y)):.4f}. Approval cut-off: the model's policy where
given, else the KS threshold; accuracy at 0.5.</p>
<table><tr><th>model</th>{head}</tr>{"".join(rows)}</table>{figs}</body></html>
"""


def write_report(path: str | Path, html_text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html_text, encoding="utf-8")
    return path
