"""The ten typology detectors; :func:`default_detectors` builds one of each."""

from __future__ import annotations

from finchain.regtech.chainwatch.detectors.base import Detector
from finchain.regtech.chainwatch.detectors.chains import PeelChain, RapidPassThrough, Structuring
from finchain.regtech.chainwatch.detectors.cycle import Cycle
from finchain.regtech.chainwatch.detectors.fan import FanIn, FanOut
from finchain.regtech.chainwatch.detectors.layered import (
    Bipartite,
    GatherScatter,
    ScatterGather,
    Stack,
)

DETECTORS: dict[str, type[Detector]] = {
    cls.typology: cls
    for cls in (
        FanIn,
        FanOut,
        Cycle,
        ScatterGather,
        GatherScatter,
        Bipartite,
        Stack,
        PeelChain,
        RapidPassThrough,
        Structuring,
    )
}

#: typology → the less specific typologies an alert of it explains (and supersedes).
SUPERSEDES: dict[str, tuple[str, ...]] = {
    "scatter_gather": ("fan_out", "fan_in", "rapid_pass_through"),
    "gather_scatter": ("fan_in", "fan_out", "rapid_pass_through"),
    "bipartite": ("fan_in", "fan_out"),
    "stack": ("bipartite", "fan_in", "fan_out", "rapid_pass_through", "scatter_gather"),
    "cycle": ("rapid_pass_through",),
    "peel_chain": ("rapid_pass_through", "fan_out"),
}


def default_detectors(**overrides: dict[str, object]) -> list[Detector]:
    """One detector per typology with default parameters; ``overrides[typology]`` are kwargs.

    >>> sorted(d.typology for d in default_detectors())[:3]
    ['bipartite', 'cycle', 'fan_in']
    """
    return [cls(**overrides.get(name, {})) for name, cls in DETECTORS.items()]  # type: ignore[arg-type]


__all__ = [
    "DETECTORS",
    "SUPERSEDES",
    "Bipartite",
    "Cycle",
    "Detector",
    "FanIn",
    "FanOut",
    "GatherScatter",
    "PeelChain",
    "RapidPassThrough",
    "ScatterGather",
    "Stack",
    "Structuring",
    "default_detectors",
]
