"""The exact three-dimensional reduction on the invariant manifold (docs/theory.md#invariant-manifold).

``W = O (a ŵᵀ + b vᵀ + c P⊥)`` stays of this form under GD and SpecGD, and the manifold
coefficients ``(a, b, c)`` follow the scalar recursions below. The statistics of
``specgd.runner.metrics`` are ``a/√m``, ``b/√m`` and ``c·√(r/m)`` with bulk dimension
``r = min(m, d) − 2``.

With ``rank = k`` orthonormal teachers ``ŵ_1 … ŵ_k`` orthogonal to the spike (target
``M* = (1/k) Σ ŵ_iŵ_iᵀ``), ``W = O (a Σ_i ŵ_i e_iᵀ + …)`` is exact in the same way, with one
coefficient ``a`` shared by the teachers, ``α − 1/k`` in place of ``α − 1`` and the bulk
``min(m, d) − k − 1`` (docs/theory.md#rank-r-manifold); the signal statistic is ``a·√(k/m)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ManifoldModel:
    """Spiked problem on the manifold: ``Σ = s_a ŵŵᵀ + s_b vvᵀ + s_c P⊥`` (``s_b = 1 + λ``);
    ``rank`` teachers (each of unit norm, orthonormal, orthogonal to ``v``, with variance ``s_a``;
    ``m >= rank + 1``).

    Parameters
    ----------
    d
        The input dimension.
    m
        The width.
    lam
        The spike strength ``λ``.
    s_a
        The variance along the teacher(s).
    s_c
        The variance of the bulk.
    rank
        The number of teachers.
    """

    d: int
    m: int
    lam: float
    s_a: float = 1.0
    s_c: float = 1.0
    rank: int = 1

    def __post_init__(self):
        if self.rank != 1 and not (isinstance(self.rank, (int, np.integer)) and 1 <= self.rank < self.d - 1
                                   and self.rank + 1 <= self.m):
            raise ValueError(f"rank must be an integer with 1 <= rank <= min(m - 1, d - 2), "
                             f"got {self.rank!r} (m = {self.m}, d = {self.d})")

    @property
    def s_b(self) -> float:
        return 1.0 + self.lam

    @property
    def bulk_dim(self) -> int:
        return min(self.m, self.d) - self.rank - 1

    def gradients(self, a: float, b: float, c: float) -> tuple[float, float, float]:
        """``(g_a, g_b, g_c)`` of docs/theory.md#invariant-manifold (the diagonal of ``∇_M L`` in
        the frame, times m/2)."""
        m = self.m
        alpha, beta, gamma = a * a / m, b * b / m, c * c / m
        k = self.rank
        if k == 1:
            T = self.s_a * (alpha - 1) + self.s_b * beta + self.bulk_dim * self.s_c * gamma
            g_a = 2 * self.s_a * (2 * self.s_a * (alpha - 1) + T)
        else:  # k teachers share the coefficient: Δ = α − 1/k on each
            T = k * self.s_a * (alpha - 1 / k) + self.s_b * beta + self.bulk_dim * self.s_c * gamma
            g_a = 2 * self.s_a * (2 * self.s_a * (alpha - 1 / k) + T)
        g_b = 2 * self.s_b * (2 * self.s_b * beta + T)
        g_c = 2 * self.s_c * (2 * self.s_c * gamma + T)
        return g_a, g_b, g_c

    def loss(self, a: float, b: float, c: float) -> float:
        """Population loss on the manifold (``Δ`` is diagonal in the frame)."""
        m, k = self.m, self.rank
        da = self.s_a * (a * a / m - 1 / k) if k > 1 else self.s_a * (a * a / m - 1)
        db = self.s_b * b * b / m
        dc = self.s_c * c * c / m
        tr2 = k * da**2 + db**2 + self.bulk_dim * dc**2
        tr = k * da + db + self.bulk_dim * dc
        return 2 * tr2 + tr**2

    def step(self, a, b, c, optimizer: str, lr: float):
        g_a, g_b, g_c = self.gradients(a, b, c)
        if optimizer == "gd":
            k = 2 * lr / self.m
            return a * (1 - k * g_a), b * (1 - k * g_b), c * (1 - k * g_c)
        if optimizer == "specgd":
            return (
                a - lr * np.sign(a * g_a),
                b - lr * np.sign(b * g_b),
                c - lr * np.sign(c * g_c),
            )
        raise ValueError(f"optimizer must be 'gd' or 'specgd', got {optimizer!r}")

    def trajectory(
        self, a0: float, b0: float, c0: float, optimizer: str, lr: float, steps: int,
        log_every: int = 1,
    ) -> pd.DataFrame:
        """Iterate the recursion; return the statistics of docs/model.md#statistics (``a, b, c``
        as in ``specgd.run``), the manifold coefficients and the loss, every ``log_every`` steps."""
        a, b, c = float(a0), float(b0), float(c0)
        rows = []
        sm = np.sqrt(self.m)
        for t in range(steps + 1):
            if t % log_every == 0 or t == steps:
                alpha, beta, gamma = a * a / self.m, b * b / self.m, c * c / self.m
                k = self.rank
                m_fro = np.sqrt(k * alpha**2 + beta**2 + self.bulk_dim * gamma**2)
                rows.append(
                    {
                        "step": t, "a": abs(a) / sm * (np.sqrt(k) if k > 1 else 1), "b": abs(b) / sm,
                        "c": abs(c) * np.sqrt(self.bulk_dim / self.m),
                        "cos": alpha * (np.sqrt(k) if k > 1 else 1) / m_fro if m_fro > 0 else np.nan,
                        "coef_a": a, "coef_b": b, "coef_c": c, "loss": self.loss(a, b, c),
                    }
                )
            if t < steps:
                a, b, c = self.step(a, b, c, optimizer, lr)
        return pd.DataFrame(rows)

    def gd_logged(self, coef0: tuple[float, float, float], log_steps, lr: float) -> pd.DataFrame:
        """The GD recursion of :meth:`step` from the coefficients ``coef0`` at step ``lr``,
        compiled (``jax.lax``), logged at the increasing steps ``log_steps``: fast enough for 10⁸
        steps. Columns ``step`` and the statistics ``a, b, c`` (as in :meth:`trajectory`)."""
        k = 2 * lr / self.m

        def body(_, x):
            a, b, c = x
            g_a, g_b, g_c = self.gradients(a, b, c)
            return a * (1 - k * g_a), b * (1 - k * g_b), c * (1 - k * g_c)

        @jax.jit
        def iterate(x0, lengths):
            def outer(x, n):
                x = jax.lax.fori_loop(0, n, body, x)
                return x, jnp.stack(x)
            return jax.lax.scan(outer, x0, lengths)[1]

        log_steps = np.asarray(log_steps)
        lengths = np.diff(np.concatenate([[0], log_steps]))
        out = np.asarray(iterate(tuple(jnp.float64(v) for v in coef0), jnp.asarray(lengths)))
        return pd.DataFrame({
            "step": log_steps,
            "a": np.abs(out[:, 0]) / np.sqrt(self.m) * (np.sqrt(self.rank) if self.rank > 1 else 1),
            "b": np.abs(out[:, 1]) / np.sqrt(self.m),
            "c": np.abs(out[:, 2]) * np.sqrt(self.bulk_dim / self.m),
        })
