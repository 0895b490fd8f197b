"""Floating-point operation counts per optimizer step (a multiply-add counts as 2 flops)."""

from __future__ import annotations


def population_grad(d: int, m: int, k: int = 1) -> float:
    """``P = WΣ`` (diagonal + ``k`` spikes), ``K = PWᵀ``, ``q = Pw*``, ``KP`` and the combination."""
    return 4.0 * m * m * d + (4.0 * k + 9.0) * m * d


def empirical_grad(n: int, d: int, m: int) -> float:
    """``Z = XWᵀ`` and ``(Z⊙r)ᵀX`` (``2nmd`` each) plus the residuals."""
    return 4.0 * n * m * d + 4.0 * n * m


def sampling(b: int, d: int, k: int = 1) -> float:
    """Drawing ``b`` inputs ``Σ^{1/2}z`` and labels (normals not counted)."""
    return b * d * (4.0 * k + 3.0)


def optimizer(name: str, d: int, m: int) -> float:
    """The update rule applied to an ``m×d`` gradient (the polar factor via the Gram matrix)."""
    small, big = min(m, d), max(m, d)
    if name == "gd":
        return 2.0 * m * d
    if name == "specgd":
        return 4.0 * small * small * big + 12.0 * small**3 + 2.0 * m * d
    if name == "muon":  # rows ≤ cols/2: iterated on the Gram side (two wide products, not ten)
        if 2 * small <= big:
            return 4.0 * small * small * big + 5 * 8.0 * small**3 + 8.0 * m * d
        return 5 * (4.0 * small * small * big + 2.0 * small**3) + 8.0 * m * d
    raise ValueError(name)


def population_specgd(d: int, m: int, k: int = 1) -> float:
    """SpecGD from the factored gradient (Σ = I + spikes, well-conditioned step): ``WWᵀ`` and
    ``WVᵀ`` give ``K`` and ``PPᵀ``, then the m×m Gram and eigensolve, then ``[(GGᵀ)^{-1/2}C] P``."""
    return 2.0 * m * m * d + (2.0 * k + 9.0) * m * d + 30.0 * m**3 + 2.0 * m * m * d + 4.0 * m * d


def step(mode: str, opt: str, d: int, m: int, n: int | None = None, batch: int = 1) -> float:
    """Flops of one step of ``opt`` in ``mode`` (population, finite with ``n`` samples, online)."""
    if mode == "population" and opt == "specgd" and m <= d:
        return population_specgd(d, m)
    if mode == "population":
        grad = population_grad(d, m)
    elif mode == "finite":
        grad = empirical_grad(int(n or 0), d, m)
    else:
        grad = empirical_grad(batch, d, m) + sampling(batch, d)
    return grad + optimizer(opt, d, m)
