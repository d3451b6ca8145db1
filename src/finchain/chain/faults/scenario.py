"""Scenario files: which faults, when, under what load.

A scenario is YAML (or the same as a dict)::

    name: kill-restart
    fault_model: crash          # crash (every algorithm) or byzantine (BFT algorithms only)
    validators: 4
    observers: 1
    duration_s: 20              # the timeline's length; faults left at the end are healed
    settle_s: 40                # longest wait for every node to pass the last fault
    load: {txs: 200, rate: 20, batch: 5}
    consensus_options: {base_timeout_ms: 400, max_timeout_ms: 3000}
    timeline:
      - {at: 3, do: kill, node: v1}
      - {at: 8, do: restart, node: v1}
      - {at: 10, do: partition, groups: [[v0, v1], [v2, v3]]}
      - {at: 14, do: heal}
      - {at: 15, do: delay, a: v0, b: v2, ms: 150, jitter_ms: 50}
      - {at: 16, do: drop, node: v3, p: 0.2}

Actions: ``kill`` (SIGKILL), ``stop`` (SIGTERM), ``pause`` (SIGSTOP), ``resume`` (SIGCONT),
``restart`` (same data directory) take ``node``; ``cut``, ``delay`` (``ms``, ``jitter_ms``),
``drop`` (``p``, ``reset``) and ``corrupt`` (``p``) take a pair ``a``/``b``, a ``node`` (all its
links) or nothing (every link); ``partition`` takes ``groups`` (nodes not named form one more
group); ``isolate`` takes ``node``; ``heal`` takes a pair or nothing (everything).

>>> sc = Scenario.from_dict({"name": "x", "timeline": [{"at": 2, "do": "pause", "node": "v0"},
...                                                    {"at": 1, "do": "resume", "node": "v0"}]})
>>> [e.do for e in sc.timeline]      # sorted by time
['resume', 'pause']
>>> Scenario.from_dict({"name": "x", "timeline": [{"at": 1, "do": "explode"}]})
Traceback (most recent call last):
...
finchain.chain.faults.proxy.FaultError: scenario x: unknown action 'explode' at 1 s
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from finchain.chain.faults.proxy import FaultError

NODE_ACTIONS = ("kill", "stop", "pause", "resume", "restart", "isolate")
LINK_ACTIONS = ("cut", "delay", "drop", "corrupt", "heal", "partition")
#: actions after which recovery time is measured
RECOVERY_ACTIONS = ("heal", "resume", "restart")
FAULT_MODELS = ("crash", "byzantine")


@dataclass(frozen=True)
class Event:
    at: float
    do: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    timeline: tuple[Event, ...] = ()
    description: str = ""
    fault_model: str = "crash"
    validators: int = 4
    observers: int = 1
    orgs: int = 2
    duration_s: float = 20.0
    settle_s: float = 45.0
    start_timeout_s: float = 90.0
    load_txs: int = 200
    load_rate: float = 20.0
    load_batch: int = 5
    consensus_options: dict[str, Any] = field(default_factory=dict)
    #: algorithms this scenario does not apply to (besides the fault-model rule)
    skip: tuple[str, ...] = ()

    def applies_to(self, consensus: str) -> bool:
        """Raft tolerates crashes only: byzantine scenarios are for BFT algorithms."""
        if consensus in self.skip:
            return False
        return not (self.fault_model == "byzantine" and consensus == "raft")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Scenario:
        name = str(raw.get("name") or "unnamed")
        events = []
        for item in raw.get("timeline") or ():
            item = dict(item)
            try:
                at = float(item.pop("at"))
                do = str(item.pop("do"))
            except (KeyError, TypeError, ValueError):
                raise FaultError(f"scenario {name}: every event needs 'at' and 'do'") from None
            if do not in NODE_ACTIONS + LINK_ACTIONS:
                raise FaultError(f"scenario {name}: unknown action {do!r} at {at:g} s")
            if do in NODE_ACTIONS and "node" not in item:
                raise FaultError(f"scenario {name}: {do} at {at:g} s needs 'node'")
            if do == "partition" and not item.get("groups"):
                raise FaultError(f"scenario {name}: partition at {at:g} s needs 'groups'")
            if do in ("drop", "corrupt") and "p" not in item:
                raise FaultError(f"scenario {name}: {do} at {at:g} s needs 'p'")
            if ("a" in item) != ("b" in item):
                raise FaultError(f"scenario {name}: a link at {at:g} s needs both 'a' and 'b'")
            events.append(Event(at, do, item))
        events.sort(key=lambda e: e.at)
        load = raw.get("load") or {}
        model = str(raw.get("fault_model", "crash"))
        if model not in FAULT_MODELS:
            raise FaultError(f"scenario {name}: fault_model must be one of {FAULT_MODELS}")
        sc = cls(
            name=name,
            timeline=tuple(events),
            description=str(raw.get("description", "")),
            fault_model=model,
            validators=int(raw.get("validators", 4)),
            observers=int(raw.get("observers", 1)),
            orgs=int(raw.get("orgs", 2)),
            duration_s=float(raw.get("duration_s", 20)),
            settle_s=float(raw.get("settle_s", 45)),
            start_timeout_s=float(raw.get("start_timeout_s", 90)),
            load_txs=int(load.get("txs", 200)),
            load_rate=float(load.get("rate", 20)),
            load_batch=int(load.get("batch", 5)),
            consensus_options=dict(raw.get("consensus_options") or {}),
            skip=tuple(raw.get("skip") or ()),
        )
        if events and events[-1].at > sc.duration_s:
            raise FaultError(f"scenario {name}: an event at {events[-1].at:g} s is past duration_s")
        if sc.load_rate <= 0 or sc.load_txs < 0:
            raise FaultError(f"scenario {name}: load needs rate > 0 and txs >= 0")
        return sc

    @classmethod
    def load(cls, path: Path) -> Scenario:
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise FaultError(f"cannot read scenario {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise FaultError(f"scenario {path} is not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise FaultError(f"scenario {path} must be a mapping")
        raw.setdefault("name", Path(path).stem)
        return cls.from_dict(raw)


def builtin_dir() -> Path:
    """The directory of the scenarios shipped with finchain."""
    return Path(__file__).parent / "scenarios"


def builtin(name: str) -> Scenario:
    """A shipped scenario by name (``short``, ``kill-restart``, ``partition``, …)."""
    path = builtin_dir() / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in builtin_dir().glob("*.yaml"))
        raise FaultError(f"no built-in scenario {name!r}; known: {known}")
    return Scenario.load(path)
