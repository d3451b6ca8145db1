from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from finchain.regtech.accounts.model import AccountModel, cross_validate, metrics
from finchain.regtech.cli import app
from finchain.regtech.stablecoin.checker import check_ledger
from finchain.regtech.stablecoin.ledger import generate_ledger
from finchain.regtech.text import classifier
from finchain.regtech.text.classifier import TextModel, held_out_split, report
from finchain.regtech.text.pumpdump import BurstDetector, load_events, match_events

RULES = [
    "SC-2.1",
    "SC-2.2",
    "SC-2.3",
    "SC-3.1",
    "SC-4.1",
    "SC-5.1",
    "SC-6.1",
    "SC-6.2",
    "SC-7.1",
    "SC-7.2",
]
runner = CliRunner()


def synthetic_accounts(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    flag = (rng.random(n) < 0.25).astype(int)
    df = pd.DataFrame(
        {
            "Address": [f"0x{i:040x}" for i in range(n)],
            "FLAG": flag,
            "Sent tnx": rng.poisson(5 + 20 * flag),
            "Unique Received From Addresses": rng.poisson(3 + 10 * (1 - flag)),
            "avg val sent": rng.lognormal(1 + flag, 1.0),
            "Time Diff between first and last (Mins)": rng.exponential(1e4 * (1 + 3 * (1 - flag))),
        }
    )
    return df


def test_account_model_learns_and_round_trips(tmp_path: Path) -> None:
    df = synthetic_accounts()
    res = cross_validate(df, folds=3, rounds=60)
    assert res.auc > 0.8 and 0 < res.accuracy <= 1
    model = AccountModel.train(df, rounds=60)
    model.save(tmp_path / "m.txt")
    again = AccountModel.load(tmp_path / "m.txt")
    assert np.allclose(model.score(df), again.score(df))
    m = metrics(df["FLAG"].to_numpy(), again.score(df))
    assert m["auc"] > 0.8


def test_score_accounts_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCHAIN_CACHE", str(tmp_path / "cache"))
    train = tmp_path / "train.csv"
    synthetic_accounts(seed=1).to_csv(train, index=False)
    test = tmp_path / "test.csv"
    synthetic_accounts(seed=2).to_csv(test, index=False)
    out = tmp_path / "fig.json"
    r = runner.invoke(app, ["score-accounts", str(test), "--data", str(train), "--json", str(out)])
    assert r.exit_code == 0, r.output
    figs = json.loads(out.read_text())
    assert figs["rows"] == 600 and figs["auc"] > 0.8
    assert (tmp_path / "cache" / "regtech" / "account_model.txt").exists()
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    r = runner.invoke(app, ["score-accounts", str(bad), "--data", str(train)])
    assert r.exit_code != 0


def _texts(seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    hype = ["pump", "moon", "buy now", "signal", "x10", "coin", "countdown", "binance"]
    calm = ["meeting", "weather", "lunch", "report", "holiday", "train", "family", "book"]
    texts, labels = [], []
    for _ in range(300):
        is_hype = rng.random() < 0.5
        words = rng.sample(hype if is_hype else calm, 3) + rng.sample(calm + hype, 1)
        texts.append(" ".join(words))
        labels.append("hype" if is_hype else "other")
    return texts, labels


def test_text_model_on_a_held_out_split() -> None:
    texts, labels = _texts(0)
    xtr, xte, ytr, yte = held_out_split(texts, labels)
    assert not set(map(id, xtr)) & set(map(id, xte))
    model = TextModel.fit(xtr, ytr, lang="en")
    rep = report(yte, model.predict(xte))
    assert rep.accuracy >= 0.9 and rep.rows == len(yte)


def test_chinese_segmentation_path() -> None:
    fraud = [
        "您的银行卡涉嫌洗钱请立即转账到安全账户",
        "我是公安局民警请配合调查下载软件",
        "贷款无抵押秒到账先交保证金",
        "我是你领导明天来办公室先转一笔钱",
    ]
    normal = [
        "【中国联通】尊敬的用户您本月话费账单已出",
        "明天下午三点开会请准时参加",
        "您的快递已送达请到门口取件",
        "周末一起去公园散步吧",
    ]
    model = TextModel.fit(fraud * 5 + normal * 5, ["fraud"] * 20 + ["normal"] * 20, lang="cn")
    assert model.predict(["请立即转账到安全账户配合调查"]) == ["fraud"]


def test_classify_text_cli_on_labelled_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINCHAIN_CACHE", str(tmp_path / "cache"))
    texts, labels = _texts(1)
    model = TextModel.fit(texts, labels, lang="en")
    model.save(classifier.cache_path("en"))
    f = tmp_path / "t.csv"
    pd.DataFrame({"msg": texts[:80], "y": labels[:80]}).to_csv(f, index=False)
    out = tmp_path / "r.json"
    r = runner.invoke(
        app,
        [
            "classify-text",
            str(f),
            "--text-col",
            "msg",
            "--label-col",
            "y",
            "--lang",
            "en",
            "--json",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    figs = json.loads(out.read_text())
    assert figs["accuracy"] >= 0.9 and len(figs["predictions"]) == 80
    r = runner.invoke(
        app, ["classify-text", "--lang", "en"], input="pump signal moon\nlunch book\n"
    )
    assert r.exit_code == 0 and "hype" in r.output


def _tickers(rng: random.Random, n: int) -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return ["".join(rng.choices(letters, k=rng.randint(3, 5))) for _ in range(n)]


def test_english_shapes_tell_an_unseen_bare_ticker_from_chat() -> None:
    # A coin release is often the bare ticker alone, and chat is often one short word: the
    # letters are alike (random here), only the shape (capitals) tells them apart, and the
    # held-out tickers and words were never seen. Lower-cased n-grams alone score ~50 %.
    rng = random.Random(4)
    coins = _tickers(rng, 80)
    chat = [t.lower() for t in _tickers(rng, 80)]
    train = coins[:50] + chat[:50]
    labels = ["coin_release"] * 50 + ["other"] * 50
    model = TextModel.fit(train, labels, lang="en")
    unseen_coins = [t for t in coins[50:] if t.lower() not in {x.lower() for x in train}]
    unseen_chat = [t for t in chat[50:] if t not in {x.lower() for x in train}]
    assert len(unseen_coins) >= 20 and len(unseen_chat) >= 20
    assert model.predict(unseen_coins).count("coin_release") >= len(unseen_coins) - 1
    assert model.predict(unseen_chat).count("other") >= len(unseen_chat) - 1
    address = "0x" + "".join(rng.choices("0123456789abcdef", k=40))
    assert TextModel.fit([*train, address], [*labels, "coin_release"], lang="en").predict(
        ["0x" + "".join(rng.choices("0123456789abcdef", k=40))]
    ) == ["coin_release"]


def test_collapse_maps_the_fine_classes_to_the_answer() -> None:
    texts, labels = _texts(2)
    fine = [
        ("countdown" if i % 2 else "coin_release") if y == "hype" else "other"
        for i, y in enumerate(labels)
    ]
    fine_model = TextModel.fit(texts, fine, lang="en")
    coarse = TextModel.fit(texts, fine, lang="en", collapse=classifier.EN_COLLAPSE)
    assert set(fine_model.predict(texts)) == {"countdown", "coin_release", "other"}
    assert set(coarse.predict(texts)) == {"hype", "other"}
    assert classifier.EN_COLLAPSE["delay_cancel"] == "hype"
    assert classifier.EN_COLLAPSE["other"] == "other"


def _write_en_corpus(root: Path) -> None:
    rng = random.Random(5)
    rows = []
    phrases = {
        "0": "next pump is on {d} at 5pm gmt on binance",
        "1": "{n} hours left before the pump",
        "2": "{t}",
        "3": "{t} went up {n} percent great pump",
        "4": "pump cancelled today due to market",
        "5": "market update {t} looks {w}",
    }
    for lab, fmt in phrases.items():
        for i in range(15):
            msg = fmt.format(d=i, n=i + 2, t=_tickers(rng, 1)[0], w=rng.choice(["ok", "bad"]))
            rows.append({"label": lab, "message": f"{msg} #{lab}{i}"})
    (root / "x" / "labeled").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(root / "x" / "labeled" / "c.csv", index=False)


def test_english_model_cached_by_an_older_version_is_retrained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINCHAIN_CACHE", str(tmp_path / "cache"))
    texts, labels = _texts(3)
    old = TextModel.fit(texts, labels, lang="en")
    old.version = 1  # as pickled before the six-class/shape model
    old.save(classifier.cache_path("en"))
    kept, how = classifier.cached_or_trained("en", tmp_path / "no-corpus")
    assert "not retrained" in how and kept.version == 1
    corpus = tmp_path / "corpus"
    _write_en_corpus(corpus)
    model, how = classifier.cached_or_trained("en", corpus)
    assert "trained on the training split" in how
    assert model.version == classifier.EN_MODEL_VERSION
    assert set(model.predict(["3 hours left before the pump", "XYZQ"])) <= {"hype", "other"}
    again, how = classifier.cached_or_trained("en", tmp_path / "no-corpus")
    assert again.version == classifier.EN_MODEL_VERSION
    assert how.startswith("cached model") and "not retrained" not in how


def test_english_held_out_split_is_the_binary_one(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    _write_en_corpus(corpus)
    texts, labels = classifier.load_corpus("en", corpus)
    _, xte, _, yte = held_out_split(texts, labels)
    model, held_texts, held_labels = classifier._train_split("en", corpus, binary=True)
    assert held_texts == xte and held_labels == yte  # the same rows as the binary split
    assert set(model.predict(held_texts)) <= {"hype", "other"}
    _, rep = classifier.evaluate_held_out("en", corpus)
    assert rep.rows == len(xte) and set(rep.per_class) <= {"hype", "other"}
    _, rep6 = classifier.evaluate_held_out("en", corpus, binary=False)
    assert rep6.rows == len(xte) and "countdown" in rep6.per_class


@pytest.mark.parametrize("rule", RULES)
def test_stablecoin_checker_finds_each_injected_violation(rule: str) -> None:
    found = {f.rule for f in check_ledger(generate_ledger(seed=3, violations=[rule]))}
    assert rule in found
    assert found <= {rule, "SC-2.1"}  # an unauthorised mint is also unbacked


def test_clean_ledger_has_no_findings() -> None:
    for seed in range(3):
        assert check_ledger(generate_ledger(seed=seed)) == []


def test_stablecoin_cli(tmp_path: Path) -> None:
    out = tmp_path / "f.json"
    r = runner.invoke(
        app, ["stablecoin-check", "--generate", "--inject", "SC-6.1,SC-6.2", "--json", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert set(json.loads(out.read_text())["by_rule"]) == {"SC-6.1", "SC-6.2"}
    ledger = tmp_path / "l.jsonl"
    ledger.write_text("\n".join(json.dumps(e) for e in generate_ledger(violations=["SC-3.1"])))
    r = runner.invoke(app, ["stablecoin-check", str(ledger), "--json", str(out)])
    assert r.exit_code == 0
    assert set(json.loads(out.read_text())["by_rule"]) == {"SC-3.1"}


def test_burst_detector_finds_injected_pumps() -> None:
    rng = random.Random(5)
    det = BurstDetector()
    pumps = {("AAA", 300), ("BBB", 700)}
    hits = []
    for sym in ("AAA", "BBB", "CCC"):
        price = 1.0
        for t in range(1_000):
            price *= math.exp(rng.gauss(0, 0.004))
            vol = rng.uniform(5, 15)
            if (sym, t) in pumps:
                price *= 1.4
                vol *= 30
            b = det.update(sym, t * 60, price, vol)
            if b:
                hits.append((b.symbol, b.timestamp // 60))
    assert set(hits) == pumps


def test_pump_events_list_and_matching() -> None:
    events = load_events()
    assert len(events) > 1_000
    assert all(e.start > 1_400_000_000 for e in events)
    from finchain.regtech.text.pumpdump import Burst

    e = events[0]
    m = match_events([Burst(e.symbol, e.start + 60, 1, 1, 9, 9)], events)
    assert m["precision"] == 1.0 and m["recall"] > 0


def test_replay_and_alerts_cli(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    out = tmp_path / "s.json"
    r = runner.invoke(
        app,
        [
            "replay",
            "generated",
            "--accounts",
            "120",
            "--days",
            "36",
            "--db",
            str(db),
            "--json",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(out.read_text())
    assert summary["transfers"] > 1_000 and summary["alerts_by_typology"]
    r = runner.invoke(app, ["alerts", "--db", str(db), "--json", str(tmp_path / "l.json")])
    assert r.exit_code == 0
    items = json.loads((tmp_path / "l.json").read_text())
    r = runner.invoke(app, ["alerts", "--db", str(db), "--id", items[0]["id"]])
    assert r.exit_code == 0 and "edges" in r.output
    r = runner.invoke(app, ["alerts", "--db", str(tmp_path / "none.sqlite")])
    assert r.exit_code != 0


def test_bench_watch_skip_detectors_measures_only_the_models(tmp_path: Path) -> None:
    from finchain.bench.cli import app as bench_app

    out = tmp_path / "w.json"
    r = runner.invoke(
        bench_app,
        ["watch", "--skip-detectors", "--data", str(tmp_path / "none"), "--json", str(out)],
    )
    assert r.exit_code == 0, r.output
    figs = json.loads(out.read_text())
    assert "f1_min" not in figs and "tx_per_s" not in figs and "seconds" in figs
    r = runner.invoke(bench_app, ["watch", "--skip-detectors", "--skip-models"])
    assert r.exit_code == 2 and "Invalid value" in r.output  # a usage error, no traceback
