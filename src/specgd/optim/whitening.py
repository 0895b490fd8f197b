"""Whitened GD (:func:`whitened_gd`: GD preconditioned by ``(Σ + ridge·I)⁻¹``), the sample
covariance it uses with an estimated ``Σ̂`` (:class:`SampleCovariance`: an operator with the
interface of a :class:`specgd.data.operator.CovarianceOperator`, holding the samples or
``XᵀX/n``), and the memory and work it declares to the runner (:func:`whitening_cost`)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from specgd.data.operator import CovarianceOperator
from specgd.data.problem import Problem
from specgd.errors import ConfigError
from specgd.optim.registry import register_optimizer
from specgd.optim.transforms import Optimizer, check_hparam, check_lr, named

#: Entries (rows × d) of samples drawn at once when accumulating ``XᵀX`` for
#: :class:`SampleCovariance` with ``n ≥ d``: memory stays ``O(d² + SAMPLE_CHUNK)`` whatever ``n``
#: (32 MB of float64), and a large ``n`` in small ``d`` takes few chunks.
SAMPLE_CHUNK = 2**22


class SampleCovariance:
    """The sample covariance ``Σ̂ = XᵀX/n`` of ``n`` inputs ``X`` (n, d), as an operator.

    It applies ``Σ̂`` and ``(Σ̂ + ridge·I)⁻¹`` to row vectors like a :class:`CovarianceOperator`
    (``apply``, ``apply_inverse``, ``min_eigenvalue``, ``trace``, ``to_dense``), holding at most
    ``min(n, d)·d`` numbers: the samples themselves when ``n < d``, else the ``d×d`` matrix
    ``Σ̂``. The inverse is factored once per ridge, in float64:

    - ``n < d``: ``Σ̂`` has rank ``n < d`` and is singular, so ``ridge > 0`` is needed; then
      ``(ridge·I + XᵀX/n)⁻¹ = (I − Xᵀ(n·ridge·I + XXᵀ)⁻¹X)/ridge`` (Woodbury, an ``n×n`` Cholesky);
    - ``n ≥ d``: a ``d×d`` Cholesky of ``Σ̂ + ridge·I``.

    A singular ``Σ̂ + ridge·I`` is a :class:`ConfigError` naming the remedies (``ridge > 0`` or
    ``n ≥ d``). :meth:`draw` estimates ``Σ̂`` from ``n`` samples ``x ~ N(0, Σ)`` of a covariance
    operator; ``seed`` records the seed it used (``None`` for user samples).
    """

    def __init__(self, X: Any = None, *, n: int | None = None, gram: Any = None,
                 seed: int | None = None):
        if X is not None:
            X = np.asarray(X, dtype=float)
            if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
                raise ConfigError(f"samples: must be an (n, d) array with n, d >= 1, got shape {X.shape}")
            if not np.all(np.isfinite(X)):
                raise ConfigError("samples: must be finite (found NaN or inf)")
            n = X.shape[0]
            if n >= X.shape[1]:
                gram, X = X.T @ X / n, None
        self.n = int(n)
        self.samples = X  # (n, d) when n < d, else None
        self.matrix = None if gram is None else np.asarray(gram, dtype=float)  # Σ̂ when n ≥ d
        self.d = int((X if X is not None else self.matrix).shape[1])
        self.seed = seed
        self._factors: dict[float, Any] = {}
        self._min_eig: float | None = None

    @classmethod
    def draw(cls, cov: CovarianceOperator, n: int, seed: int = 0) -> SampleCovariance:
        """``Σ̂`` from ``n`` samples ``x = Σ^{1/2} z``, ``z ~ N(0, I)`` drawn from
        ``PRNGKey(seed)`` (in chunks of :data:`SAMPLE_CHUNK` entries when ``n ≥ d``)."""
        d = cov.d
        key = jax.random.PRNGKey(seed)
        draw = lambda k, rows: np.asarray(  # noqa: E731
            cov.apply_sqrt(jax.random.normal(k, (rows, d), dtype=jnp.float64)), dtype=float)
        if n < d:
            return cls(draw(key, n), seed=seed)
        gram = np.zeros((d, d))
        chunk = max(1, SAMPLE_CHUNK // d)  # rows per chunk
        for i, start in enumerate(range(0, n, chunk)):
            X = draw(jax.random.fold_in(key, i), min(chunk, n - start))
            gram += X.T @ X
        return cls(n=n, gram=gram / n, seed=seed)

    def apply(self, Y: jax.Array) -> jax.Array:
        """``Y Σ̂`` for row vectors ``Y`` (..., d)."""
        if self.samples is None:
            return Y @ jnp.asarray(self.matrix, dtype=Y.dtype)
        X = jnp.asarray(self.samples, dtype=Y.dtype)
        return ((Y @ X.T) @ X) / self.n

    def singular_message(self, ridge: float) -> str:
        """Why ``Σ̂ + ridge·I`` cannot be inverted, and what to change."""
        if self.n < self.d:
            return (f"Σ̂ + ridge·I is singular: the sample covariance has rank <= n = {self.n} < "
                    f"d = {self.d} and ridge = {ridge:g}; pass ridge > 0 or n >= d ({self.d}) samples")
        return (f"Σ̂ + ridge·I is numerically singular (n = {self.n} samples in d = {self.d}, "
                f"ridge = {ridge:g}); pass ridge > 0 or more samples (n >> d)")

    def _factor(self, ridge: float):
        ridge = float(ridge)
        if ridge not in self._factors:
            if self.samples is not None:
                if ridge <= 0:
                    raise ConfigError(self.singular_message(ridge))
                X = self.samples
                K = self.n * ridge * np.eye(self.n) + X @ X.T
            else:
                K = self.matrix + ridge * np.eye(self.d)
            try:
                L = np.linalg.cholesky(K)
            except np.linalg.LinAlgError:
                raise ConfigError(self.singular_message(ridge)) from None
            if not np.all(np.isfinite(L)) or np.min(np.diag(L)) ** 2 <= 1e-13 * np.max(np.diag(K)):
                raise ConfigError(self.singular_message(ridge))
            self._factors[ridge] = L
        return self._factors[ridge]

    def check_invertible(self, ridge: float = 0.0) -> None:
        """:class:`ConfigError` unless ``Σ̂ + ridge·I`` is (numerically) invertible."""
        self._factor(ridge)

    def apply_inverse(self, Y: jax.Array, ridge: float = 0.0) -> jax.Array:
        """``Y (Σ̂ + ridge·I)⁻¹`` for row vectors ``Y`` (..., d), from the factor of this ridge."""
        L = jnp.asarray(self._factor(ridge), dtype=Y.dtype)
        flat = Y.reshape(-1, self.d)
        if self.samples is None:
            return jax.scipy.linalg.cho_solve((L, True), flat.T).T.reshape(Y.shape)
        X = jnp.asarray(self.samples, dtype=Y.dtype)
        inner = jax.scipy.linalg.cho_solve((L, True), X @ flat.T)  # K⁻¹ X Yᵀ, (n, rows)
        return ((flat - inner.T @ X) / ridge).reshape(Y.shape)

    def min_eigenvalue(self) -> float:
        """The smallest eigenvalue of ``Σ̂`` (0 when ``n < d``)."""
        if self._min_eig is None:
            self._min_eig = 0.0 if self.samples is not None \
                else float(np.linalg.eigvalsh(self.matrix)[0])
        return self._min_eig

    def trace(self) -> float:
        if self.samples is None:
            return float(np.trace(self.matrix))
        return float(np.sum(self.samples**2) / self.n)

    def to_dense(self) -> np.ndarray:
        """``Σ̂`` as a ``d×d`` array, for reference checks."""
        if self.samples is None:
            return self.matrix.copy()
        return self.samples.T @ self.samples / self.n

    def describe(self) -> dict[str, Any]:
        return {"estimated": True, "d": self.d, "n": self.n, "seed": self.seed}

    def __repr__(self) -> str:
        return f"SampleCovariance(n={self.n}, d={self.d}, seed={self.seed})"


def whitening_cost(hparams: dict[str, Any], problem: Any, problems: int):
    """``(bytes, setup flop, flop per step and run, detail)`` of whitened GD's preconditioning by
    ``Σ⁻¹`` or ``Σ̂⁻¹`` on ``problems`` problems like ``problem``, roughly (its registered cost,
    :data:`specgd.optim.registry.Cost`). ``Σ̂`` from ``n`` samples holds ``n×d`` samples and an
    ``n×n`` factor when ``n < d``, else ``Σ̂`` and its ``d×d`` Cholesky factor (the samples drawn
    in chunks)."""
    hp = hparams
    d, m = problem.d, problem.m
    n = hp.get("whiten_n")
    if hp.get("whiten") == "estimated" and isinstance(n, int):
        r = min(n, d)
        memory = problems * 8 * (r * d + r * r + min(n * d, SAMPLE_CHUNK))
        setup = problems * (2.0 * n * d * r + r**3 / 3.0)
        per_step = 4.0 * m * d * r
        return memory, setup, per_step, f"{problems:,} Σ̂ from n = {n:,} samples in d = {d:,}"
    if problem.arrays.cov.dense is not None:  # a Cholesky factor and solve per step
        return problems * 8 * d * d, 0.0, d**3 / 3.0 + 2.0 * m * d * d, "Cholesky of a dense Σ"
    k = int(problem.arrays.spikes.shape[0])
    return 0, 0.0, 4.0 * m * d * (k + 1), "Woodbury solve with the spikes"


WHITEN = ("known", "estimated")


# long: the docstring documents every parameter, and the checks of a Σ̂ (estimated or given) come
# first, before anything is drawn
@register_optimizer("whitened_gd", binds="cov", cost=whitening_cost)
def whitened_gd(lr: float = 0.02, cov: Any = None, ridge: float = 0.0, whiten: str = "known",
                whiten_n: int | None = None, whiten_seed: int | None = 0) -> Optimizer:
    """Whitened GD ``W ← W − η̃ ∇L (Σ + ridge·I)⁻¹``: GD preconditioned by the input covariance.

    ``whiten='known'`` preconditions by the problem's own ``Σ``; ``whiten='estimated'`` by the
    sample covariance ``Σ̂ = (1/n)Σ xᵢxᵢᵀ`` of ``whiten_n`` fresh inputs ``x ~ N(0, Σ)`` drawn
    from ``PRNGKey(whiten_seed)`` (:class:`SampleCovariance`; ``n < d``
    needs ``ridge > 0``). The gradient itself is untouched (in population mode still the exact
    closed form); only the update is preconditioned.

    ``cov`` is what ``Σ`` comes from: the :class:`specgd.Problem` (or its covariance operator,
    ``problem.cov``; with ``'estimated'`` the samples are drawn from it), or a
    :class:`SampleCovariance` used as is. Left out (configurations, the command line, sweeps), the
    runner binds it to the run's problem before compiling (the ``needs_problem`` capability,
    :func:`specgd.optim.registry.bind_problem`). ``(Σ + ridge·I)⁻¹`` is applied by the operator,
    never as a ``d×d`` inverse: Woodbury for spikes, a Cholesky solve for ``Dense`` and for ``Σ̂``
    (``d×d`` when ``n ≥ d``, ``n×n`` when ``n < d``). Not declared equivariant: the update depends
    on ``Σ``, so population runs keep all ``d`` coordinates.

    Parameters
    ----------
    lr
        The step size ``η̃``.
    cov
        What ``Σ`` comes from: a :class:`specgd.Problem`, its covariance operator or a
        ``SampleCovariance``; left out, the runner binds the run's problem.
    ridge
        Added to the covariance's diagonal before inverting (>= 0; > 0 when ``n < d``).
    whiten
        ``'known'`` (the problem's ``Σ``) or ``'estimated'`` (a sample covariance).
    whiten_n
        Number of inputs of the sample covariance (``'estimated'`` only).
    whiten_seed
        Seed of those inputs.
    """
    lr = check_lr(lr)
    ridge = check_hparam("ridge", ridge)
    whiten = check_hparam("whiten", whiten)
    whiten_n = check_hparam("whiten_n", whiten_n)
    whiten_seed = check_hparam("whiten_seed", whiten_seed)
    if isinstance(cov, SampleCovariance):  # an estimate already (a rebuild, or the user's own)
        if whiten_n is not None and whiten_n != cov.n:
            raise ConfigError(f"whiten_n: {whiten_n} differs from the n = {cov.n} samples of the "
                              "given sample covariance")
        whiten, whiten_n, whiten_seed = "estimated", cov.n, cov.seed
    elif whiten == "estimated" and whiten_n is None:
        raise ConfigError("whiten_n: required with whiten='estimated' (the number n >= 1 of "
                          "samples of Σ̂ = (1/n)Σ xᵢxᵢᵀ)")
    elif whiten == "known" and whiten_n is not None:
        raise ConfigError("whiten_n: only used with whiten='estimated' (whiten='known' "
                          "preconditions by the problem's own Σ)")
    if whiten == "estimated" and whiten_seed is None:
        whiten_seed = 0
    if isinstance(cov, Problem):
        cov = cov.cov
    hparams = dict(lr=lr, cov=cov, ridge=ridge, whiten=whiten, whiten_n=whiten_n,
                   whiten_seed=whiten_seed)
    if cov is None:  # unbound: the runner binds it to the run's problem
        return named(_unbound("whitened_gd"), "whitened_gd", whitened_gd, **hparams)
    if not isinstance(cov, (CovarianceOperator, SampleCovariance)):
        raise ConfigError("cov: must be the problem (or its covariance, problem.cov), got "
                          f"{type(cov).__name__}")
    drawn = whiten == "estimated" and not isinstance(cov, SampleCovariance)
    if drawn:
        if whiten_n < cov.d and ridge == 0:  # singular: refused before drawing anything
            raise ConfigError(f"whiten_n: Σ̂ from n = {whiten_n} samples has rank <= n < d = {cov.d}, "
                              f"so Σ̂ + ridge·I is singular with ridge = 0; pass ridge > 0 or "
                              f"whiten_n >= d ({cov.d})")
        cov = SampleCovariance.draw(cov, whiten_n, whiten_seed)
        hparams["cov"] = cov
    if isinstance(cov, SampleCovariance):
        try:
            cov.check_invertible(ridge)
        except ConfigError as e:
            raise ConfigError(f"{'whiten_n' if drawn else 'cov'}: {e}") from None
    elif cov.min_eigenvalue() + ridge <= 0:
        raise ConfigError("cov: Σ + ridge·I is singular (smallest eigenvalue "
                          f"{cov.min_eigenvalue():.3g}); pass ridge > 0")
    d = cov.d

    def whiten_fn(g):
        if g.shape[-1] != d:
            raise ConfigError(f"whitened_gd: the gradient has {g.shape[-1]} columns but cov is "
                              f"{d}-dimensional; pass the problem's own cov (problem.cov)")
        return cov.apply_inverse(g, ridge).astype(g.dtype)

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(whiten_fn, updates), state

    tx = optax.chain(optax.GradientTransformation(lambda p: optax.EmptyState(), update_fn),
                     optax.scale(-lr))
    return named(tx, "whitened_gd", whitened_gd, **hparams)


def _unbound(name: str) -> optax.GradientTransformation:
    """The transformation of an optimizer still waiting for its problem: using it is an error."""

    def update_fn(updates, state, params=None):
        raise ConfigError(f"{name} is not bound to a problem: run it with specgd.run (which binds "
                          f"it to the run's problem) or pass cov=problem")

    return optax.GradientTransformation(lambda p: optax.EmptyState(), update_fn)
