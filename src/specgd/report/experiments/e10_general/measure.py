"""E10's runs: every activation × link pair under ``Σ = I + λvvᵀ`` (``v ⊥ w*``), GD and SpecGD.

Per pair and optimizer the early phase (a λ grid, one fixed rate, a small start) and the settle
time (λ = 8, a √2 grid of rates) are run with the same shapes and settings, so that they share one
compiled program (``runs_per_call``); the escape against ``d`` is run for a few pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import specgd as sg
from specgd.analysis import loss_at_budget, loss_target, settle_step
from specgd.report.experiment import Context, Frames
from specgd.report.experiments.e10_general.params import Params
from specgd.theory.general import early_phase

RUNS_PER_CALL = 20


def learnable(activation: str, link: str) -> bool:
    """Whether the target's direction is visible to the student (docs/theory.md#which-pairs-learn)."""
    return early_phase(activation, link).kind != "not learnable"


def early_rate(p: Params, activation: str) -> float:
    """GD's early-phase rate ``η̃``: a homogeneous σ (relu, |z|) moves at a speed free of
    ``‖w‖``, so its linear regime needs a rate small against the start."""
    return p.early_lr_homogeneous if activation in ("relu", "abs") else p.early_lr_gd


def _problem(p: Params, act: str, link: str, lam: float, d: int | None = None,
             m: int | None = None) -> sg.Problem:
    return sg.Problem(d or p.d, m or p.m, sg.Spiked(lam=lam), activation=act, link=link)


def _optimizers(act: str, link: str) -> dict[str, object]:
    """The optimizers a pair runs: SpecGD only where there is a signal to learn."""
    return {"gd": sg.gd, "specgd": sg.specgd} if learnable(act, link) else {"gd": sg.gd}


def _run(p: Params, probs, factory, rates, seeds: int, scale: float):
    """One call: every step logged (the settle step is exact), in compiled calls of
    ``RUNS_PER_CALL`` runs, so that the early and the settle calls of a pair share a program."""
    return sg.run(probs, factory(), steps=p.steps, seeds=seeds, lrs=list(rates), log_every=1,
                  init=sg.GaussianInit(scale), runs_per_call=RUNS_PER_CALL, progress=False)


def _early(p: Params, act: str, link: str, name: str, factory) -> pd.DataFrame:
    """b/a at the start and at the end of the early window, per λ and seed."""
    lr = early_rate(p, act)
    probs = [_problem(p, act, link, lam, d=p.early_d) for lam in p.lams]
    res = _run(p, probs, factory, [lr], p.early_seeds, p.init_scale)
    rows = []
    for (prob, seed), run in res.frame.groupby(["problem", "seed"]):
        run = run.sort_values("step").iloc[: p.early_steps + 1]
        a, b = run["a"].to_numpy(), run["b"].to_numpy()
        # the early window: while a and b stay within 30× the start (the linear regime)
        small = np.maximum(a, b) <= 30 * max(a[0], b[0])
        end = int(np.flatnonzero(small)[-1]) if small[1:].any() else 1
        rows.append({"activation": act, "link": link, "optimizer": name, "lam": p.lams[prob],
                     "seed": seed, "lr": lr, "window": int(run["step"].iloc[end]),
                     "a0": a[0], "a": a[end], "growth": (b[end] / a[end]) / (b[0] / a[0])})
    return pd.DataFrame(rows)


def _curves(p: Params, act: str, link: str, name: str, factory) -> pd.DataFrame:
    """Every step's loss per rate and seed at λ = ``settle_lam`` (the atlas' base problem): the
    factor-2 grid, then the √2 neighbours of its best rate (median settle step; the same program)."""
    grid = p.gd_rates if name == "gd" else p.specgd_rates
    if not learnable(act, link):  # only to show that no rate learns: a few rates suffice
        grid = grid[::3]
    prob = [_problem(p, act, link, p.settle_lam)]
    frame = _run(p, prob, factory, grid, p.settle_seeds, p.settle_init).frame
    best = _best_rate(frame)
    if best is not None:
        near = [float(f"{best * f:.6g}") for f in (2**-0.5, 2**0.5)]
        frame = pd.concat([frame, _run(p, prob, factory, near, p.settle_seeds, p.settle_init).frame])
    return frame[["lr", "seed", "step", "loss", "a", "b"]].assign(optimizer=name)


