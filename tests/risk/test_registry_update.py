from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finchain.risk.data import load_labelled_matrix
from finchain.risk.errors import ModelNotFoundError
from finchain.risk.registry import ModelRegistry
from finchain.risk.train import TrainResult
from finchain.risk.update import champion_challenger, update_pipeline


def test_registry_versions_status_and_fingerprints(
    model_dir: Path, uci_trained: TrainResult
) -> None:
    reg = ModelRegistry(model_dir)
    assert reg.champion() == "v0001"
    v2 = reg.add(uci_trained.pipelines["lgbm"], data_sha256=["ab" * 32], metrics={"auc": 0.7})
    assert v2 == "v0002" and reg.record(v2)["status"] == "challenger"
    reg.promote(v2)
    statuses = {r["version"]: r["status"] for r in reg.versions()}
    assert statuses == {"v0001": "retired", "v0002": "champion"}
    on_disk = json.loads((model_dir / v2 / "meta.json").read_text())
    assert on_disk["data_sha256"] == ["ab" * 32] and on_disk["created"]
    ver, pipe = reg.load()
    assert ver == "v0002" and pipe.kind == "lgbm"
    with pytest.raises(ModelNotFoundError):
        reg.promote("v0999")
    with pytest.raises(ModelNotFoundError):
        ModelRegistry(model_dir / "nothing").load()


def test_t0_update_warm_starts_and_compares(
    model_dir: Path, uci_small_csv: Path, tmp_path: Path
) -> None:
    reg = ModelRegistry(model_dir)
    _, champ = reg.load()
    frame = pd.read_csv(uci_small_csv).sample(1500, random_state=9)
    new_csv = tmp_path / "new.csv"
    frame.to_csv(new_csv, index=False)
    x, y, sha = load_labelled_matrix(new_csv, champ.schema, target="Y")
    xe = champ.expand(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        challenger = update_pipeline(champ, xe[:1000], y[:1000], extra_trees=20)
    lgbm_old = next(b for b in champ.model.bases if b.name == "lgbm")  # type: ignore[attr-defined]
    lgbm_new = next(b for b in challenger.model.bases if b.name == "lgbm")  # type: ignore[attr-defined]
    assert lgbm_new.booster.current_iteration() == lgbm_old.best_iteration + 20
    cmp = champion_challenger(champ, challenger, xe[1000:], y[1000:])
    assert 0.5 < cmp.challenger["auc"] <= 1 and isinstance(cmp.promote, bool)
    # the champion object is untouched by the update
    assert np.allclose(champ.predict(xe[:5]), reg.load()[1].predict(xe[:5]))
    assert len(sha) == 64
