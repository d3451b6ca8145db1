"""Local models for horizontal FL: parameters are one flat vector, training is pure numpy.

* ``logistic`` — logistic regression (weights + intercept), mini-batch gradient descent;
* ``mlp`` — one hidden layer (tanh) with a sigmoid output, mini-batch SGD with momentum;
* ``poisson`` — Poisson regression with log link (counts), mini-batch gradient descent;
* ``kmeans`` — centroids; a "local update" returns per-cluster sums and counts (Lloyd step).

FedProx (Li et al. 2020) adds ``μ/2·‖w − w_global‖²`` to every client's loss.

>>> import numpy as np
>>> m = LocalModel("logistic", n_features=2)
>>> p = m.init(np.random.default_rng(0))
>>> X = np.array([[0.0, 1.0], [1.0, 0.0]] * 20); y = np.array([1.0, 0.0] * 20)
>>> q = m.train(p, X, y, epochs=30, lr=0.5, batch_size=8, mu=0.0, rng=np.random.default_rng(0))
>>> bool(m.predict(q, X[:1])[0] > 0.5 > m.predict(q, X[1:2])[0])
True
"""

from __future__ import annotations

import numpy as np

from finchain.fl.errors import JobConfigError
from finchain.fl.models.tree import sigmoid

KINDS = ("logistic", "mlp", "poisson", "kmeans")


class LocalModel:
    """Shape, initialisation, local training and prediction of one model kind."""

    def __init__(self, kind: str, *, n_features: int, hidden: int = 16, clusters: int = 3) -> None:
        if kind not in KINDS:
            raise JobConfigError(f"unknown horizontal model {kind!r} (one of {', '.join(KINDS)})")
        self.kind = kind
        self.d = n_features
        self.hidden = hidden
        self.k = clusters

    @property
    def size(self) -> int:
        """Length of the parameter vector."""
        if self.kind in ("logistic", "poisson"):
            return self.d + 1
        if self.kind == "mlp":
            return self.d * self.hidden + self.hidden + self.hidden + 1
        return self.k * self.d

    def init(self, rng: np.random.Generator) -> np.ndarray:
        """Initial parameters (the server draws them)."""
        if self.kind in ("logistic", "poisson"):
            return np.zeros(self.size)
        if self.kind == "mlp":
            w1 = rng.normal(0, 1 / np.sqrt(self.d), size=self.d * self.hidden)
            w2 = rng.normal(0, 1 / np.sqrt(self.hidden), size=self.hidden)
            return np.concatenate([w1, np.zeros(self.hidden), w2, np.zeros(1)])
        return rng.normal(0, 1, size=self.size)

    def _mlp(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        d, h = self.d, self.hidden
        w1 = p[: d * h].reshape(d, h)
        b1 = p[d * h : d * h + h]
        w2 = p[d * h + h : d * h + 2 * h]
        return w1, b1, w2, float(p[-1])

    def predict(self, p: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Probabilities (logistic, mlp), expected counts (poisson) or cluster ids (kmeans)."""
        if self.kind == "logistic":
            return sigmoid(X @ p[:-1] + p[-1])
        if self.kind == "poisson":
            return np.exp(np.clip(X @ p[:-1] + p[-1], -30, 30))
        if self.kind == "mlp":
            w1, b1, w2, b2 = self._mlp(p)
            return sigmoid(np.tanh(X @ w1 + b1) @ w2 + b2)
        c = p.reshape(self.k, self.d)
        return np.argmin(((X[:, None, :] - c[None]) ** 2).sum(-1), axis=1).astype(np.float64)

    def gradient(self, p: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Mean gradient of the loss on a batch."""
        n = len(y)
        if self.kind in ("logistic", "poisson"):
            r = self.predict(p, X) - y
            return np.concatenate([X.T @ r / n, [r.mean()]])
        w1, b1, w2, b2 = self._mlp(p)
        a = np.tanh(X @ w1 + b1)
        r = sigmoid(a @ w2 + b2) - y
        g_w2 = a.T @ r / n
        da = np.outer(r, w2) * (1 - a**2)
        g_w1 = X.T @ da / n
        return np.concatenate([g_w1.ravel(), da.mean(0), g_w2, [r.mean()]])

    def train(
        self,
        p: np.ndarray,
        X: np.ndarray,
        y: np.ndarray,
        *,
        epochs: int,
        lr: float,
        batch_size: int,
        mu: float,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Local epochs from the global ``p`` (FedProx when ``mu > 0``)."""
        if self.kind == "kmeans":
            raise JobConfigError("k-means has no gradient training; use lloyd_stats")
        glob = p.copy()
        w = p.copy()
        vel = np.zeros_like(w)
        momentum = 0.9 if self.kind == "mlp" else 0.0
        for _ in range(epochs):
            order = rng.permutation(len(y))
            for i in range(0, len(y), batch_size):
                b = order[i : i + batch_size]
                g = self.gradient(w, X[b], y[b]) + mu * (w - glob)
                vel = momentum * vel - lr * g
                w = w + vel
        return w

    def lloyd_stats(self, p: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Per-cluster sums then counts (flattened), for one federated Lloyd step."""
        lab = self.predict(p, X).astype(np.int64)
        sums = np.zeros((self.k, self.d))
        np.add.at(sums, lab, X)
        counts = np.bincount(lab, minlength=self.k).astype(np.float64)
        return np.concatenate([sums.ravel(), counts])

    def lloyd_update(self, p: np.ndarray, stats: np.ndarray) -> np.ndarray:
        """New centroids from aggregated statistics (empty clusters keep their centroid)."""
        sums = stats[: self.k * self.d].reshape(self.k, self.d)
        counts = stats[self.k * self.d :]
        c = p.reshape(self.k, self.d).copy()
        nz = counts > 0
        c[nz] = sums[nz] / counts[nz, None]
        return c.ravel()
