"""Summary statistics (docs/model.md#statistics), computed from ``W`` in ``O(m²d)`` without ``d×d`` arrays."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from specgd.data.problem import ProblemArrays
from specgd.loss.population import population_loss


def metric_names(n_spikes: int, m: int, moments: tuple[int, ...] = (),
                 teacher_rank: int = 1) -> list[str]:
    """Column names produced by :func:`summary` for this problem shape."""
    names = ["a", "b", "c", "cos", "overlap", "loss", "rel_error"]
    if n_spikes == 0:
        names.remove("b")
    if n_spikes > 1:
        names += [f"b{k + 1}" for k in range(n_spikes)]
    if teacher_rank > 1:
        names.append("subspace")
    if m == 1:
        if teacher_rank > 1:  # mse, u: of a rank-one teacher
            names += ["s"] + [f"s{k}" for k in moments]
        else:
            names += ["mse", "s", "u"] + [f"s{k}" for k in moments] + [f"u{k}" for k in moments]
    return names


def summary(
    W: jax.Array, pa: ProblemArrays, moments: tuple[int, ...] = (), dim: int | None = None
) -> dict[str, jax.Array]:
    """Signal ``a``, spike ``b`` (per spike when several), bulk ``c``, alignment, losses.

    Every statistic is invariant under an orthonormal change of the coordinates of W's rows, so
    ``W`` may be given in a reduced basis; ``dim`` is then the true input dimension (for ``mse``).
    Teachers of rank ``r > 1``: :func:`_summary_rank` (the same columns, generalized, and
    ``subspace``; docs/model.md#rank-r-teachers).
    """
    if pa.teacher_rank > 1:
        return _summary_rank(W, pa, moments)
    m = W.shape[0]
    sqrt_m = jnp.sqrt(jnp.asarray(m, W.dtype))
    w_hat = pa.unit_teacher
    out: dict[str, jax.Array] = {}
    signal = W @ w_hat
    out["a"] = jnp.linalg.norm(signal) / sqrt_m
    out.update(_spike_and_bulk(W, pa, sqrt_m))

    a = pa.second_layer
    m_fro = _m_norm(W, a)
    signal_mass = jnp.sum(a * signal**2)  # ŵᵀMŵ
    out["cos"] = signal_mass / jnp.where(m_fro > 0, m_fro, 1.0)
    Q, vecs = _m_eigenvectors(W, a)
    top = Q @ vecs[:, -1]
    out["overlap"] = (top @ w_hat) ** 2

    out["loss"] = population_loss(W, pa)
    w_star = pa.teacher
    norm2 = w_star @ w_star
    rel2 = m_fro**2 - 2.0 * jnp.sum(a * (W @ w_star) ** 2) + norm2**2
    out["rel_error"] = jnp.sqrt(jnp.maximum(rel2, 0.0)) / norm2

    if m == 1:
        w = W[0] * jnp.sqrt(jnp.abs(a[0]))
        d = W.shape[1] if dim is None else dim
        out["mse"] = jnp.minimum(jnp.sum((w - w_star) ** 2), jnp.sum((w + w_star) ** 2)) / d
        sw = pa.cov.apply(w)
        out["s"] = w @ sw
        out["u"] = sw @ w_star
        for p in moments:
            skw = pa.cov.apply_power(w, p)
            out[f"s{p}"] = skw @ w
            out[f"u{p}"] = skw @ w_star
    return out


def _summary_rank(W: jax.Array, pa: ProblemArrays, moments: tuple[int, ...]) -> dict[str, jax.Array]:
    """The statistics for ``M* = TᵀT`` of rank ``r``: ``a = ‖WBᵀ‖_F/√m`` (``B`` the teacher basis),
    ``cos = ⟨M, M*⟩/(‖M‖_F‖M*‖_F)``, ``overlap`` the top eigenvector's mass on the teacher span,
    ``subspace`` the mean squared cosine of the principal angles between the top-``r`` eigenspace
    of ``M`` and the teacher span, ``rel_error = ‖M − M*‖_F/‖M*‖_F``; ``b`` and ``c`` as for
    ``r = 1`` (``c`` outside span(teachers, spikes)). Each reduces to its rank-one form at r = 1."""
    m = W.shape[0]
    sqrt_m = jnp.sqrt(jnp.asarray(m, W.dtype))
    B, T = pa.teacher_basis, pa.teachers
    r = T.shape[0]
    out: dict[str, jax.Array] = {}
    out["a"] = jnp.sqrt(jnp.sum((W @ B.T) ** 2)) / sqrt_m
    out.update(_spike_and_bulk(W, pa, sqrt_m))

    a = pa.second_layer
    m_fro = _m_norm(W, a)
    TTt = T @ T.T
    star_fro = jnp.sqrt(jnp.sum(TTt * TTt))  # ‖M*‖_F
    inner = jnp.sum(a * jnp.sum((W @ T.T) ** 2, axis=1))  # ⟨M, M*⟩
    out["cos"] = inner / (jnp.where(m_fro > 0, m_fro, 1.0) * star_fro)
    Q, vecs = _m_eigenvectors(W, a)
    top = Q @ vecs[:, -1]
    out["overlap"] = jnp.sum((B @ top) ** 2)
    top_r = Q @ vecs[:, -min(r, vecs.shape[1]):]  # (d, min(r, m))
    out["subspace"] = jnp.sum((B @ top_r) ** 2) / r

    out["loss"] = population_loss(W, pa)
    rel2 = m_fro**2 - 2.0 * inner + star_fro**2
    out["rel_error"] = jnp.sqrt(jnp.maximum(rel2, 0.0)) / star_fro
    if m == 1:
        w = W[0] * jnp.sqrt(jnp.abs(a[0]))
        out["s"] = w @ pa.cov.apply(w)
        for p in moments:
            out[f"s{p}"] = pa.cov.apply_power(w, p) @ w
    return out


def _spike_and_bulk(W: jax.Array, pa: ProblemArrays, sqrt_m: jax.Array) -> dict[str, jax.Array]:
    """The spike ``b`` (and ``b1, b2, …`` with several spikes) and the bulk ``c``."""
    out: dict[str, jax.Array] = {}
    k = pa.spikes.shape[0]
    if k:
        per_spike = jnp.linalg.norm(W @ pa.spikes.T, axis=0) / sqrt_m  # (k,)
        out["b"] = jnp.linalg.norm(per_spike)
        if k > 1:
            for i in range(k):
                out[f"b{i + 1}"] = per_spike[i]
    in_frame = jnp.sum((W @ pa.frame.T) ** 2)
    out["c"] = jnp.sqrt(jnp.maximum(jnp.sum(W * W) - in_frame, 0.0)) / sqrt_m
    return out


def _m_norm(W: jax.Array, a: jax.Array) -> jax.Array:
    """``‖M‖_F`` for ``M = Wᵀ diag(a) W``, from the m×m Gram matrix."""
    aG = a[:, None] * (W @ W.T)
    return jnp.sqrt(jnp.maximum(jnp.sum(aG * aG.T), 0.0))


def _m_eigenvectors(W: jax.Array, a: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``Q`` and ``V`` with ``M = Wᵀ diag(a) W = (QV) diag(λ) (QV)ᵀ``, eigenvalues ascending.

    ``Wᵀ = Q R`` (thin QR), so ``M = Q (R diag(a) Rᵀ) Qᵀ`` needs only an m×m eigensolve."""
    Q, R = jnp.linalg.qr(W.T)
    core = (R * a[None, :]) @ R.T
    _, vecs = jnp.linalg.eigh((core + core.T) / 2)
    return Q, vecs


def update_spectrum(U: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Largest and smallest of the ``min(m, d)`` singular values of an applied update.

    ``full_matrices=False`` matters even without vectors: JAX's CPU SVD otherwise asks for a
    ``d×d`` workspace (8 TB at d = 10⁶)."""
    s = jnp.linalg.svd(U, full_matrices=False, compute_uv=False)
    return s[0], s[-1]
