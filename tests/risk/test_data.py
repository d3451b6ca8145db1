from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finchain.risk.data import LeakageWarning, load_credit_table, load_labelled_matrix
from finchain.risk.errors import SchemaError, ScoringInputError
from finchain.risk.train import TrainConfig, train


def _csv(frame: pd.DataFrame, sep: str = ",") -> io.StringIO:
    return io.StringIO(frame.to_csv(index=False, sep=sep))


def test_missing_target_names_close_columns() -> None:
    frame = pd.DataFrame({"default_flag": [0, 1] * 30, "x": range(60)})
    with pytest.raises(
        SchemaError, match=r"'default_flg' not in the data.*did you mean 'default_flag'"
    ):
        load_credit_table(_csv(frame), target="default_flg")


def test_non_binary_and_single_class_targets_are_rejected() -> None:
    frame = pd.DataFrame({"y": [0, 1, 2] * 20, "x": np.arange(60) % 7})
    with pytest.raises(SchemaError, match="must be binary but has 3 values"):
        load_credit_table(_csv(frame), target="y")
    frame = pd.DataFrame({"y": [1] * 60, "x": np.arange(60) % 7})
    with pytest.raises(SchemaError, match="one value only"):
        load_credit_table(_csv(frame), target="y")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no such data file"):
        load_credit_table(tmp_path / "nope.csv", target="y")


def test_id_columns_dropped_with_warning_and_types_inferred() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "Unnamed: 0": np.arange(200),
            "loan_id": [f"L{i}" for i in range(200)],
            "rate": [f"{v:.1f}%" for v in rng.uniform(5, 20, 200)],
            "grade": rng.choice(["A", "B", "C"], 200),
            "income": np.where(rng.random(200) < 0.2, np.nan, rng.normal(5000, 900, 200)),
            "const": 1,
            "status": rng.choice(["Fully Paid", "Charged Off"], 200),
        }
    )
    with pytest.warns(LeakageWarning):
        table = load_credit_table(_csv(frame, sep=";"), target="status")
    assert set(table.dropped) == {"Unnamed: 0", "loan_id", "const"}
    kinds = {c.name: c.kind for c in table.schema.columns}
    assert kinds == {"rate": "numeric", "grade": "categorical", "income": "numeric"}
    assert table.positive_label == "Charged Off"
    assert np.array_equal(table.y, (frame["status"] == "Charged Off").to_numpy().astype(int))
    m = table.matrix()
    assert np.isnan(m[:, 2]).sum() == frame["income"].isna().sum()


def test_target_copy_is_dropped_as_leakage() -> None:
    y = np.array([0, 1] * 50)
    frame = pd.DataFrame({"y": y, "leak": np.where(y == 1, "bad", "good"), "x": np.arange(100) % 9})
    with pytest.warns(LeakageWarning, match="reproduces the target"):
        table = load_credit_table(_csv(frame), target="y")
    assert "leak" in table.dropped


def test_encode_records_matches_encode_frame_and_rejects_text_numbers() -> None:
    y = np.random.default_rng(5).integers(0, 2, 60)
    frame = pd.DataFrame({"a": [1.5, np.nan, 3.0] * 20, "c": ["x", "y", "z"] * 20, "y": y})
    table = load_credit_table(_csv(frame), target="y")
    recs = [{"a": 1.5, "c": "x"}, {"c": "y"}, {"a": "3", "c": "unseen"}]
    got = table.schema.encode_records(recs)
    assert got[0].tolist() == [1.5, 0.0]
    assert np.isnan(got[1, 0]) and got[1, 1] == 1.0
    assert got[2, 0] == 3.0 and np.isnan(got[2, 1])
    np.testing.assert_array_equal(table.matrix()[:3], table.schema.encode_frame(frame.head(3)))
    with pytest.raises(ScoringInputError, match="'a' must be a number"):
        table.schema.encode_records([{"a": "lots"}])


def test_never_seen_csv_trains_without_code_changes(synthetic_csv: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = load_credit_table(synthetic_csv, target="defaulted")
    assert "customer_id" in table.dropped
    assert any(issubclass(w.category, LeakageWarning) for w in caught)
    res = train(table, TrainConfig(models=("scorecard", "lgbm", "nn"), quick=True))
    for name in ("scorecard", "lgbm", "nn"):
        assert res.metrics[name]["test"]["auc"] > 0.62, name
    pipe = res.pipelines[res.champion]
    x, y, sha = load_labelled_matrix(synthetic_csv, pipe.schema, target="defaulted")
    assert len(sha) == 64 and len(y) == len(x)
    rows = pipe.score_records([{"monthly_income": 900.0, "region": "west", "late_payments": 4}])
    assert rows.rows()[0]["decision"] in {"approve", "review", "decline"}
    values = {r["feature"]: r["value"] for r in rows.reasons[0]}
    assert values.get("region", "west") == "west"  # categories are shown by their label
