"""Illicit-account classifier on the Ethereum fraud-account features (LightGBM).

The data set (Kaggle "Ethereum Fraud Detection Dataset", extending Farrugia, Ellul &
Azzopardi, *Detection of illicit accounts over the Ethereum blockchain*, Expert Systems with
Applications 150, 2020) has one row per address: ``FLAG`` (1 = illicit) and ~45 aggregate
features of its normal and ERC-20 transactions. Its licence is not verified, so no data or
trained model ships with finchain: the model is trained from the path given and cached in the
user's cache directory (``~/.cache/finchain/regtech``, or ``$FINCHAIN_CACHE``).

The reference figures (XGBoost, 10-fold CV): accuracy 0.963, AUC 0.994.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finchain.regtech.errors import BadInput, DataNotFound

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

DEFAULT_DATA = Path("../shared/data/ethereum_fraud_accounts/transaction_dataset.csv")
LABEL = "FLAG"
_DROP = {"", "Unnamed: 0", "Index", "Address", LABEL}
_CATEGORICAL = ("ERC20 most sent token type", "ERC20_most_rec_token_type")


def cache_dir() -> Path:
    """Where trained models are cached."""
    root = os.environ.get("FINCHAIN_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "finchain"
    return base / "regtech"


def load_accounts(path: Path) -> pd.DataFrame:
    """Read an account-feature CSV, column names stripped of stray spaces."""
    import pandas as pd

    if not path.exists():
        raise DataNotFound("account feature file", path)
    try:
        df = pd.read_csv(path, low_memory=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise BadInput(f"cannot read {path}: {exc}") from exc
    df.columns = [str(c).strip() for c in df.columns]
    return df


def feature_columns(df: pd.DataFrame) -> list[str]:
    """Numeric feature columns (identifiers, the label and token names left out)."""
    return [
        c
        for c in df.columns
        if c not in _DROP and c not in _CATEGORICAL and not c.startswith("Unnamed")
    ]


def _matrix(df: pd.DataFrame, cols: list[str]) -> np.ndarray:
    import numpy as np
    import pandas as pd

    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise BadInput(f"file lacks feature columns: {', '.join(missing[:5])}…")
    x = df[cols].apply(pd.to_numeric, errors="coerce")
    return np.asarray(x.to_numpy(dtype=float))


def _params(seed: int) -> dict[str, Any]:
    return {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_child_samples": 10,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.9,
        "bagging_freq": 1,
        "seed": seed,
        "num_threads": 1,
        "verbose": -1,
    }


@dataclass(frozen=True, slots=True)
class CvResult:
    """Cross-validated figures (mean and standard deviation over folds)."""

    accuracy: float
    accuracy_std: float
    auc: float
    auc_std: float
    folds: int
    rows: int


def cross_validate(
    df: pd.DataFrame, *, folds: int = 10, rounds: int = 400, seed: int = 0
) -> CvResult:
    """Stratified k-fold CV of the LightGBM model on ``df`` (which must carry ``FLAG``)."""
    import lightgbm as lgb
    import numpy as np
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    if LABEL not in df.columns:
        raise BadInput(f"the file has no {LABEL} label column")
    cols = feature_columns(df)
    x, y = _matrix(df, cols), df[LABEL].to_numpy(dtype=int)
    accs, aucs = [], []
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        booster = lgb.train(_params(seed), lgb.Dataset(x[tr], y[tr]), num_boost_round=rounds)
        p = np.asarray(booster.predict(x[te]))
        accs.append(accuracy_score(y[te], p >= 0.5))
        aucs.append(roc_auc_score(y[te], p))
    return CvResult(
        float(np.mean(accs)),
        float(np.std(accs)),
        float(np.mean(aucs)),
        float(np.std(aucs)),
        folds,
        len(y),
    )


class AccountModel:
    """A trained booster and the feature columns it expects."""

    def __init__(self, booster: Any, columns: list[str]) -> None:
        self.booster = booster
        self.columns = columns

    @classmethod
    def train(cls, df: pd.DataFrame, *, rounds: int = 400, seed: int = 0) -> AccountModel:
        """Fit on all of ``df``."""
        import lightgbm as lgb

        if LABEL not in df.columns:
            raise BadInput(f"training data needs the {LABEL} column")
        cols = feature_columns(df)
        ds = lgb.Dataset(_matrix(df, cols), df[LABEL].to_numpy(dtype=int))
        return cls(lgb.train(_params(seed), ds, num_boost_round=rounds), cols)

    def score(self, df: pd.DataFrame) -> np.ndarray:
        """Probability of being illicit for each row of ``df``."""
        import numpy as np

        return np.asarray(self.booster.predict(_matrix(df, self.columns)))

    def save(self, path: Path) -> None:
        """Write the booster and its column list next to each other."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(path))
        path.with_suffix(".columns.json").write_text(json.dumps(self.columns), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> AccountModel:
        """Read a model written by :meth:`save`."""
        import lightgbm as lgb

        cols = json.loads(path.with_suffix(".columns.json").read_text(encoding="utf-8"))
        return cls(lgb.Booster(model_file=str(path)), list(cols))

    @classmethod
    def cached_or_trained(cls, data: Path, *, retrain: bool = False) -> tuple[AccountModel, str]:
        """The cached model, or one trained from ``data`` and cached; says which."""
        path = cache_dir() / "account_model.txt"
        if path.exists() and not retrain:
            return cls.load(path), f"cached model {path}"
        model = cls.train(load_accounts(data))
        model.save(path)
        return model, f"trained from {data}, cached at {path}"


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUC and accuracy (threshold 0.5) of scores ``p`` against labels ``y``.

    >>> import numpy as np
    >>> metrics(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.6, 0.7]))
    {'auc': 0.75, 'accuracy': 0.75}
    """
    from sklearn.metrics import accuracy_score, roc_auc_score

    return {
        "auc": float(roc_auc_score(y, p)) if len(set(y.tolist())) == 2 else float("nan"),
        "accuracy": float(accuracy_score(y, p >= 0.5)),
    }
