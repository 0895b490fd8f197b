"""E9's runs: the population and sample spectral estimators, GD, SpecGD and whitened GD from
random and spectral starts, GD on rank-r teachers, and the sample overlaps on the isotropic
problem."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

import specgd as sg
from specgd.model.preprocessing import MIN_DELTA
from specgd.report.experiment import Context, Frames
from specgd.report.experiments.e9_practice.derive import OVERLAP_PREPS, truncated_threshold
from specgd.report.experiments.e9_practice.params import PREPROCESSINGS, STARTS, Params
from specgd.theory.predictions import gd_growth_factors_rank, spike_threshold_rank


def run(p: Params, ctx: Context | None = None) -> Frames:
    """``population`` (a), ``finite`` (b), ``trajectories`` and ``starts`` (c), ``rank`` (d,
    when ``ranks``) and ``overlap`` (e, when ``ovl_ds``)."""
    traj, starts = _simulate_starts(p)
    frames = {"population": _population(p), "finite": _finite(p), "trajectories": traj,
              "starts": starts}
    if p.ranks:  # (d); an empty `ranks` leaves it out
        frames["rank"] = _rank(p)
    if p.ovl_ds:  # (e); an empty `ovl_ds` (the quick run) leaves it out
        frames["overlap"] = _overlaps(p)
    return frames


def _estimators(p: Params) -> list[tuple[str, str, float, Any, float]]:
    """(name, preprocessing, τ, SpectralInit, predicted switch λ (inf: never))."""
    out = [("plain", "plain", math.nan, sg.SpectralInit("plain"), 2.0),
           ("centered", "centered", math.nan, sg.SpectralInit("centered"), math.inf),
           ("optimal", "optimal", math.nan, sg.SpectralInit("optimal"), math.inf)]
    for tau in p.truncations:
        out.append((f"truncated τ={tau:g}", "truncated", tau,
                    sg.SpectralInit("truncated", truncation=tau), truncated_threshold(tau)))
    return out


def _population(p: Params) -> pd.DataFrame:
    rows = []
    ests = _estimators(p)
    for lam in p.pop_lams:
        prob = sg.Problem(d=p.pop_d, m=1, cov=sg.Spiked(lam=float(lam)))
        w = np.asarray(prob.arrays.unit_teacher)
        v = np.asarray(prob.spikes[0])
        for name, prep, tau, init, pred in ests:
            vals, vecs, _ = init.eigen(prob)
            rows.append({"estimator": name, "preprocessing": prep, "tau": tau, "lam": float(lam),
                         "overlap_signal": abs(float(vecs[0] @ w)),
                         "overlap_spike": abs(float(vecs[0] @ v)), "top_eigenvalue": float(vals[0]),
                         "predicted_switch": pred})
    return pd.DataFrame(rows)


def _finite(p: Params) -> pd.DataFrame:
    """Overlaps of the sample estimators' top eigenvectors. Per (λ, seed) one sample of the largest
    n is drawn (``problem.sample``) and every n/d uses its first n rows (nested samples, so the
    curves vary smoothly in n); each preprocessing is the library's ``SpectralInit.transform``
    applied to the labels, ``D̂ = (1/n) Σᵢ T(yᵢ) xᵢxᵢᵀ``, diagonalized densely (as
    ``SpectralInit.eigen`` does below its dense size)."""
    import jax  # lazy: only for the sample keys

    rows = []
    d = p.fin_d
    n_max = int(round(max(p.ratios) * d))
    inits = {prep: sg.SpectralInit(prep) for prep in PREPROCESSINGS}
    for lam in p.fin_lams:
        prob = sg.Problem(d=d, m=1, cov=sg.Spiked(lam=float(lam)))
        w = np.asarray(prob.arrays.unit_teacher)
        v = np.asarray(prob.spikes[0])
        for seed in p.fin_seeds:
            X_all, y_all = (np.asarray(a, dtype=float)
                            for a in prob.sample(jax.random.PRNGKey(int(seed)), n_max))
            for ratio in p.ratios:
                n = int(round(ratio * d))
                X, y = X_all[:n], y_all[:n]
                for prep, init in inits.items():
                    D = (X.T * init.transform(y, d)) @ X / n
                    top = np.linalg.eigh(D)[1][:, -1]
                    rows.append({"lam": float(lam), "ratio": float(ratio), "n": n,
                                 "preprocessing": prep, "seed": int(seed),
                                 "overlap_signal": abs(float(top @ w)),
                                 "overlap_spike": abs(float(top @ v))})
    return pd.DataFrame(rows)


def _sqrt_sigma(W: np.ndarray, v: np.ndarray, lam: float) -> np.ndarray:
    """``W Σ^{1/2}`` for ``Σ = I + λvvᵀ``: ``Σ^{1/2} = I + (√(1+λ) − 1)vvᵀ``."""
    return W + (math.sqrt(1 + lam) - 1) * (W @ v)[..., None] * v


def _starts(p: Params, prob: sg.Problem) -> tuple[np.ndarray, pd.DataFrame]:
    """Initial weights ``(len(STARTS)·len(seeds), m, d)``, ordered by start then seed, and a table
    of what each start is. Seed ``s``: the Gaussian init ``G_s`` (entries N(0, scale²/d)); a
    spectral start adds ``c₁ v₁ᵀ`` to every row, ``v₁`` the top eigenvector of the sample estimator
    with ``n = start_ratio·d`` samples drawn with seed ``s``, ``c₁`` its mean-matched norm."""
    single = sg.Problem(d=p.d, m=1, cov=sg.Spiked(lam=p.lam))
    w = np.asarray(prob.arrays.unit_teacher)
    v = np.asarray(prob.spikes[0])
    n = int(round(p.start_ratio * p.d))
    Ws, rows = [], []
    for start in STARTS:
        for seed in p.seeds:
            rng = np.random.default_rng(10_000 + int(seed))
            W = p.init_scale / math.sqrt(p.d) * rng.standard_normal((p.m, p.d))
            row = {"start": start, "seed": int(seed), "n": 0, "overlap_signal": math.nan,
                   "overlap_spike": math.nan, "row_norm": 0.0}
            if start != "random":
                _, vecs, c2 = sg.SpectralInit(start, n=n, seed=int(seed)).eigen(single)
                W = W + math.sqrt(c2[0]) * vecs[0][None, :]
                row.update(n=n, overlap_signal=abs(float(vecs[0] @ w)),
                           overlap_spike=abs(float(vecs[0] @ v)), row_norm=math.sqrt(c2[0]))
            Ws.append(W)
            rows.append(row)
    return np.stack(Ws), pd.DataFrame(rows)


def _simulate_starts(p: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every optimizer from every start (the trajectories), and what each start is."""
    prob = sg.Problem(d=p.d, m=p.m, cov=sg.Spiked(lam=p.lam))
    iso = sg.Problem(d=p.d, m=p.m, cov=sg.Spiked(lam=0.0))  # same seed: the same w* and v
    W0, starts = _starts(p, prob)
    v = np.asarray(prob.spikes[0])
    runs = list(range(len(W0)))  # run index → (start, seed) by position in `starts`
    kw = dict(steps=p.steps, seeds=runs, log_every=p.log_every, progress=False)
    frames = []
    # GD on Σ from W₀ and, in the same compiled call, GD on the isotropic problem from W₀Σ^{1/2}.
    both = sg.run([prob, iso], sg.gd(p.lr_gd), init=sg.ArrayInit(
        np.concatenate([W0, _sqrt_sigma(W0, v, p.lam)])), **kw).frame
    frames.append(both[both["problem"] == 0].drop(columns="problem").assign(optimizer="gd"))
    frames.append(both[both["problem"] == 1].drop(columns="problem").assign(optimizer="gd_isotropic"))
    frames.append(sg.run(prob, sg.specgd(p.lr_specgd), init=sg.ArrayInit(W0), track_update=False,
                         **kw).frame.assign(optimizer="specgd"))
    # whitened GD as registered: the runner binds it to the problem's own Σ (whiten="known")
    frames.append(sg.run(prob, sg.whitened_gd(p.lr_whitened), init=sg.ArrayInit(W0),
                         **kw).frame.assign(optimizer="whitened_gd"))
    if p.whiten_ratio is not None:
        # Σ̂ from whiten_ratio·d fresh inputs (one estimate, seed 0), from the random start only:
        # its d×d solves make it the slowest run (runs 0 … len(seeds)−1 are the random start)
        est = sg.whitened_gd(p.lr_whitened, whiten="estimated",
                             whiten_n=int(round(p.whiten_ratio * p.d)), whiten_seed=0)
        n_random = len(p.seeds)
        frames.append(sg.run(prob, est, init=sg.ArrayInit(W0[:n_random]),
                             **{**kw, "seeds": runs[:n_random]}).frame.assign(
            optimizer="whitened_gd_est"))
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.rename(columns={"seed": "run"})
    frame["start"] = frame["run"].map(dict(enumerate(starts["start"])))
    frame["seed"] = frame["run"].map(dict(enumerate(starts["seed"])))
    keep = ["optimizer", "start", "seed", "step", "a", "b", "c", "cos", "loss"]
    frame = frame[keep].sort_values(["optimizer", "start", "seed", "step"], ignore_index=True)
    return frame, starts


