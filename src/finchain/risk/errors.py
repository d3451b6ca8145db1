"""Errors raised by :mod:`finchain.risk`.

::

    RiskError                 (base of every risk failure)
     ├── SchemaError          a table does not fit what the pipeline needs (target, columns, types)
     ├── ModelNotFoundError   no such model directory / version in the registry
     ├── ScoringInputError    a scoring request is malformed (the API answers 4xx)
     └── StrategyError        a strategy programme is infeasible or ill-posed
"""

from __future__ import annotations

from finchain.errors import FinchainError


class RiskError(FinchainError):
    """Base of risk errors."""


class SchemaError(RiskError):
    """A credit table does not have the shape the pipeline needs."""


class ModelNotFoundError(RiskError):
    """A model directory, registry or version does not exist."""


class ScoringInputError(RiskError):
    """A scoring request is malformed; the service answers it with a 4xx."""


class StrategyError(RiskError):
    """The strategy programme has no solution under the stated constraints."""
