"""Scam (Chinese) and hype (English) text classifiers: TF-IDF features, a linear model.

* Chinese: telecom-fraud texts, five classes (normal, impersonating police/government,
  loan/credit-card fraud, impersonating customer service, impersonating a boss or
  acquaintance; Li, Zhang & Jiang 2024). Features: character 1–3-grams plus words segmented by
  ``jieba``. The data is GPL-3.0 and research-only, so it is read from a path, never shipped.
* English: Telegram pump-and-dump messages (Bolz et al. 2024, MIT). The detection task is
  binary — promotion of a pump (announcement, countdown, coin release, result, delay: labels
  0–4) versus anything else (label 5); the six-class task is reported too. The model is
  trained on the six classes and its answer collapsed to hype/other (a pump's phases look
  unlike one another, so one "hype" class fits worse). Features: case-kept character
  2–5-grams within word boundaries, lower-cased word 1–2-grams, and token shapes (token
  count, ``UP`` for a short all-capitals token such as a bare ticker, ``ADDR`` for a
  contract address, ``NUM``…) — a message that is only an unseen ticker or address is
  a coin release, which character n-grams of known tickers cannot tell.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
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


_URL = re.compile(r"https?://\S+|t\.me/\S+|www\.\S+")
# EVM (0x + 40 hex) and base58 (Solana, Tron…) contract addresses.
_ADDR = re.compile(r"\b0x[0-9a-fA-F]{30,}\b|\b[1-9A-HJ-NP-Za-km-z]{32,44}\b")
_NUMERIC = re.compile(r"[\d.,:%+-]+")
_WORDLIKE = re.compile(r"\w+")
# Bumped when the English features change, so a model cached by an older version is retrained.
EN_MODEL_VERSION = 2


def _keep_case(text: str) -> str:
    return _ADDR.sub(" 0xaddr ", _URL.sub(" URL ", text))


def _norm(text: str) -> str:
    return _keep_case(text).lower()


def _shape(tok: str) -> str:
    if tok in ("0xaddr", "URL"):
        return "ADDR" if tok == "0xaddr" else "URL"
    if tok.isdigit():
        return "NUM"
    if _NUMERIC.fullmatch(tok):
        return "NUMP"
    if tok.isalpha():
        if tok.isupper():
            return "UP" if len(tok) <= 6 else "UPL"
        return "Cap" if tok[0].isupper() else "low"
    if _WORDLIKE.fullmatch(tok):
        return "MIX"
    return "SYM" if not any(ch.isascii() for ch in tok) else "P"


def _shapes(text: str) -> list[str]:
    """Token-shape features: length bucket, shapes, shape bigrams, whole shape of short texts.

    >>> _shapes("DRGN")
    ['n1', 'UP', 'n1:UP']
    """
    toks = _keep_case(text).split()
    n = len(toks)
    size = "1" if n == 1 else "2-3" if n <= 3 else "4-8" if n <= 8 else "9-30" if n <= 30 else "31+"
    sh = [_shape(t) for t in toks]
    out = [f"n{size}", *sh, *(f"{a}_{b}" for a, b in pairwise(sh))]
    if n <= 3:
        out.append(f"n{size}:" + "_".join(sh))
    return out


class TextModel:
    """A fitted vectoriser + linear classifier for one language."""

    def __init__(
        self, pipeline: Any, lang: Lang, collapse: Mapping[str, str] | None = None
    ) -> None:
        self.pipeline = pipeline
        self.lang = lang
        self.collapse = dict(collapse or {})
        self.version = EN_MODEL_VERSION if lang == "en" else 1

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        lang: Lang,
        collapse: Mapping[str, str] | None = None,
    ) -> TextModel:
        """Fit on ``texts`` with string ``labels``; ``collapse`` maps them to the answer.

        With ``collapse`` (e.g. the six message classes to ``hype``/``other``) the model
        learns the fine classes and :meth:`predict` returns their mapped names; a label
        missing from it is returned as is.
        """
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
                    lowercase=False,
                    preprocessor=_keep_case,
                    max_features=300_000,
                ),
                TfidfVectorizer(
                    ngram_range=(1, 2), sublinear_tf=True, min_df=1, preprocessor=_norm
                ),
                TfidfVectorizer(analyzer=_shapes, sublinear_tf=True),
            )
        pipe = make_pipeline(feats, LinearSVC(C=0.5, class_weight="balanced"))
        pipe.fit(list(texts), list(labels))
        return cls(pipe, lang, collapse)

    def predict(self, texts: Sequence[str]) -> list[str]:
        """Predicted labels (mapped through ``collapse`` when the model has one)."""
        fine = [str(x) for x in self.pipeline.predict(list(texts))]
        collapse = getattr(self, "collapse", {})
        return [collapse.get(x, x) for x in fine] if collapse else fine

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


EN_COLLAPSE = {name: "other" if key == "5" else "hype" for key, name in EN_NAMES.items()}


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


def _train_split(
    lang: Lang, data: Path | None, *, binary: bool
) -> tuple[TextModel, list[str], list[str]]:
    """The model fitted on the fixed training split, and the held-out texts and labels.

    English is fitted on the six classes; with ``binary`` the split is still the one
    stratified on hype/other (the same rows as a binary-label split) and the model's answer
    is collapsed to hype/other.
    """
    if lang == "cn":
        texts, labels = load_corpus(lang, data)
        xtr, xte, ytr, yte = held_out_split(texts, labels)
        return TextModel.fit(xtr, ytr, lang=lang), xte, yte
    texts, fine = load_corpus(lang, data, binary=False)
    strata = [EN_COLLAPSE[x] for x in fine] if binary else fine
    idx_tr, idx_te, _, _ = held_out_split([str(i) for i in range(len(texts))], strata)
    tr, te = [int(i) for i in idx_tr], [int(i) for i in idx_te]
    model = TextModel.fit(
        [texts[i] for i in tr],
        [fine[i] for i in tr],
        lang=lang,
        collapse=EN_COLLAPSE if binary else None,
    )
    return model, [texts[i] for i in te], [strata[i] for i in te]


def evaluate_held_out(
    lang: Lang, data: Path | None = None, *, binary: bool = True
) -> tuple[TextModel, TextReport]:
    """Train on the fixed training split, report on the untouched held-out split."""
    model, xte, yte = _train_split(lang, data, binary=binary)
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
        cached = TextModel.load(path)
        # An English model cached before the six-class/shape features is retrained
        # (kept, with a note, when the corpus to retrain on is absent).
        if lang != "en" or getattr(cached, "version", 1) == EN_MODEL_VERSION:
            return cached, f"cached model {path}"
        try:
            model, _, _ = _train_split(lang, data, binary=True)
        except DataNotFound:
            return cached, f"cached model {path} (older features; corpus absent, not retrained)"
    else:
        model, _, _ = _train_split(lang, data, binary=True)
    model.save(path)
    return (
        model,
        f"trained on the training split of {data or (CN_DATA if lang == 'cn' else EN_DATA)}"
        f", cached at {path}",
    )
