"""Differential privacy for model updates: L2 clipping, Gaussian noise and an ε report.

Each update is clipped to norm ``C`` and perturbed with ``N(0, (σC)²)`` (Abadi et al. 2016,
DP-FedAvg of McMahan et al. 2018). The privacy loss of ``T`` full-participation rounds is
accounted with Rényi DP of the Gaussian mechanism (Mironov 2017): ``ε_RDP(α) = T·α / (2σ²)``,
converted by ``ε = min_α ε_RDP(α) + log(1/δ)/(α − 1)``.

>>> round(gaussian_epsilon(noise_multiplier=1.0, rounds=10, delta=1e-5), 2)
20.19
>>> float(np.linalg.norm(clip(np.array([3.0, 4.0]), 1.0)))
1.0
"""

from __future__ import annotations

import math

import numpy as np


def clip(update: np.ndarray, max_norm: float) -> np.ndarray:
    """Scale ``update`` down to L2 norm ``max_norm`` if it is longer."""
    norm = float(np.linalg.norm(update))
    if norm <= max_norm or norm == 0.0:
        return update
    return update * (max_norm / norm)


def gaussian_noise(
    update: np.ndarray, *, max_norm: float, noise_multiplier: float, rng: np.random.Generator
) -> np.ndarray:
    """Clip then add ``N(0, (noise_multiplier·max_norm)²)`` to every coordinate."""
    clipped = clip(update, max_norm)
    return clipped + rng.normal(0.0, noise_multiplier * max_norm, size=update.shape)


def gaussian_epsilon(*, noise_multiplier: float, rounds: int, delta: float) -> float:
    """ε after ``rounds`` Gaussian releases with the given noise multiplier (RDP accounting)."""
    if noise_multiplier <= 0:
        return math.inf
    best = math.inf
    for alpha in [1.25, 1.5, 1.75, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 16, 20, 32, 64, 128, 256]:
        eps = rounds * alpha / (2 * noise_multiplier**2) + math.log(1 / delta) / (alpha - 1)
        best = min(best, eps)
    return best
