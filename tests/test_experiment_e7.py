"""E7 (power-law single neuron) at a tiny size: output structure plus physics that can fail."""

import math

from specgd.report.claims import ExperimentOutput
from specgd.report.experiments import EXPERIMENTS
from specgd.report.experiments import e7_powerlaw as e7

TINY = e7.Params(
    n_logs=41, main_d=40, main_steps=3000, slow_window=(3.0, 30.0),
    rate_as=(2.0,), rate_d=40, tail_d=40, tail_steps=3000, tail_teachers=(0, 1), tail_taus=(1.0,),
    online_as=(1.0,), online_d=40, online_steps=400, dims=(40, 160), dims_steps=3000, escape_seeds=4,
    spec_d=40, spec_m=3, spec_steps=300,
)


def test_e7_registered_and_presets():
    assert EXPERIMENTS["E7"] is e7 and e7.KEY == "E7" and e7.TITLE
    full, quick = e7.Params.full(), e7.Params.quick()
    assert full.main_steps == 10**7 and full.main_d == 1000 and full.main_a == 2.0 and full.main_lr == 1e-2
    assert full.rate_d == 1000 and full.rate_lr == 1e-3 and full.tail_d == 300 and full.tail_lr == 1e-3
    assert full.online_as == (0.5, 1.0, 1.5) and full.online_noise_var == 0.05
    assert full.dims == (500, 2000, 5000)
    assert quick.main_steps < full.main_steps


def test_e7_tiny_structure_and_physics():
    out = e7.run(params=TINY, store=object())
    assert isinstance(out, ExperimentOutput) and out.key == "E7"
    names = [f.name for f in out.figures]
    assert names == ["e7_main", "e7_rates", "e7_tail", "e7_online", "e7_dims", "e7_specgd"]
    for f in out.figures:
        assert f.figure is not None and len(f.data) > 0 and f.caption
        for ax in f.figure.axes:
            assert ax.get_xlabel() and ax.get_ylabel()
    assert {"step", "u", "s", "mse", "u_top_mode", "mse_tail_law"} <= set(out.figures[0].data.columns)
    by_id = {c.id: c for c in out.claims}
    assert {"E7.main-cost", "E7.slow-exponent", "E7.rho-a2", "E7.tail-τ1", "E7.tail-coordinates",
            "E7.online", "E7.escape-logd", "E7.specgd-m1-is-ngd", "E7.specgd-powerlaw"} <= set(by_id)
    for c in out.claims:
        assert c.verdict in ("PASS", "FAIL", "INFO")
        assert c.to_json()["verdict"] == c.verdict
    # Physics: the measured growth rate of u is the secular root (within the claim's 2%), the
    # escape is later in larger d, and SpecGD's m = 1 direction is g/‖g‖ to round-off.
    rho = by_id["E7.rho-a2"]
    assert rho.passed is True and math.isclose(rho.measured, rho.predicted, rel_tol=0.02)
    assert by_id["E7.escape-logd"].measured > 0
    assert by_id["E7.specgd-m1-is-ngd"].passed is True
    assert out.params["main_steps"] == TINY.main_steps and "part_seconds" in out.params
