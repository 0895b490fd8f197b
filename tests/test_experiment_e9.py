"""E9 (phase retrieval as practitioners run it): output structure and the derived checks, on a tiny
setting (fast) and at the quick preset (slow)."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy.special import erf

from specgd.report.claims import VERDICTS
from specgd.report.experiment import Context, ExperimentOutput, registered
from specgd.report.experiments import EXPERIMENTS
from specgd.report.experiments import e9_practice as e9
from specgd.report.experiments.e9_practice import claims as e9_claims
from specgd.report.experiments.e9_practice import derive as e9_derive
from specgd.report.experiments.e9_practice import figures as e9_figures
from specgd.report.experiments.e9_practice import measure as e9_measure
from specgd.report.experiments.e9_practice import params as e9_params

TINY = dict(pop_d=16, pop_lam_step=0.25, pop_lam_max=3.0, truncations=(3.0, 9.0), fin_d=24,
            fin_lams=(1.0, 8.0), ratios=(2.0, 8.0, 32.0), fin_seeds=(0, 1), d=24, m=4, seeds=(0,),
            steps=400, log_every=20, whiten_ratio=None, ranks=(), ovl_ds=(), ovl_seed_counts=())
# The parts that cost a compilation each (estimated whitening, one per teacher rank), run by the
# slow tests: TINY + these.
TINY_SLOW = dict(TINY, whiten_ratio=4.0, ranks=(2, 4), rank_d=24, rank_m=4, rank_lam_step=0.25,
                 rank_lam_max=1.5, rank_steps=40)


def _threshold(tau: float) -> float:
    """λ_c(τ) = M₄/M₂ − 1 from the closed forms M₂ = M₀ − 2rφ, M₄ = 3M₀ − 2(r³ + 3r)φ."""
    r = math.sqrt(tau)
    phi = math.exp(-r * r / 2) / math.sqrt(2 * math.pi)
    m0 = erf(r / math.sqrt(2))
    return (3 * m0 - 2 * (r**3 + 3 * r) * phi) / (m0 - 2 * r * phi) - 1


def _check(out: ExperimentOutput, p: e9.Params) -> dict:
    assert isinstance(out, ExperimentOutput) and out.key == "E9" and out.title and out.summary
    names = [f.name for f in out.figures]
    assert names == (["e9_population", "e9_finite_n", "e9_starts"] + (["e9_rank"] if p.ranks else [])
                     + (["e9_overlap"] if p.ovl_ds else []))
    for fig in out.figures:
        drawn = fig.draw()  # from the data it plots, as the report draws it
        assert fig.caption and drawn.axes and not fig.data.empty
        fig.data.to_parquet  # noqa: B018  (the report writes it)
        plt.close(drawn)
    ids = [c.id for c in out.claims]
    assert len(ids) == len(set(ids))
    for c in out.claims:
        assert c.kind in ("derived", "scope", "observation"), c.id
        assert c.verdict in VERDICTS[c.kind], c.id
        assert c.source.startswith(("docs/", "arXiv ")), c.source
        assert "MODEL" not in c.source + c.note + c.text
        c.to_json()
    by_id = {c.id: c for c in out.claims}
    # (a) the derived switch points, checked against predictions computed here
    step = p.pop_lam_step
    plain = by_id["E9.pop-switch-plain"]
    assert plain.passed and abs(plain.measured - 2.0) <= step + 1e-12
    for tau in p.truncations:
        c = by_id[f"E9.pop-switch-truncated-{tau:g}"]
        assert c.predicted == pytest.approx(_threshold(tau), abs=1e-8)
        assert c.passed and abs(c.measured - _threshold(tau)) <= step + 1e-12
    assert by_id["E9.pop-centered-never"].passed
    pop = out.figures[0].data
    assert set(pop["estimator"]) >= {"plain", "centered", "optimal"}
    # (c) robust at any size: SpecGD's escape bound, whitened GD = isotropic GD
    assert by_id["E9.specgd-escape-bound"].passed
    assert by_id["E9.whitened-isotropic"].passed
    assert by_id["E9.whitened-isotropic"].measured < 1e-9
    traj = out.figures[2].data
    assert set(traj["optimizer"]) >= {"gd", "specgd", "whitened_gd", "gd_isotropic"}
    assert set(traj["start"]) == set(e9_params.STARTS)
    for start in e9_params.STARTS:
        assert f"E9.advantage-{start}" in by_id and by_id[f"E9.advantage-{start}"].kind == "scope"
    if not p.ranks:
        return by_id
    # (d) the rank-r threshold 2/r, within one grid step above it
    for r in p.ranks:
        c = by_id[f"E9.rank-threshold-r{r}"]
        assert c.predicted == pytest.approx(2 / r)
        assert c.passed and 0 < c.measured - 2 / r <= p.rank_lam_step + 1e-12
    assert by_id["E9.rank-growth"].passed
    rank = out.figures[3].data
    assert set(rank["rank"]) == set(p.ranks)
    return by_id


def test_overlap_section_tiny():
    """(e) on its own at tiny d: the table, its predictions (the library's fixed point), the
    claims' structure; finite-size deviations are large here, so no verdict is asserted."""
    from specgd.theory import spectral_overlap

    p = e9.Params(ovl_ds=(40, 60), ovl_seed_counts=(3, 2), ovl_deltas=(0.75, 3.0))
    tab = e9_derive._overlap_table(p, e9_measure._overlaps(p))
    assert set(tab["d"]) == {40, 60} and set(tab["preprocessing"]) == set(e9_derive.OVERLAP_PREPS)
    assert not ((tab["preprocessing"] == e9_params.COMPLEX) & (tab["delta"] == 0.75)).any()  # δ ≤ 1
    opt = tab[(tab["preprocessing"] == "optimal") & (tab["delta"] == 3.0)]
    assert np.allclose(opt["predicted"], spectral_overlap("optimal", 3.0).rho2)
    assert tab.loc[tab["preprocessing"] == "centered", "predicted"].isna().all()
    assert np.all((tab["rho2"] >= 0) & (tab["rho2"] <= 1)) and list(tab["seeds"]) >= [2] * len(tab)
    claims = {c.id: c for c in e9_claims._claims_overlap(p, tab)}
    assert {f"E9.overlap-{prep}" for prep in e9_derive.BOUNDED} < set(claims)
    assert claims["E9.optimal-beats-complex"].kind == "derived"
    assert claims["E9.overlap-centered-d"].passed is None
    # The typed values carry the numbers behind the words and the verdict.
    rows = claims["E9.overlap-optimal"].values["rows"]
    assert rows and claims["E9.overlap-optimal"].measured == pytest.approx(
        max(abs(r["rho2"] - r["predicted"]) for r in rows))
    beats = claims["E9.optimal-beats-complex"]
    assert beats.passed == (min(beats.values["gaps"]) > 0) and beats.values["delta"] == 3.0
    fig = e9_figures._figure_overlap(p, tab, e9_derive._overlap_curves(p))
    assert len(fig.axes) == 3
    plt.close(fig)


def test_registered_after_e7():
    assert EXPERIMENTS["E9"] is e9
    keys = list(registered())
    assert keys.index("E9") > keys.index("E7") and keys.index("E10") > keys.index("E9")


def test_thresholds():
    assert e9_derive.truncated_threshold(9.0) == pytest.approx(_threshold(9.0), rel=1e-9)
    assert e9_derive.truncated_threshold(3.0) == pytest.approx(0.4794, abs=1e-4)
    assert e9_derive.truncated_threshold(1e4) == pytest.approx(2.0, abs=1e-9)  # τ → ∞: plain


@pytest.mark.slow  # end to end, beside the unit tests of its parts
def test_e9_tiny(tmp_path):
    p = e9.Params(**TINY)
    out = e9.EXPERIMENT.run(p)
    _check(out, p)
    # the frames, stored as the report stores them, give the same claims (a rerender is exact)
    for name, frame in out.frames.items():
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
    cached = {name: pd.read_parquet(tmp_path / f"{name}.parquet") for name in out.frames}
    again = e9.EXPERIMENT.judge(p, cached)
    assert [c.to_record() for c in again.claims] == [c.to_record() for c in out.claims]
    assert [f.caption for f in again.figures] == [f.caption for f in out.figures]
    fin = out.figures[1].data
    assert set(fin["preprocessing"]) == set(e9_params.PREPROCESSINGS)
    assert np.all((fin["overlap_signal"] >= 0) & (fin["overlap_signal"] <= 1 + 1e-12))
    assert "E9.whitened-estimated" not in {c.id for c in out.claims}


@pytest.mark.slow
def test_e9_tiny_rank_and_estimated_whitening():
    p = e9.Params(**TINY_SLOW)
    out = e9.EXPERIMENT.run(p)
    by_id = _check(out, p)
    assert by_id["E9.whitened-estimated"].kind == "scope"
    assert "whitened_gd_est" in set(out.figures[2].data["optimizer"])


@pytest.mark.slow
def test_e9_quick_preset():
    p = e9.Params.quick()
    by_id = _check(e9.EXPERIMENT.run(ctx=Context(quick=True)), p)
    assert by_id["E9.finite-follows-population"].passed
    assert by_id["E9.whitened-no-amplification"].passed
