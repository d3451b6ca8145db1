"""T+0 updates: fold newly labelled data into the champion and race the result against it.

:func:`update_pipeline` warm-starts LightGBM (more trees boosted from the champion's ensemble on
the new rows), refits the scorecard's logistic regression on the new WOE inputs (keeping its
bins, so the points table stays readable), and recalibrates. :func:`champion_challenger`
compares both on a labelled holdout the challenger never saw.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from finchain.risk.metrics import auc, evaluate
from finchain.risk.models import (
    LgbmModel,
    PlattCalibrator,
    RiskModelBase,
    ScorecardModel,
    StackModel,
)
from finchain.risk.pipeline import RiskPipeline
from finchain.risk.train import stratified_split


def _update_component(
    model: RiskModelBase, x: np.ndarray, y: np.ndarray, *, extra_trees: int, categorical: list[int]
) -> RiskModelBase:
    if isinstance(model, LgbmModel):
        import lightgbm as lgb

        params = dict(model.params)
        booster = lgb.Booster(
            model_str=model.booster.model_to_string(num_iteration=model.best_iteration)
        )
        new = LgbmModel.fit(
            x,
            y,
            params=params,
            categorical=categorical,
            num_boost_round=extra_trees,
            init_model=booster,
        )
        new.best_iteration = new.booster.current_iteration()
        return new
    if isinstance(model, ScorecardModel):
        from sklearn.linear_model import LogisticRegression

        woe = model.binner.transform(x[:, model.columns])
        lr = LogisticRegression(C=1.0, max_iter=1000).fit(woe, y)
        return ScorecardModel(
            binner=model.binner,
            columns=model.columns,
            coef=np.asarray(lr.coef_[0]),
            intercept=float(lr.intercept_[0]),
            scale=model.scale,
        )
    if isinstance(model, StackModel):
        bases = [
            _update_component(b, x, y, extra_trees=extra_trees, categorical=categorical)
            for b in model.bases
        ]
        return StackModel(bases, model.coef.copy(), model.intercept)
    return model  # the neural net is kept as is


def update_pipeline(
    champion: RiskPipeline,
    x: np.ndarray,
    y: np.ndarray,
    *,
    extra_trees: int = 100,
    seed: int = 42,
) -> RiskPipeline:
    """A challenger built from ``champion`` and newly labelled rows (expanded matrix ``x``)."""
    fit_i, cal_i = stratified_split(y, 0.25, seed)
    model = _update_component(
        champion.model,
        x[fit_i],
        y[fit_i],
        extra_trees=extra_trees,
        categorical=champion.schema.categorical_indices,
    )
    new = copy.copy(champion)
    new.model = model
    if champion.calibrator is not None:
        new.calibrator = PlattCalibrator.fit(model.logit(x[cal_i]), y[cal_i])
    elif isinstance(model, StackModel):
        z = np.column_stack([b.logit(x[cal_i]) for b in model.bases])
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1.0, max_iter=1000).fit(z, y[cal_i])
        model.coef, model.intercept = np.asarray(lr.coef_[0]), float(lr.intercept_[0])
    if isinstance(model, StackModel) and champion.reason_model is not None:
        new.reason_model = next((b for b in model.bases if isinstance(b, ScorecardModel)), None)
    return new


@dataclass
class Comparison:
    champion: dict[str, Any]
    challenger: dict[str, Any]
    promote: bool

    def summary(self) -> dict[str, Any]:
        return {
            "champion_auc": self.champion["auc"],
            "challenger_auc": self.challenger["auc"],
            "champion_ks": self.champion["ks"],
            "challenger_ks": self.challenger["ks"],
            "promote": self.promote,
        }


def champion_challenger(
    champion: RiskPipeline,
    challenger: RiskPipeline,
    x: np.ndarray,
    y: np.ndarray,
    *,
    min_gain: float = 0.0,
) -> Comparison:
    """Evaluate both on a holdout; promote when the challenger's AUC gains at least ``min_gain``."""
    pc, pn = champion.predict(x), challenger.predict(x)
    a = evaluate(y, pc, cutoff=champion.policy.approve_below)
    b = evaluate(y, pn, cutoff=challenger.policy.approve_below)
    return Comparison(a, b, promote=auc(y, pn) >= auc(y, pc) + min_gain)
