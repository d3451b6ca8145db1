"""Jobs: a YAML file wiring a source, indicators, rules, sinks, checkpoints and query servers.

Example (``examples/stream/ulb.yaml`` style)::

    name: ulb
    source: {type: csv, path: data/ulb_creditcard/creditcard_sample.csv,
             time_field: Time, time_scale: 1000, sort: true, constant: {all: "*"}}
    batch: 500
    out_of_orderness: 0s
    allowed_lateness: 0s
    indicators:
      - {name: spend, kind: lookback, key: all, field: Amount, span: 10m,
         stats: [count, sum, mean, var]}
      - {name: hour, kind: tumbling, key: all, field: Amount, size: 1h,
         stats: [count, sum, max, p99]}
    rules: {big: 'WHEN Amount > 1000 THEN alert "big payment"'}
    rules_file: .finchain/stream/rules.json      # hot-reloaded when it changes
    checkpoint: {path: .finchain/stream/ulb-ckpt, every: 10}
    sinks: [{type: sqlite, path: .finchain/stream/ulb.db}]
    serve: {resp: 0, http: 0}                    # 0 = any free port; omit to not serve

The run loop processes a batch, writes its outputs to every sink, and every ``every`` batches
checkpoints state and source position in one LMDB transaction (sinks first, so a crash can only
make a sink see outputs again, which it ignores).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import yaml

from finchain.stream.engine import BatchResult, Engine
from finchain.stream.errors import StreamError
from finchain.stream.timeutil import parse_duration

__all__ = ["RulesFile", "build_engine", "load_job", "run_job"]


class RulesFile:
    """Named rules in a JSON file (what ``finchain stream rules`` edits and jobs hot-reload)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except ValueError as exc:
            raise StreamError(f"{self.path}: not a JSON object of rules ({exc})") from exc
        if not isinstance(data, dict):
            raise StreamError(f"{self.path}: not a JSON object of rules")
        return {str(k): str(v) for k, v in data.items()}

    def save(self, rules: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rules, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def add(self, name: str, text: str) -> None:
        from finchain.stream.rules import parse_rule

        parse_rule(text, name)  # raises RuleSyntaxError pointing at the token
        rules = self.load()
        rules[name] = text
        self.save(rules)

    def remove(self, name: str) -> None:
        rules = self.load()
        if name not in rules:
            raise StreamError(f"no rule named {name!r} in {self.path}")
        del rules[name]
        self.save(rules)

    def mtime(self) -> float:
        try:
            return self.path.stat().st_mtime_ns / 1e9
        except FileNotFoundError:
            return 0.0


def load_job(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise StreamError(f"no such job file: {p}")
    try:
        spec = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise StreamError(f"{p}: bad YAML: {exc}") from exc
    if not isinstance(spec, dict) or "source" not in spec:
        raise StreamError(f"{p}: a job needs at least a 'source'")
    spec.setdefault("name", p.stem)
    spec["_dir"] = str(p.parent)
    check_job(spec, str(p))
    return spec


def _number(value: Any, what: str, *, minimum: float, maximum: float | None = None) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or value < minimum or (maximum is not None and value > maximum):
        bound = f"{minimum:g}..{maximum:g}" if maximum is not None else f">= {minimum:g}"
        raise StreamError(f"{what} must be a number {bound}, not {value!r}")


def _integer(value: Any, what: str, *, minimum: int, maximum: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise StreamError(f"{what} must be a whole number, not {value!r}")
    _number(value, what, minimum=minimum, maximum=maximum)


def check_job(spec: dict[str, Any], where: str = "job") -> None:
    """Refuse a malformed job before anything runs (one :class:`StreamError` naming the setting).

    Shapes and numbers only; the names of fields are checked against the source's columns by
    :func:`check_columns` once the source is open.
    """
    if not isinstance(spec.get("source"), dict):
        raise StreamError(f"{where}: 'source' must be a mapping such as {{type: csv, path: ...}}")
    if "batch" in spec:
        _integer(spec["batch"], f"{where}: batch", minimum=1)
    if "throttle_ms" in spec:
        _number(spec["throttle_ms"], f"{where}: throttle_ms", minimum=0)
    for key in ("out_of_orderness", "allowed_lateness"):
        if key in spec:
            parse_duration(spec[key])
    indicators = spec.get("indicators", [])
    if not isinstance(indicators, list) or not all(isinstance(i, dict) for i in indicators):
        raise StreamError(f"{where}: indicators must be a list of mappings")
    for ind in indicators:
        for key in ("name", "key"):
            if key not in ind:
                raise StreamError(f"{where}: indicator {ind!r} lacks {key!r}")
    if not isinstance(spec.get("rules") or {}, dict):
        raise StreamError(f"{where}: rules must be a mapping of name: rule text")
    ck = spec.get("checkpoint") or {}
    if not isinstance(ck, dict):
        raise StreamError(f"{where}: checkpoint must be a mapping {{path: ..., every: N}}")
    if "every" in ck:
        _integer(ck["every"], f"{where}: checkpoint.every", minimum=1)
    sinks = spec.get("sinks", [])
    if not isinstance(sinks, list) or not all(isinstance(s, dict) for s in sinks):
        raise StreamError(f"{where}: sinks must be a list of mappings")
    serve = spec.get("serve") or {}
    if not isinstance(serve, dict):
        raise StreamError(f"{where}: serve must be a mapping {{resp: PORT, http: PORT}}")
    for key in ("resp", "http"):
        if key in serve:
            _integer(serve[key], f"{where}: serve.{key}", minimum=0, maximum=65535)
    if "linger" in serve:
        _number(serve["linger"], f"{where}: serve.linger", minimum=0)


def check_columns(spec: dict[str, Any], engine: Engine, columns: Any) -> None:
    """Every key and field the job's indicators and rules read must be a source column."""
    have = set(columns)
    wanted: list[tuple[str, str]] = []
    for ind in spec.get("indicators", []):
        wanted.append((f"indicator {ind.get('name')!r} key", str(ind.get("key"))))
        if ind.get("field") is not None:
            wanted.append((f"indicator {ind.get('name')!r} field", str(ind["field"])))
    rules = getattr(engine, "rules", None)
    for rule in getattr(rules, "rules", {}).values() if rules is not None else ():
        for agg in rule.aggregates():
            wanted.append((f"rule {rule.name!r} key", agg.key))
            if agg.field is not None:
                wanted.append((f"rule {rule.name!r} field", agg.field))
    for what, name in wanted:
        if name not in have:
            close = [
                c for c in sorted(have) if c.lower() in name.lower() or name.lower() in c.lower()
            ]
            hint = f"did you mean {', '.join(map(repr, close[:3]))}?" if close else ""
            shown = sorted(have)
            listing = ", ".join(shown[:12]) + (", …" if len(shown) > 12 else "")
            raise StreamError(
                f"{what} {name!r} is not a column of the source; {hint or 'columns: ' + listing}"
            )


def _path(spec: dict[str, Any], value: str) -> Path:
    path = Path(value)
    return path


def build_engine(spec: dict[str, Any]) -> Engine:
    """A fresh engine with the job's indicators and rules."""
    eng = Engine(
        out_of_orderness=spec.get("out_of_orderness", 0),
        allowed_lateness=spec.get("allowed_lateness", 0),
    )
    for ind in spec.get("indicators", []):
        try:
            kind = ind.get("kind", "lookback")
            name = ind["name"]
            stats = tuple(ind.get("stats", ("count", "sum", "mean", "var")))
            if kind == "lookback":
                eng.add_lookback(
                    name, key=ind["key"], field=ind.get("field"), span=ind["span"], stats=stats
                )
            else:
                eng.add_window(
                    name,
                    kind=kind,
                    key=ind["key"],
                    field=ind.get("field"),
                    stats=stats,
                    size=ind.get("size", 0),
                    slide=ind.get("slide", 0),
                    gap=ind.get("gap", 0),
                )
        except KeyError as exc:
            raise StreamError(f"indicator {ind!r} lacks {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise StreamError(f"indicator {ind.get('name')!r}: {exc}") from exc
    rules = dict(spec.get("rules") or {})
    if spec.get("rules_file"):
        rules.update(RulesFile(spec["rules_file"]).load())
    if rules:
        from finchain.stream.rules import RuleSet

        eng.set_rules(RuleSet(rules))
    return eng


def _source(spec: dict[str, Any]) -> Any:
    src = dict(spec["source"])
    kind = src.pop("type", "csv")
    if kind in ("csv", "parquet"):
        from finchain.stream.sources import ReplaySource

        return ReplaySource(src.pop("path"), **src)
    if kind == "websocket":
        from finchain.stream.sources import WebSocketSource

        return WebSocketSource(src.pop("url"), **src)
    raise StreamError(
        f"unknown source type {kind!r} (csv, parquet, websocket; NATS partitions "
        "run with `finchain stream worker`)"
    )


async def run_job(
    spec: dict[str, Any], *, max_batches: int | None = None, on_ready: Any = None, log: Any = None
) -> dict[str, Any]:
    """Run a job until its source ends (or ``max_batches``); returns a summary."""
    from finchain.stream.checkpoint import Checkpointer
    from finchain.stream.sinks import SqliteSink, WebhookSink

    ck_conf = spec.get("checkpoint") or {}
    ckpt = Checkpointer(ck_conf["path"]) if ck_conf.get("path") else None
    every = int(ck_conf.get("every", 10))
    engine, position = ckpt.load() if ckpt else (None, None)
    resumed = engine is not None
    if engine is None:
        engine = build_engine(spec)
        position = 0
    sinks: list[Any] = []
    for s in spec.get("sinks", []):
        if s.get("type") == "sqlite":
            sinks.append(SqliteSink(s["path"], values=bool(s.get("values", False))))
        elif s.get("type") == "webhook":
            sinks.append(WebhookSink(s["url"]))
        else:
            raise StreamError(f"unknown sink {s!r} (sqlite, webhook; NATS via the worker)")
    rules_file = RulesFile(spec["rules_file"]) if spec.get("rules_file") else None
    rules_seen = rules_file.mtime() if rules_file else 0.0
    servers = []
    ports: dict[str, int] = {}
    serve = spec.get("serve")
    if serve:
        from finchain.stream.serve import IndicatorService, serve_http, serve_resp

        service = IndicatorService(engine)
        if "resp" in serve:
            srv = await serve_resp(service, port=int(serve["resp"]))
            ports["resp"] = srv.sockets[0].getsockname()[1]
            servers.append(srv)
        if "http" in serve:
            srv = await serve_http(service, port=int(serve["http"]))
            ports["http"] = srv.sockets[0].getsockname()[1]
            servers.append(srv)
    if on_ready is not None:
        on_ready(ports)
    source = _source(spec)
    if hasattr(source, "cols"):  # a file: its columns are known before the first batch
        check_columns(spec, engine, source.cols)
    batch = int(spec.get("batch", 1000))
    stats: dict[str, Any] = {"events": 0, "alerts": 0, "windows": 0, "late": 0, "batches": 0}
    started = time.perf_counter()
    since_ckpt = 0
    throttle = float(spec.get("throttle_ms", 0)) / 1000.0

    def deliver(res: BatchResult) -> None:
        stats["events"] += len(res)
        stats["alerts"] += len(res.alerts)
        stats["windows"] += sum(len(w) for w in res.windows)
        stats["late"] += len(res.late)
        for sink in sinks:
            sink.write(res)

    async def step(pos: Any, cols: dict[str, Any]) -> bool:
        nonlocal since_ckpt, rules_seen, position
        if rules_file is not None:
            m = rules_file.mtime()
            if m != rules_seen:
                from finchain.stream.rules import RuleSet

                rules = dict(spec.get("rules") or {})
                rules.update(rules_file.load())
                engine.set_rules(RuleSet(rules))
                rules_seen = m
                if log:
                    log(f"rules reloaded: {', '.join(sorted(rules))}")
        deliver(engine.process(cols))
        position = pos
        stats["batches"] += 1
        since_ckpt += 1
        if ckpt is not None and since_ckpt >= every:
            ckpt.save(engine, position)
            since_ckpt = 0
        await asyncio.sleep(throttle)  # let queries in (and pace replays when asked)
        return max_batches is None or stats["batches"] < max_batches

    finished = False
    if hasattr(source, "n"):
        for pos, cols in source.batches(int(position or 0), batch):
            if not await step(pos, cols):
                break
        else:
            finished = True
    else:
        async for pos, cols in source.batches():
            if not await step(pos, cols):
                break
        else:
            finished = True
    if finished and spec.get("flush_at_end", True):
        deliver(engine.flush())
    if ckpt is not None:
        ckpt.save(engine, position)
        ckpt.close()
    seconds = time.perf_counter() - started
    linger = float((serve or {}).get("linger", 0))
    if linger:
        await asyncio.sleep(linger)
    for srv in servers:
        srv.close()
    for sink in sinks:
        sink.close()
    stats.update(
        {
            "resumed": resumed,
            "position": position,
            "seconds": round(seconds, 3),
            "events_per_s": round(stats["events"] / seconds) if seconds > 0 else 0,
            "late_total": engine.late_count,
            "finished": finished,
            **ports,
        }
    )
    return stats
