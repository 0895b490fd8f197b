"""Assembling a run's result from its calls' outputs: the records as tables
(:class:`specgd.RunResult`), the final weights lifted back to d coordinates, the tracked targets,
and the configuration and conventions a manifest records."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import optax

from specgd.data.digest import digest, stored_name
from specgd.model.init import ArrayInit, GaussianInit
from specgd.optim.transforms import describe_optimizer
from specgd.results.result import RunResult
from specgd.runner import subspace, tracking
from specgd.runner.plan import Batch
from specgd.runner.spec import RunSpec


def assemble(outs: list[dict], batch: Batch, problems: list, init: Any, spec: RunSpec,
             vectorize: str, seconds: float) -> RunResult:
    """The :class:`specgd.RunResult` of the calls' outputs ``outs`` (the calls' runs follow one
    another in run order)."""

    records = [{k: np.concatenate([o["records"][k] for o in outs]) for k in outs[0]["records"]}]
    final = np.concatenate([o["W"] for o in outs])
    if batch.bases is not None:
        final = subspace.lift(final, batch.bases, final.dtype)
    result_extra = {}
    if spec.targets:
        state = {k: np.concatenate([o["track"][k] for o in outs]) for k in outs[0]["track"]}
        result_extra = tracking.finish(state, spec.steps, spec.targets)

    result = RunResult.from_records(
        records=records,
        runs=batch.runs,
        diverged_at=np.concatenate([o["diverged_at"] for o in outs]),
        final_params=final,
        config=_config(problems, batch.groups[0][0], init, spec, vectorize,
                       None if batch.bases is None else batch.bases.shape[1]),
        seconds=seconds,
    )
    for name, values in result_extra.items():
        result.runs[name] = values
    result.arrays = _named_arrays(problems, init)
    return result


def _named_arrays(problems, init) -> dict[str, np.ndarray]:
    """The arrays a manifest names by content (``arrays/<sha256>.npy``): an explicit initial
    ``W`` and the dense covariances too large to be written in the manifest itself."""
    arrays = [init.array] if isinstance(init, ArrayInit) else []
    arrays += [p.cov_family.matrix for p in problems
               if isinstance(p.cov_family.describe().get("matrix"), str)]
    return {stored_name(a): np.asarray(a, dtype=np.float64) for a in arrays}


def _config(problems, optimizer, init, spec: RunSpec, vectorize: str,
            subspace_dim: int | None = None) -> dict[str, Any]:
    """The resolved configuration and the conventions of the numbers, for the manifest."""
    problem = problems[0]
    opt = describe_optimizer(optimizer) if isinstance(optimizer, optax.GradientTransformation) \
        else {"name": getattr(optimizer, "__name__", "function of lr")}
    return {
        "problem": problem.describe() if len(problems) == 1 else [p.describe() for p in problems],
        "optimizer": opt,
        "init": {**init.describe(), **({"sha256": digest(init.array)}
                                       if isinstance(init, ArrayInit) else {})},
        **spec.settings(vectorize),  # every run option (specgd.runner.options), as resolved
        "log_steps": "every log_every" if spec.log_every else list(spec.log_steps),
        "subspace_dim": subspace_dim,
        "polar_route": "factored population gradient (explicit fallback)" if spec.fused_polar else None,
        "backend": jax.default_backend(),
        "conventions": {
            "loss": "E[(f_W(x) - y)^2], no 1/2 prefactor",
            "student": "f_W(x) = sum_j a_j (w_j^T x)^2, M = W^T diag(a) W"
            if problem.activation == "quadratic"
            else f"f_W(x) = sum_j a_j sigma(w_j^T x), sigma = {problem.activation}",
            **({} if problem.link == "square" else
               {"target": f"y = (1/r) sum_k g(w_k^T x) + noise, g = {problem.link}"}),
            "second_layer": problem.second_layer_spec,
            "teacher_norm": problem.teacher_norm,
            "init_variance": "scale^2/d per entry" if isinstance(init, GaussianInit) else None,
            "stats": "a=|W w_hat|/sqrt(m), b=|W v|/sqrt(m), c=|W P_perp|_F/sqrt(m)",
            "seed_use": "PRNGKey(seed) split into (init, data, step noise); teacher from problem_seed",
        },
    }
