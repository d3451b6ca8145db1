"""Risk control: credit models, automatic features, T+0 updates, strategy, scoring, monitoring.

Public API (heavy libraries load lazily inside the functions that need them)::

    load_credit_table(path, target=...)          schema-checked loader   (finchain.risk.data)
    train(table, TrainConfig(...))                models and metrics      (finchain.risk.train)
    ModelRegistry(dir)                            versions on disk        (finchain.risk.registry)
    Scorer.from_dir(dir), score_financing_request  scoring library / SCF hook (finchain.risk.scorer)
    optimise_strategy(p, segments, ...)           cut-off/limit MILP      (finchain.risk.strategy)
    create_app(dir)                               FastAPI service         (finchain.risk.service)

Never imports :mod:`finchain.chain`; it meets the stream engine through
:mod:`finchain.risk.indicators` and the SCF service through :func:`score_financing_request`.
"""

from finchain.risk.errors import (
    ModelNotFoundError,
    RiskError,
    SchemaError,
    ScoringInputError,
    StrategyError,
)

__all__ = [
    "ModelNotFoundError",
    "RiskError",
    "SchemaError",
    "ScoringInputError",
    "StrategyError",
]
