"""The options of the run itself (section ``run``: the arguments of :func:`specgd.run`) and of
where a configuration saves it (section ``output``).

Declared beside the runner, whose :func:`specgd.runner.run.validate` checks its arguments with
them; the configuration layer assembles every layer's options into the whole table
(:mod:`specgd.config.options`).
"""

from __future__ import annotations

from typing import Any

from specgd.errors import check_bool
from specgd.options import (
    Option,
    by_name,
    distinct_numbers,
    folder,
    integer,
    integers,
    number,
    option,
    parse_floats,
    parse_ints,
    parse_seeds,
    seeds,
)

MODES = ("population", "finite", "online")
DTYPES = ("float64", "float32")
VECTORIZE = ("auto", "vmap", "map")
REDUCE = ("auto", "never", "always")


def _schedules() -> tuple[str, ...]:
    # lazy: the schedules import optax; the option table itself stays pure Python for the CLI
    from specgd.runner.schedule import SCHEDULES

    return tuple(SCHEDULES)


def _learning_rates(value: Any) -> list[float]:
    # each rate is one run per seed: twice would run it twice
    return distinct_numbers(value, "finite numbers > 0",
                            "distinct finite numbers > 0 (a rate listed twice)", gt=0)


def _targets(value: Any) -> list[float]:
    """Loss targets: distinct fractions in (0, 1) of the initial excess loss."""
    return distinct_numbers(value, "numbers in (0, 1)", "distinct fractions", gt=0, lt=1)


#: The run's options and the output folder, in the order of the configuration's fields.
OPTIONS: tuple[Option, ...] = (
    option("steps", "run", "Number of optimizer steps (>= 1).", integer(ge=1), required=True,
           cli="int", example=4),
    option("seeds", "run",
           "A count (3 means seeds 0, 1, 2) or a comma-separated list (0,4,7; one seed s: s,).",
           seeds, default=(0,), parse=parse_seeds, metavar="N|S1,S2,...", show_default="1",
           example=[1, 2]),
    option("mode", "run",
           "population (exact loss), finite (--n fixed samples) or online (fresh --batch-size each step).",
           choices=MODES, default="population", cli="choice", example="online"),
    option("n", "run", "Number of training samples.", integer(ge=1), cli="int",
           label="n (number of samples)", needs={"mode": "finite"}, example=16),
    option("batch_size", "run", "Batch size.", integer(ge=1), cli="int", show_default="1",
           needs={"mode": "online"}, example=4),
    option("log_every", "run",
           "Record statistics every this many steps (and at step 0 and the last step; a value larger "
           "than steps records step 0 and the last step only).",
           integer(ge=1), default=10, cli="int", example=2),
    option("log_at", "run", "Record statistics at these steps instead (and at step 0 and the last "
           "step), comma-separated.", integers("integers >= 1 (steps)", ge=1, integral_float=True),
           parse=parse_ints, metavar="K1,K2,...", conflicts=("log_per_decade",), example=[1, 3]),
    option("log_per_decade", "run", "Record statistics at log-spaced steps, this many per decade "
           "(instead of --log-every).", integer(ge=1), cli="int", conflicts=("log_at",), example=5),
    option("track_update", "run", "Record the singular-value range of the applied update.",
           check_bool, cli="flag", show_default="spectral optimizers", example=True),
    option("dtype", "run", "Floating-point precision.", choices=DTYPES, default="float64", cli="choice",
           example="float32"),
    option("lrs", "run", "Several learning rates run side by side, comma-separated (instead of --lr).",
           _learning_rates, parse=parse_floats, metavar="LR1,LR2,...", conflicts=("lr",),
           panel="optimizer", example=[0.01, 0.02]),
    option("moments", "run", "Also record s^(k), u^(k) for these k, comma-separated.",
           integers("integers >= 1", ge=1), default=(), parse=parse_ints, metavar="K1,K2,...",
           needs={"m": 1}, example=[2]),
    option("vectorize", "run", "How runs are batched (auto: vmap on accelerators, map on CPU).",
           choices=VECTORIZE, default="auto", cli="choice", example="map"),
    option("reduce", "run", "Run population mode in the exact invariant subspace span(W0, w*, spikes): "
           "auto when exact and smaller than d; never keeps all d coordinates.", choices=REDUCE,
           default="auto", cli="choice", example="never"),
    option("targets", "run", "Loss targets as fractions of the initial excess loss L₀ − σ², "
           "comma-separated: per run and target, the first step at or below it and the step from "
           "which the loss stays at or below it (settle), taken from every step (runs-table columns "
           "first_<f>, settle_<f>, loss_min, loss_at_budget).", _targets, parse=parse_floats,
           metavar="F1,F2,...", example=[0.01]),
    option("schedule", "run", "Learning-rate schedule, a factor on the rate at each step: constant, "
           "linear or cosine decay to 0, or wsd (warmup, stable, linear decay).", choices=_schedules,
           cli="choice", show_default="constant", example="cosine"),
    option("warmup", "run", "Fraction of the steps spent warming the rate up linearly from 0, "
           "before the schedule.", number(ge=0, lt=1), cli="float", show_default="0",
           example=0.1),
    option("decay", "run", "Fraction of the steps over which wsd decays the rate linearly to 0.",
           number(gt=0, le=1), cli="float", show_default="0.2", needs={"schedule": "wsd"},
           example=0.3),
    option("runs_per_call", "run", "Runs per compiled call: the runs are computed in calls of this "
           "many (the last padded), so that every call has the same shapes and compiles once.",
           integer(ge=1), cli="int", show_default="all runs", example=2),
    # --- output ---
    option("out", "output", "Output folder for metrics.parquet and manifest.json.", folder,
           cli="folder", sweep=False, example="runs/example"),
)

#: The options above by name.
OPTION = by_name(OPTIONS)


def run_options() -> tuple[Option, ...]:
    """The keyword arguments of :func:`specgd.run` that are run options."""
    return tuple(o for o in OPTIONS if o.section == "run")