def _best_rate(frame: pd.DataFrame) -> float | None:
    """The grid's coarse optimum: the rate of the smallest median step from which the loss stays
    below 1% of its start (the lowest median final loss where none does; None if all diverged)."""
    rows = []
    for (lr, _), run in frame.groupby(["lr", "seed"]):
        run = run.sort_values("step")
        loss = run["loss"].to_numpy()
        rows.append((lr, settle_step(run["step"].to_numpy(), loss, 1e-2 * loss[0]), loss[-1]))
    table = pd.DataFrame(rows, columns=["lr", "settle", "final"]).groupby("lr").median()
    settled = table["settle"][np.isfinite(table["settle"])]
    if not settled.empty:
        return float(settled.idxmin())
    final = table["final"][np.isfinite(table["final"])]
    return None if final.empty else float(final.idxmin())


def settle_table(p: Params, act: str, link: str, curves: pd.DataFrame) -> pd.DataFrame:
    """Per run: the settle step (specgd.analysis.settle_step, every step) to
    ``floor + target·(L₀ − floor)``, ``floor`` the lowest loss any run of the pair reached (a
    width-m student need not represent the target: its loss has a floor above 0)."""
    floor = float(np.nanmin(curves["loss"].where(np.isfinite(curves["loss"]))))
    start = float(curves.loc[curves["step"] == 0, "loss"].median())
    level = loss_target(start, floor, p.target)
    rows = []
    for (name, lr, seed), run in curves.groupby(["optimizer", "lr", "seed"]):
        run = run.sort_values("step")
        loss, a = run["loss"].to_numpy(), run["a"].to_numpy()
        hit = np.flatnonzero(a >= p.escape_level)  # b/a when the signal first reaches a₁
        ratio = float(run["b"].iloc[hit[0]] / a[hit[0]]) if len(hit) else np.nan
        rows.append({"activation": act, "link": link, "optimizer": name, "lr": lr, "seed": seed,
                     "settle": settle_step(run["step"].to_numpy(), loss, level),
                     "ratio0": float(run["b"].iloc[0] / a[0]), "ratio_at_escape": ratio,
                     "loss_at_budget": loss_at_budget(loss), "floor": floor, "start": start,
                     "diverged": not np.all(np.isfinite(loss))})
    return pd.DataFrame(rows)


def _escape(p: Params, act: str, link: str) -> pd.DataFrame:
    """Steps until the signal column ``a`` first reaches ``escape_level``, per d (GD, SpecGD);
    the reduced runs of every d have the same shapes as the pair's other runs: one program."""
    rows = []
    for d in p.escape_dims:
        prob = [_problem(p, act, link, p.escape_lam, d=d)]
        for name, factory in (("gd", sg.gd), ("specgd", sg.specgd)):
            lr = p.escape_lr_gd if name == "gd" else p.escape_lr_specgd
            res = _run(p, prob, factory, [lr], p.escape_seeds, p.escape_init)
            for seed, run in res.frame.groupby("seed"):
                run = run.sort_values("step")
                hit = np.flatnonzero(run["a"].to_numpy() >= p.escape_level)
                rows.append({"activation": act, "link": link, "optimizer": name, "d": d,
                             "seed": seed, "lr": lr, "m": p.m, "a0": float(run["a"].iloc[0]),
                             "escape": float(run["step"].iloc[hit[0]]) if len(hit) else np.nan})
    return pd.DataFrame(rows)


def run(p: Params, ctx: Context | None = None) -> Frames:
    """``early``: b/a growth per pair, optimizer, λ and seed; ``settle``: settle steps per pair,
    optimizer, rate and seed; ``escape``: escape steps against d; ``pairs``: the theory's
    classification of each pair (kind, order, λ_c, mechanism)."""
    early, settle, escape, pairs = [], [], [], []
    for act, link in p.pairs():
        ph = early_phase(act, link)
        pairs.append({"activation": act, "link": link, "kind": ph.kind, "order": ph.order,
                      "threshold": ph.threshold, "reason": ph.reason})
        curves = []
        for name, factory in _optimizers(act, link).items():
            if name == "gd":  # the early phase is GD's (SpecGD's b/a: at escape, below)
                early.append(_early(p, act, link, name, factory))
            curves.append(_curves(p, act, link, name, factory))
        settle.append(settle_table(p, act, link, pd.concat(curves, ignore_index=True)))
    for act, link in p.escape_pairs:
        escape.append(_escape(p, act, link))
    return {"early": pd.concat(early, ignore_index=True),
            "settle": pd.concat(settle, ignore_index=True),
            "escape": pd.concat(escape, ignore_index=True),
            "pairs": pd.DataFrame(pairs)}
