"""Model components: points scorecard, LightGBM, a neural net (scikit-learn MLP) and a stack.

Every component maps an encoded feature matrix (see :class:`finchain.risk.data.TableSchema`, plus
interaction columns) to the log-odds of bad. Components are small, picklable and predict with
numpy on the request path. :class:`RiskModelBase` is the extension point: a new model implements
``fit`` and ``logit``; ``predict_proba`` and ``contributions`` are shared.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from finchain.risk.binning import Binner


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.asarray(np.log(p / (1 - p)))


@dataclass(frozen=True)
class ScoreScale:
    """Points-to-double-odds scaling: ``score = offset + factor · ln(odds good:bad)``.

    With the defaults a score of 600 means odds of 50:1 and every 20 points double the odds.

    >>> s = ScoreScale()
    >>> [round(float(v), 3) for v in s.score(np.array([1 / 51, 1 / 101]))]
    [600.0, 620.0]
    """

    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def score(self, p_bad: np.ndarray) -> np.ndarray:
        return self.offset - self.factor * logit(p_bad)


class RiskModelBase(ABC):
    """A fitted component: encoded matrix → log-odds of bad."""

    name: str = "model"

    @abstractmethod
    def logit(self, x: np.ndarray) -> np.ndarray:
        """Log-odds of bad for each row."""

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return sigmoid(self.logit(x))

    def contributions(self, x: np.ndarray) -> np.ndarray | None:
        """Per-feature contributions to the log-odds (rows × features), when the model has them."""
        return None


@dataclass
class ScorecardModel(RiskModelBase):
    """Binned logistic regression (WOE inputs) turned into a points table.

    Points of feature ``j`` in bin ``b``: ``−(β_j·WOE_jb + β_0/n)·factor + offset/n``, so the sum
    of a row's points equals ``ScoreScale.score`` of the regression's probability.
    """

    binner: Binner
    columns: list[int]  # indices into the encoded matrix
    coef: np.ndarray
    intercept: float
    scale: ScoreScale = field(default_factory=ScoreScale)
    name: str = "scorecard"

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        binner: Binner,
        *,
        min_iv: float = 0.02,
        max_features: int = 20,
        scale: ScoreScale | None = None,
    ) -> ScorecardModel:
        from sklearn.linear_model import LogisticRegression

        iv = binner.iv
        cols = [int(j) for j in np.argsort(-iv) if iv[j] >= min_iv][:max_features]
        if not cols:
            cols = [int(np.argmax(iv))]
        woe_all = binner.transform(x)
        # drop features whose coefficient has the wrong sign (collinearity), refit until clean
        for _ in range(len(cols)):
            lr = LogisticRegression(C=1.0, max_iter=1000)
            lr.fit(woe_all[:, cols], y)
            coef = lr.coef_[0]
            wrong = [c for c, b in zip(cols, coef, strict=True) if b > 0]
            if not wrong or len(cols) == 1:
                break
            cols = [c for c in cols if c not in wrong]
        return cls(
            binner=Binner([binner.bins[c] for c in cols]),
            columns=cols,
            coef=np.asarray(lr.coef_[0], dtype=float),
            intercept=float(lr.intercept_[0]),
            scale=scale or ScoreScale(),
        )

    def _woe(self, x: np.ndarray) -> np.ndarray:
        return self.binner.transform(x[:, self.columns])

    def logit(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.intercept + self._woe(x) @ self.coef)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros(x.shape)
        out[:, self.columns] = self._woe(x) * self.coef
        return out

    def points_table(self) -> list[dict[str, Any]]:
        """Points of every bin of every scorecard feature (the printable scorecard)."""
        n = len(self.columns)
        f, o = self.scale.factor, self.scale.offset
        rows = []
        for fb, b in zip(self.binner.bins, self.coef, strict=True):
            pts = -(b * fb.woe + self.intercept / n) * f + o / n
            for label, woe, p, cnt, br in zip(
                fb.labels(), fb.woe, pts, fb.counts, fb.bad_rates, strict=True
            ):
                rows.append(
                    {
                        "feature": fb.name,
                        "bin": label,
                        "woe": float(woe),
                        "points": round(float(p), 1),
                        "count": int(cnt),
                        "bad_rate": None if np.isnan(br) else float(br),
                    }
                )
        return rows

    def points(self, x: np.ndarray) -> np.ndarray:
        """Points per scorecard feature for each row (rows × scorecard features)."""
        n = len(self.columns)
        f, o = self.scale.factor, self.scale.offset
        return np.asarray(-(self._woe(x) * self.coef + self.intercept / n) * f + o / n)


@dataclass
class LgbmModel(RiskModelBase):
    """A LightGBM booster on the encoded matrix (categories as native categorical splits)."""

    booster: Any
    params: dict[str, Any]
    best_iteration: int
    name: str = "lgbm"

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        *,
        params: dict[str, Any],
        categorical: list[int],
        valid: tuple[np.ndarray, np.ndarray] | None = None,
        num_boost_round: int = 3000,
        early_stopping: int = 150,
        seed: int = 0,
        init_model: Any = None,
    ) -> LgbmModel:
        import lightgbm as lgb

        full = {
            "objective": "binary",
            "metric": "auc",
            "verbosity": -1,
            "seed": seed,
            "num_threads": 1,
            "deterministic": True,
            "force_row_wise": True,
            **params,
        }
        train = lgb.Dataset(x, y, categorical_feature=categorical or "auto", free_raw_data=False)
        callbacks: list[Any] = []
        valid_sets = []
        if valid is not None:
            valid_sets = [lgb.Dataset(valid[0], valid[1], reference=train)]
            callbacks = [lgb.early_stopping(early_stopping, verbose=False)]
        booster = lgb.train(
            full,
            train,
            num_boost_round=num_boost_round,
            valid_sets=valid_sets,
            callbacks=callbacks,
            init_model=init_model,
            keep_training_booster=True,
        )
        best = booster.best_iteration or booster.current_iteration()
        return cls(booster=booster, params=full, best_iteration=int(best))

    def logit(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(
            self.booster.predict(
                x, raw_score=True, num_iteration=self.best_iteration, num_threads=1
            )
        )

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions (LightGBM ``pred_contrib``), without the bias column."""
        c = self.booster.predict(
            x, pred_contrib=True, num_iteration=self.best_iteration, num_threads=1
        )
        return np.asarray(c)[:, :-1]


