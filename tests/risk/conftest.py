"""Shared fixtures: a never-seen synthetic credit table and small trained model directories."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finchain.risk.data import load_credit_table
from finchain.risk.registry import ModelRegistry
from finchain.risk.train import TrainConfig, TrainResult, train

REPO = Path(__file__).resolve().parents[2]
UCI = REPO / "data" / "uci_taiwan_credit_default" / "UCI_Credit_Card.csv"


def make_synthetic_credit(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """A credit table no code has seen: text categories, gaps, an id column, yes/no target."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.5, n)
    debt_ratio = rng.beta(2, 5, n)
    region = rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1])
    late = rng.poisson(0.5, n)
    age = rng.integers(21, 70, n).astype(float)
    z = -2.5 + 5 * debt_ratio + 0.9 * late - 0.8 * np.log(income / 20000) + (region == "west")
    bad = rng.random(n) < 1 / (1 + np.exp(-z))
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{100000 + i}" for i in range(n)],
            "monthly_income": np.where(rng.random(n) < 0.1, np.nan, income.round(2)),
            "debt_ratio": debt_ratio.round(4),
            "region": region,
            "late_payments": late,
            "age": age,
            "defaulted": np.where(bad, "yes", "no"),
        }
    )
    return frame


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("synthetic") / "applicants.csv"
    make_synthetic_credit().to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def uci_small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4,000-row stratified sample of UCI Taiwan (keeps fast tests fast)."""
    frame = pd.read_csv(UCI)
    from sklearn.model_selection import train_test_split

    sample, _ = train_test_split(frame, train_size=4000, stratify=frame["Y"], random_state=1)
    path = tmp_path_factory.mktemp("uci") / "uci_small.csv"
    sample.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def uci_trained(uci_small_csv: Path) -> TrainResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = load_credit_table(uci_small_csv, target="Y")
    return train(table, TrainConfig(models=("stack",), quick=True))


@pytest.fixture()
def model_dir(tmp_path: Path, uci_trained: TrainResult) -> Path:
    # the stack is registered whichever model won validation: the update and service tests
    # exercise all three components through it
    reg = ModelRegistry(tmp_path / "models")
    reg.add(
        uci_trained.pipelines["stack"],
        data_sha256=["0" * 64],
        metrics=uci_trained.metrics["stack"]["test"],
        status="champion",
    )
    return reg.root