def _rank(p: Params) -> pd.DataFrame:
    """GD from a tiny Gaussian init on ``Problem(teacher_rank=r)`` for every λ of the grid: the
    growth of ``b/a`` over ``rank_steps`` steps and its linear-regime prediction."""
    rows = []
    for r in p.ranks:
        lams = [float(x) for x in p.rank_lams]
        probs = [sg.Problem(d=p.rank_d, m=p.rank_m, cov=sg.Spiked(lam=lam), teacher_rank=int(r))
                 for lam in lams]
        frame = sg.run(probs, sg.gd(p.lr_gd), steps=p.rank_steps, seeds=list(p.rank_seeds),
                       init=sg.GaussianInit(p.rank_init_scale), log_every=p.rank_steps,
                       progress=False).frame
        for (i, seed), g in frame.groupby(["problem", "seed"]):
            g = g.sort_values("step")
            first, last = g.iloc[0], g.iloc[-1]
            f = gd_growth_factors_rank(p.lr_gd, p.rank_m, lams[i], int(r))
            rows.append({"rank": int(r), "lam": lams[i], "seed": int(seed),
                         "amplification": float((last["b"] / last["a"]) / (first["b"] / first["a"])),
                         "amplification_theory": float((f["spike"] / f["signal"]) ** p.rank_steps),
                         "a_end": float(last["a"]), "b_end": float(last["b"]),
                         "threshold_theory": spike_threshold_rank(int(r))})
    return pd.DataFrame(rows)


