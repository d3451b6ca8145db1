"""Scam (Chinese) and hype (English) text classifiers: TF-IDF features, a linear model.

* Chinese: telecom-fraud texts, five classes (normal, impersonating police/government,
  loan/credit-card fraud, impersonating customer service, impersonating a boss or
  acquaintance; Li, Zhang & Jiang 2024). Features: character 1–3-grams plus words segmented by
  ``jieba``. The data is GPL-3.0 and research-only, so it is read from a path, never shipped.
* English: Telegram pump-and-dump messages (Bolz et al. 2024, MIT). The detection task is
  binary — promotion of a pump (announcement, countdown, coin release, result, delay: labels
  0–4) versus anything else (label 5); the six-class task is reported too. Features:
  character 2–5-grams within word boundaries plus word 1–2-grams.

The held-out split is fixed (stratified, ``seed`` 20240611, 20 %) and only used to report.

>>> m = TextModel.fit(["win free coins now", "pump at 8pm buy", "weather is fine",
...                    "meeting at noon"] * 5, ["hype", "hype", "other", "other"] * 5, lang="en")
>>> m.predict(["buy the pump now"])[0]
'hype'
"""

from __future__ import annotations

import csv
import os
import pickle
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from finchain.regtech.errors import BadInput, DataNotFound

Lang = Literal["cn", "en"]
SEED = 20240611
CN_DATA = Path("../shared/data/telecom_fraud_texts_cn")
EN_DATA = Path("../shared/data/pump_dump_telegram_messages")
CN_NAMES = {"0": "normal"}
EN_NAMES = {
    "0": "pump_announcement",
    "1": "countdown",
    "2": "coin_release",
    "3": "pump_result",
    "4": "delay_cancel",
    "5": "other",
}


def _cut(text: str) -> list[str]:
    import jieba

    return [w for w in jieba.lcut(text) if w.strip()]


_URL = re.compile(r"https?://\S+")


def _norm(text: str) -> str:
    return _URL.sub(" URL ", text.lower())