@dataclass
class NeuralNetModel(RiskModelBase):
    """A two-layer perceptron (scikit-learn ``MLPClassifier``) on WOE plus scaled raw inputs."""

    binner: Binner
    numeric: list[int]
    centre: np.ndarray
    spread: np.ndarray
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    name: str = "nn"

    def _inputs(self, x: np.ndarray) -> np.ndarray:
        raw = x[:, self.numeric]
        raw = np.where(np.isnan(raw), self.centre, raw)
        scaled = np.clip((raw - self.centre) / self.spread, -5, 5)
        return np.hstack([self.binner.transform(x[:, : len(self.binner.bins)]), scaled])

    @classmethod
    def fit(
        cls, x: np.ndarray, y: np.ndarray, binner: Binner, *, numeric: list[int], seed: int = 0
    ) -> NeuralNetModel:
        from sklearn.neural_network import MLPClassifier

        raw = x[:, numeric]
        centre = np.nanmedian(raw, axis=0)
        centre = np.where(np.isnan(centre), 0.0, centre)
        q1, q3 = np.nanpercentile(raw, [25, 75], axis=0)
        spread = np.where(np.isnan(q3 - q1) | (q3 - q1 <= 0), 1.0, q3 - q1)
        model = cls(binner, numeric, centre, spread, [], [])
        mlp = MLPClassifier(
            hidden_layer_sizes=(32, 16),
            alpha=1e-3,
            learning_rate_init=1e-3,
            batch_size=256,
            max_iter=200,
            early_stopping=True,
            n_iter_no_change=10,
            random_state=seed,
        )
        mlp.fit(model._inputs(x), y)
        model.weights = [np.asarray(w) for w in mlp.coefs_]
        model.biases = [np.asarray(b) for b in mlp.intercepts_]
        return model

    def logit(self, x: np.ndarray) -> np.ndarray:
        h = self._inputs(x)
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            h = np.maximum(h @ w + b, 0.0)
        return np.asarray((h @ self.weights[-1] + self.biases[-1])[:, 0])


@dataclass
class StackModel(RiskModelBase):
    """Logistic regression over the base models' log-odds, fitted on a held-back split."""

    bases: list[RiskModelBase]
    coef: np.ndarray
    intercept: float
    name: str = "stack"

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, bases: list[RiskModelBase]) -> StackModel:
        from sklearn.linear_model import LogisticRegression

        z = np.column_stack([b.logit(x) for b in bases])
        lr = LogisticRegression(C=1.0, max_iter=1000).fit(z, y)
        return cls(bases, np.asarray(lr.coef_[0]), float(lr.intercept_[0]))

    def logit(self, x: np.ndarray) -> np.ndarray:
        z = np.column_stack([b.logit(x) for b in self.bases])
        return np.asarray(self.intercept + z @ self.coef)

    def contributions(self, x: np.ndarray) -> np.ndarray | None:
        """Weighted sum of the bases' contributions (those that have them)."""
        total: np.ndarray | None = None
        for b, w in zip(self.bases, self.coef, strict=True):
            c = b.contributions(x)
            if c is not None:
                total = c * w if total is None else total + c * w
        return total


@dataclass
class PlattCalibrator:
    """``p = σ(a·z + b)`` fitted on held-back log-odds ``z`` (Platt, 1999)."""

    a: float = 1.0
    b: float = 0.0

    @classmethod
    def fit(cls, z: np.ndarray, y: np.ndarray) -> PlattCalibrator:
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6, max_iter=1000).fit(z.reshape(-1, 1), y)
        return cls(float(lr.coef_[0, 0]), float(lr.intercept_[0]))

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return sigmoid(self.a * z + self.b)