def _overlaps(p: Params) -> pd.DataFrame:
    """ρ² = ⟨v₁, ŵ⟩² and the top eigenvalue of ``(1/n) Σᵢ ȳT(yᵢ/ȳ) xᵢxᵢᵀ`` on the isotropic
    problem: ``x ~ N(0, I_d)`` from numpy's generator seeded ``(d, seed)`` (no JAX compilation per
    shape), ``y = (w*ᵀx)²`` with the problem's unit teacher, no noise. Per (d, seed) one sample of
    the largest n, every δ uses its first ``n = δd`` rows; ``T`` is ``SpectralInit.transform``;
    the top eigenpair from LAPACK's ``eigh`` (subset). The top eigenvalue is in units of the
    sample's mean label ȳ (that of the normalized ``T``)."""
    from scipy.linalg import eigh  # lazy: scipy only for (e)

    rows = []
    inits = {prep: sg.SpectralInit(prep) for prep in OVERLAP_PREPS}
    for d, count in zip(p.ovl_ds, p.ovl_seed_counts, strict=True):
        w = np.asarray(sg.Problem(d=d, m=1, cov=sg.Isotropic()).arrays.unit_teacher)
        for seed in range(count):
            X_all = np.random.default_rng([d, seed]).standard_normal(
                (int(round(max(p.ovl_deltas) * d)), d))
            y_all = (X_all @ w) ** 2
            for delta in p.ovl_deltas:
                n = int(round(delta * d))
                X, y = X_all[:n], y_all[:n]
                for prep, init in inits.items():
                    if not delta > MIN_DELTA.get(prep, 0.0):
                        continue
                    vals, vecs = eigh((X.T * init.transform(y, d)) @ X / n,
                                      subset_by_index=[d - 1, d - 1])
                    rows.append({"d": d, "seed": seed, "delta": delta, "n": n,
                                 "preprocessing": prep, "rho2": float(vecs[:, 0] @ w) ** 2,
                                 "top_eigenvalue": float(vals[0]) / float(y.mean())})
    return pd.DataFrame(rows)