class TextModel:
    """A fitted vectoriser + linear classifier for one language."""

    def __init__(self, pipeline: Any, lang: Lang) -> None:
        self.pipeline = pipeline
        self.lang = lang

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], *, lang: Lang) -> TextModel:
        """Fit on ``texts`` with string ``labels``."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline, make_union
        from sklearn.svm import LinearSVC

        if len(set(labels)) < 2:
            raise BadInput("need at least two classes to train a text model")
        if lang == "cn":
            feats = make_union(
                TfidfVectorizer(
                    analyzer="char",
                    ngram_range=(1, 3),
                    sublinear_tf=True,
                    min_df=2,
                    max_features=300_000,
                ),
                TfidfVectorizer(
                    tokenizer=_cut,
                    token_pattern=None,
                    lowercase=False,
                    ngram_range=(1, 2),
                    sublinear_tf=True,
                    min_df=2,
                ),
            )
        else:
            feats = make_union(
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    sublinear_tf=True,
                    min_df=2,
                    preprocessor=_norm,
                    max_features=300_000,
                ),
                TfidfVectorizer(
                    ngram_range=(1, 2), sublinear_tf=True, min_df=1, preprocessor=_norm
                ),
            )
        pipe = make_pipeline(feats, LinearSVC(C=0.5, class_weight="balanced"))
        pipe.fit(list(texts), list(labels))
        return cls(pipe, lang)

    def predict(self, texts: Sequence[str]) -> list[str]:
        """Predicted labels."""
        return [str(x) for x in self.pipeline.predict(list(texts))]

    def save(self, path: Path) -> None:
        """Pickle the model (only to the user's own cache)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            pickle.dump(self, fh)

    @classmethod
    def load(cls, path: Path) -> TextModel:
        """Read a model this process (or an earlier run) saved to the user's cache."""
        with path.open("rb") as fh:
            obj = pickle.load(fh)
        if not isinstance(obj, TextModel):
            raise BadInput(f"{path} does not hold a text model")
        return obj


def load_corpus(
    lang: Lang, data: Path | None = None, *, binary: bool = True
) -> tuple[list[str], list[str]]:
    """Texts and labels of the research corpus for ``lang`` (raises DataNotFound if absent).

    Chinese labels are the five class names; English labels are ``hype``/``other`` when
    ``binary`` else the six message classes.
    """
    if lang == "cn":
        root = data or CN_DATA
        files = sorted(root.glob("label0*-last.csv")) if root.exists() else []
        if not files:
            raise DataNotFound("Chinese telecom-fraud texts (label0*-last.csv)", root)
        texts, labels = [], []
        for f in files:
            with f.open(encoding="utf-8", newline="") as fh:
                for r in csv.DictReader(fh):
                    t = (r.get("content") or "").strip()
                    if t:
                        texts.append(t)
                        lab = str(r.get("label", "")).strip()
                        labels.append(CN_NAMES.get(lab, lab))
        return texts, labels
    root = data or EN_DATA
    files = sorted(root.glob("*/labeled/**/*.csv")) if root.exists() else []
    if not files:
        raise DataNotFound("Telegram pump-and-dump messages (*/labeled/**/*.csv)", root)
    seen: set[str] = set()
    texts, labels = [], []
    for f in files:
        with f.open(encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh):
                lab = str(r.get("label", "")).strip()
                msg = (r.get("message") or "").strip()
                if lab not in EN_NAMES or not msg or msg in seen:
                    continue
                seen.add(msg)
                texts.append(msg)
                if binary:
                    labels.append("other" if lab == "5" else "hype")
                else:
                    labels.append(EN_NAMES[lab])
    return texts, labels


def normalise_labels(lang: Lang, labels: Sequence[str]) -> list[str]:
    """Map the corpora's raw labels onto the model's classes (others pass through).

    >>> normalise_labels("en", ["0", "5", "hype"]), normalise_labels("cn", ["0", "贷款"])
    (['hype', 'other', 'hype'], ['normal', '贷款'])
    """
    if lang == "en":
        return ["other" if x == "5" else "hype" if x in EN_NAMES else x for x in labels]
    return [CN_NAMES.get(x, x) for x in labels]


def held_out_split(
    texts: Sequence[str], labels: Sequence[str], *, test_size: float = 0.2
) -> tuple[list[str], list[str], list[str], list[str]]:
    """The fixed stratified split: train texts, test texts, train labels, test labels."""
    from sklearn.model_selection import train_test_split

    a, b, c, d = train_test_split(
        list(texts), list(labels), test_size=test_size, random_state=SEED, stratify=list(labels)
    )
    return list(a), list(b), list(c), list(d)


@dataclass(frozen=True, slots=True)
class TextReport:
    """Held-out (or labelled-file) figures."""

    accuracy: float
    macro_f1: float
    rows: int
    per_class: dict[str, float]


def report(y_true: Sequence[str], y_pred: Sequence[str]) -> TextReport:
    """Accuracy, macro-F1 and per-class F1.

    >>> report(["a", "b", "b"], ["a", "b", "a"]).accuracy
    0.6666666666666666
    """
    from sklearn.metrics import accuracy_score, f1_score

    classes = sorted(set(y_true) | set(y_pred))
    per = f1_score(y_true, y_pred, labels=classes, average=None, zero_division=0)
    return TextReport(
        float(accuracy_score(y_true, y_pred)),
        float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        len(y_true),
        {c: float(v) for c, v in zip(classes, per, strict=True)},
    )


def evaluate_held_out(
    lang: Lang, data: Path | None = None, *, binary: bool = True
) -> tuple[TextModel, TextReport]:
    """Train on the fixed training split, report on the untouched held-out split."""
    texts, labels = load_corpus(lang, data, binary=binary)
    xtr, xte, ytr, yte = held_out_split(texts, labels)
    model = TextModel.fit(xtr, ytr, lang=lang)
    return model, report(yte, model.predict(xte))


def cache_path(lang: Lang) -> Path:
    """The user-cache file of the model for ``lang``."""
    root = os.environ.get("FINCHAIN_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "finchain"
    return base / "regtech" / f"text_{lang}.pkl"


def cached_or_trained(
    lang: Lang, data: Path | None = None, *, retrain: bool = False
) -> tuple[TextModel, str]:
    """The cached model for ``lang``, or one trained on the training split and cached."""
    path = cache_path(lang)
    if path.exists() and not retrain:
        return TextModel.load(path), f"cached model {path}"
    texts, labels = load_corpus(lang, data)
    xtr, _, ytr, _ = held_out_split(texts, labels)
    model = TextModel.fit(xtr, ytr, lang=lang)
    model.save(path)
    return (
        model,
        f"trained on the training split of {data or (CN_DATA if lang == 'cn' else EN_DATA)}"
        f", cached at {path}",
    )
