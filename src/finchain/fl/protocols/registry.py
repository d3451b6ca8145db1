"""protocol → role → function(PartyContext) → result dict."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from finchain.fl.context import PartyContext
from finchain.fl.errors import JobConfigError

Role = Callable[[PartyContext], dict[str, Any]]

_ROLES: dict[str, dict[str, str]] = {
    "hetero_secureboost": {"guest": "vertical:sbt_guest", "host": "vertical:sbt_host"},
    "hetero_lr": {
        "guest": "hetero_glm:lr_guest",
        "host": "hetero_glm:lr_host",
        "arbiter": "hetero_glm:arbiter",
    },
    "hetero_linr": {
        "guest": "hetero_glm:linr_guest",
        "host": "hetero_glm:linr_host",
        "arbiter": "hetero_glm:arbiter",
    },
    "split_nn": {"guest": "split_nn:guest", "host": "split_nn:host"},
    "horizontal": {"client": "horizontal:client", "server": "horizontal:server"},
    "transfer": {"guest": "transfer:guest", "host": "transfer:host"},
}


def role_function(protocol: str, role: str) -> Role:
    """Import the function that plays ``role`` in ``protocol``."""
    try:
        target = _ROLES[protocol][role]
    except KeyError as exc:
        raise JobConfigError(f"protocol {protocol!r} has no role {role!r}") from exc
    module, fn = target.split(":")
    mod = importlib.import_module(f"finchain.fl.protocols.{module}")
    return getattr(mod, fn)  # type: ignore[no-any-return]
