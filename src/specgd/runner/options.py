"""Every option of a run, declared once.

:data:`OPTIONS` lists each option with its name, where it lives, its check, its default, its help
text and how the command line reads it. Everything else is derived from this table:

- the checks of :func:`specgd.run` (the ``run`` section: :func:`specgd.runner.run.validate`);
- the TOML schema, :class:`specgd.config.RunConfig` and its sections (one field per option, at
  :attr:`Option.path`);
- the flags of ``specgd run`` and their help (``--`` + the name, ``_`` written ``-``);
- the dotted fields of sweep grids (``"problem.cov.lam"``: :attr:`Option.dotted`, see
  :data:`OPTION_PATHS`);
- the run settings recorded in a result's manifest (``config``).

Where an option lives (:attr:`Option.section`): ``'run'`` (an argument of :func:`specgd.run`),
``'problem'`` (of :class:`specgd.Problem`), ``'cov'`` (of a covariance family, under
``problem.cov``), ``'optimizer'`` (of an optimizer factory), ``'init'`` (of an initialization) or
``'output'`` (the folder a configuration saves to). The covariance families, optimizers and
initializations, and the parameters each takes, come from their registries
(:data:`specgd.data.covariance.FAMILIES`, :mod:`specgd.optim.registry`,
:data:`specgd.model.init.INIT_KINDS`).

A check takes a value and returns it in canonical form, or raises :class:`specgd.ConfigError` with
a message that names nothing (``must be >= 1, got 0``); each layer puts its own name for the option
in front: ``steps`` (Python), ``run.toml: steps`` (a file), ``--steps`` (the command line).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np

from specgd.errors import (
    ConfigError,
    check_bool,
    check_choice,
    check_integer,
    check_list,
    check_number,
    invalid,
    unknown_key,
)

#: Where each section's options live in a configuration (the TOML table).
SECTIONS: dict[str, tuple[str, ...]] = {
    "problem": ("problem",),
    "cov": ("problem", "cov"),
    "optimizer": ("optimizer",),
    "init": ("init",),
    "run": (),
    "output": (),
}

MODES = ("population", "finite", "online")
DTYPES = ("float64", "float32")
VECTORIZE = ("auto", "vmap", "map")
REDUCE = ("auto", "never", "always")

#: The problem every :attr:`Option.example` is valid for (with the option's requirements).
EXAMPLE_PROBLEM = {"d": 4, "m": 2}


# --- the checks (values as read from TOML or given in Python) ----------------------------------


def _integer(ge: int | None = None, le: int | None = None, integral_float: bool = False):
    return lambda v: check_integer(v, ge=ge, le=le, integral_float=integral_float)


def _number(**bounds: Any):
    return lambda v: check_number(v, **bounds)


def _numbers(what: str, nonempty: bool = False, **bounds: Any):
    def check(v: Any) -> list[float]:
        return check_list(v, lambda x: check_number(x, **bounds), what, nonempty=nonempty)

    return check


def _integers(what: str, **bounds: Any):
    return lambda v: check_list(v, lambda x: check_integer(x, **bounds), what)


#: The largest seed: JAX's PRNG keys are made from unsigned 32-bit seeds.
MAX_SEED = 2**32 - 1


def _seeds(value: Any) -> int | list[int]:
    """A count (``3`` means seeds 0, 1, 2) or a list of seeds (each in ``[0, 2³² − 1]``)."""
    requirement = f"a count in [1, {MAX_SEED + 1}] or a list of integers in [0, {MAX_SEED}]"
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        if not 1 <= value <= MAX_SEED + 1:
            raise invalid(requirement, value)
        return int(value)
    try:
        return check_list(value, lambda s: check_integer(s, ge=0, le=MAX_SEED), "integers >= 0")
    except ConfigError:
        raise invalid(requirement, value) from None


def _learning_rates(value: Any) -> list[float]:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        value = [value]
    rates = check_list(value, lambda x: check_number(x, gt=0), "finite numbers > 0", nonempty=True)
    if len(set(rates)) < len(rates):  # each rate is one run per seed: twice would run it twice
        raise invalid("distinct finite numbers > 0 (a rate listed twice)", value)
    return rates


def _teacher(value: Any) -> str | int:
    if isinstance(value, str) and value in ("auto", "random"):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and value >= 0:
        return int(value)
    raise invalid("'auto', 'random' or an eigenvector index >= 0", value)


def _second_layer(value: Any) -> str | list[float]:
    if isinstance(value, str) and value == "mean":
        return value
    if isinstance(value, str):
        raise invalid("'mean' or a list of m numbers", value)
    return check_list(value, check_number, "finite numbers (one weight per neuron)")


def _ns_coeffs(value: Any) -> str | list:
    if isinstance(value, np.ndarray):  # a triple or one triple per step, as an array
        value = value.tolist()
    if isinstance(value, str) and value == "polar_express":
        return value
    if isinstance(value, str):
        raise invalid("'polar_express' or a list of (a, b, c) triples", value)
    if isinstance(value, (list, tuple)) and value and all(isinstance(t, (list, tuple)) for t in value):
        return [check_list(t, check_number, "numbers (a, b, c)") for t in value]
    return check_list(value, check_number, "numbers (a, b, c)")


def _array_or_path(value: Any) -> Any:
    """A nested list of numbers (kept as is) or the path of a ``.npy`` file."""
    if isinstance(value, (str, Path)):
        if str(value) == "":
            raise invalid("a nested list of numbers or the path of a .npy file", value)
        return str(value)
    if isinstance(value, (np.ndarray, list, tuple)):
        try:
            return np.asarray(value, dtype=float).tolist()
        except (TypeError, ValueError):
            raise invalid("a rectangular nested list of numbers or a .npy path", value) from None
    raise invalid("a nested list of numbers or the path of a .npy file", value)


def _function(kind: str):
    """The check of ``activation`` or ``link``: its canonical name (``'hermite(3)'``)."""

    def check(value: Any) -> str:
        # lazy: the activations import JAX; the option table itself stays pure Python for the CLI
        from specgd.model import activations

        parse = activations.parse_activation if kind == "activation" else activations.parse_link
        return parse(value, None).name  # no name in the message: each layer puts its own

    return check


def _folder(value: Any) -> str:
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise invalid("a folder path", value)
    return value


# --- the command line's reading of flag text ---------------------------------------------------


def parse_floats(flag: str, text: str) -> list[float]:
    """``'8,4'`` → ``[8.0, 4.0]``."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{flag}: must be comma-separated numbers (e.g. 8,4), got {text!r}") from None


def parse_ints(flag: str, text: str) -> list[int]:
    """``'0,1,5'`` → ``[0, 1, 5]``."""
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{flag}: must be comma-separated integers (e.g. 0,1,5), got {text!r}") from None


def parse_seeds(flag: str, text: str) -> int | list[int]:
    """``'3'`` → ``3`` (a count), ``'0,4,7'`` → ``[0, 4, 7]``, ``'5,'`` → ``[5]``."""
    if "," in text or not text.strip():
        return parse_ints(flag, text)
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"{flag}: must be a count (e.g. 3 for seeds 0, 1, 2) or a comma-separated list (e.g. 0,4,7), "
            f"got {text!r}"
        ) from None


def parse_teacher(flag: str, text: str) -> str | int:
    """``'auto'``, ``'random'`` or an eigenvector index."""
    return int(text) if text.strip().isdigit() else text


def parse_ns_coeffs(flag: str, text: str) -> str | list[float]:
    """``'polar_express'`` or one triple ``a,b,c``."""
    return text if text == "polar_express" else parse_floats(flag, text)


def parse_second_layer(flag: str, text: str) -> str | list[float]:
    """``'mean'`` or the m weights, comma-separated."""
    return text if text == "mean" else parse_floats(flag, text)


# --- the declaration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One run option. See the module docstring for what is derived from it.

    ``cli`` says how the command line reads it: ``'int'``, ``'float'``, ``'text'`` (read by
    ``parse``), ``'choice'`` (one of ``choices``), ``'flag'`` (``--x/--no-x``), ``'file'`` (a
    ``.npy`` path) or ``'folder'``. ``choices`` is a tuple or a function returning one (registries,
    read when asked). ``needs`` names the values of other options this one is used with (``n``:
    ``{'mode': 'finite'}``); the families, optimizers and init kinds that take a parameter come
    from their registries (:func:`requirements`). ``selects`` marks the option choosing what the
    rest of its section means (``family``, ``name``, ``kind``); ``conflicts`` the options that
    cannot be given with it. ``example`` is a valid value for :data:`EXAMPLE_PROBLEM`. ``sweep``
    is false for the one option that is not a field of sweep grids (``out``: a sweep stores its
    runs in its own results store).
    """

    name: str
    section: str
    help: str
    check: Callable[[Any], Any] | None = None
    choices: tuple[str, ...] | Callable[[], Sequence[str]] | None = None
    key: str | None = None
    default: Any = None
    required: bool = False
    cli: str = "text"
    parse: Callable[[str, str], Any] | None = None
    metavar: str | None = None
    show_default: str | None = None
    label: str | None = None
    example: Any = None
    needs: Mapping[str, Any] = field(default_factory=dict)
    conflicts: tuple[str, ...] = ()
    selects: bool = False
    array: bool = False
    panel: str | None = None
    sweep: bool = True

    @property
    def config_key(self) -> str:
        """The key in its section of a configuration (and the Python keyword)."""
        return self.key or self.name

    @property
    def path(self) -> tuple[str, ...]:
        """The fields leading to it in a configuration: ``('problem', 'cov', 'lam')``."""
        return (*SECTIONS[self.section], self.config_key)

    @property
    def dotted(self) -> str:
        """Its field in a sweep grid (and in messages about a configuration): ``problem.cov.lam``."""
        return ".".join(self.path)

    @property
    def flag(self) -> str:
        """Its command-line flag: ``--log-every``."""
        return "--" + self.name.replace("_", "-")

    def choice_list(self) -> tuple[str, ...]:
        """The allowed values of a choice (``()`` otherwise)."""
        if self.choices is None:
            return ()
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def default_value(self) -> Any:
        """The default (a fresh copy of a list)."""
        return list(self.default) if isinstance(self.default, (list, tuple)) else self.default

    def validate(self, value: Any) -> Any:
        """``value`` in canonical form (``None`` stays unset), or :class:`ConfigError` with a
        message that names nothing (``must be >= 1, got 0``)."""
        if value is None:
            return None
        if self.choices is not None:
            value = check_choice(value, self.choice_list())
        return value if self.check is None else self.check(value)

    def checked(self, value: Any, name: str | None = None) -> Any:
        """:meth:`validate`, with ``name`` (default: the option's Python label) in front of
        messages: ``steps: must be >= 1, got 0``."""
        try:
            return self.validate(value)
        except ConfigError as e:
            raise ConfigError(f"{name or self.label or self.config_key}: {e}") from None


def _opt(name: str, section: str, help: str, check: Callable[[Any], Any] | None = None,
         **kw: Any) -> Option:
    return Option(name, section, help, check, **kw)


def _lazy_choices(module: str, name: str, read=tuple) -> Callable[[], tuple[str, ...]]:
    """The choices of an option, read from ``module.name`` when first needed: the registries and
    constants live in modules that import JAX, and this declaration stays pure Python."""

    def choices() -> tuple[str, ...]:
        return tuple(read(getattr(import_module(module), name)))

    return choices


_family_names = _lazy_choices("specgd.data.covariance", "FAMILIES")
_optimizer_names = _lazy_choices("specgd.optim.registry", "optimizer_names", read=lambda f: f())
_init_kinds = _lazy_choices("specgd.model.init", "INIT_KINDS")
_preprocessings = _lazy_choices("specgd.model.init", "PREPROCESSINGS")
_presets = _lazy_choices("specgd.optim.muon", "PRESETS")
_polar_methods = _lazy_choices("specgd.optim.polar", "POLAR_METHODS")
_shape_scalings = _lazy_choices("specgd.optim.muon", "SHAPE_SCALINGS")
_eps_modes = _lazy_choices("specgd.optim.muon", "EPS_MODES")
_ns_dtypes = _lazy_choices("specgd.optim.muon", "NS_DTYPES")
_normalizations = _lazy_choices("specgd.data.covariance", "NORMALIZATIONS")
_teacher_norms = _lazy_choices("specgd.data.problem", "TEACHER_NORMS")
_bases = _lazy_choices("specgd.data.problem", "BASES")
_whiten_modes = _lazy_choices("specgd.optim.whitening", "WHITEN")
_schedules = _lazy_choices("specgd.runner.schedule", "SCHEDULES")


def _targets(value: Any) -> list[float]:
    """Loss targets: distinct fractions in (0, 1) of the initial excess loss."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        value = [value]
    out = check_list(value, lambda x: check_number(x, gt=0, lt=1), "numbers in (0, 1)",
                     nonempty=True)
    if len(set(out)) != len(out):
        raise invalid("distinct fractions", value)
    return out


_FRACTION = {"ge": 0, "lt": 1}

#: Every run option, in the order of the configuration's fields and of ``specgd run --help``.
OPTIONS: tuple[Option, ...] = (
    # --- problem ---
    _opt("d", "problem", "Input dimension d (>= 2).", _integer(ge=2), required=True, cli="int",
         label="d (input dimension)", example=6),
    _opt("m", "problem", "Number of neurons m (>= 1).", _integer(ge=1), required=True, cli="int",
         label="m (number of neurons)", example=3),
    _opt("cov", "cov", "Covariance family of the inputs.", key="family", choices=_family_names,
         default="isotropic", cli="choice", selects=True, example="multispiked"),
    _opt("lam", "cov", "Spike strength λ >= 0: Σ = I + λvvᵀ.", _number(ge=0), cli="float",
         example=8.0),
    _opt("angle", "cov", "Angle between spike and teacher in radians, in 0..π.",
         _number(ge=0, le=math.pi, requirement="in [0, π]"), cli="float", show_default="π/2",
         example=1.0),
    _opt("lams", "cov", "Spike strengths, comma-separated, e.g. 8,4.", _numbers("numbers >= 0", ge=0),
         parse=parse_floats, metavar="LAM1,LAM2,...", example=[8.0, 4.0]),
    _opt("a", "cov", "Power-law exponent a > 0: λ_i ∝ i^-a.", _number(gt=0), cli="float", example=2.0),
    _opt("normalization", "cov", "Power-law normalization: trace 1 or λ_1 = 1.",
         choices=_normalizations, cli="choice", show_default="trace", example="max"),
    _opt("eigs", "cov", "Eigenvalues, comma-separated, d of them.", _numbers("numbers >= 0", ge=0),
         parse=parse_floats, metavar="E1,E2,...", example=[1.0, 0.5, 0.25, 0.125]),
    _opt("matrix", "cov", "A symmetric PSD d×d matrix, as a .npy file or, in TOML, a nested list.",
         _array_or_path, cli="file", array=True,
         example=[[2.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]),
    _opt("noise", "problem", "Label-noise standard deviation σ >= 0.", _number(ge=0), default=0.0,
         cli="float", label="noise (label-noise std σ)", example=0.1),
    _opt("teacher_norm", "problem",
         "Teacher normalization: ‖w*‖ = 1 (unit), ‖Σ^½w*‖ = 1 (sigma) or ‖w*‖² = d (sqrt_d).",
         choices=_teacher_norms, default="unit", cli="choice", example="sqrt_d"),
    _opt("teacher", "problem",
         "Teacher direction: auto, random, or an eigenvector index (powerlaw, diagonal, dense).",
         _teacher, default="auto", parse=parse_teacher, metavar="auto|random|INDEX", example="random"),
    _opt("second_layer", "problem", "Fixed second-layer weights: mean (a_j = 1/m) or m weights, "
         "comma-separated.", _second_layer, default="mean", parse=parse_second_layer,
         metavar="mean|A1,A2,...", example=[0.25, 0.75]),
    _opt("basis", "problem", "Spike/teacher frame: random (from the problem seed) or canonical axes.",
         choices=_bases, default="random", cli="choice", example="canonical"),
    _opt("problem_seed", "problem",
         "Seed of the teacher and spike directions (run seeds vary init and data only).",
         _integer(ge=0), key="seed", default=0, cli="int", example=3),
    _opt("teacher_rank", "problem",
         "Number r of teachers (1 <= r < d): y = (1/r) Σ_k (w_kᵀx)², orthonormal w_k ⊥ spikes.",
         _integer(ge=1), default=1, cli="int", example=2),
    _opt("activation", "problem", "Activation σ of the student Σ_j a_j σ(w_jᵀx): quadratic, relu, "
         "erf, tanh, abs, linear or hermite(k), k = 1…4.", _function("activation"),
         show_default="quadratic", metavar="NAME", example="relu"),
    _opt("link", "problem", "Link g of the target y = (1/r) Σ_k g(w_kᵀx) + σξ: square, relu, abs, "
         "sign or hermite(k), k = 1…4.", _function("link"), show_default="square", metavar="NAME",
         example="hermite(3)"),
    # --- optimizer ---
    _opt("optimizer", "optimizer", "Optimizer.", key="name", choices=_optimizer_names, required=True,
         cli="choice", selects=True, example="specgd"),
    _opt("lr", "optimizer", "Learning rate > 0 (GD's η̃ and SpecGD's η are in different units).",
         _number(gt=0), cli="float", show_default="the optimizer's default", conflicts=("lrs",),
         example=0.05),
    _opt("preset", "optimizer", "Preset: KellerJordan's muon.py or torch.optim.Muon.",
         choices=_presets, cli="choice", show_default="keller", example="torch"),
    _opt("beta", "optimizer", "Momentum β in [0, 1).", _number(**_FRACTION), cli="float",
         show_default="0.95", example=0.9),
    _opt("nesterov", "optimizer", "Nesterov direction or plain momentum.", check_bool, cli="flag",
         show_default="nesterov", example=False),
    _opt("ns_steps", "optimizer", "Number of Newton–Schulz steps.", _integer(ge=1, le=99), cli="int",
         show_default="5", example=3),
    _opt("ns_coeffs", "optimizer",
         "Newton–Schulz coefficients: polar_express or one triple a,b,c; in TOML also a list of "
         "triples, one per step.", _ns_coeffs, parse=parse_ns_coeffs, metavar="polar_express|A,B,C",
         show_default="3.4445,-4.775,2.0315", example="polar_express"),
    _opt("weight_decay", "optimizer", "Decoupled weight decay >= 0.", _number(ge=0), cli="float",
         show_default="from the preset", example=0.01),
    _opt("rank_rtol", "optimizer", "Singular values below rank_rtol·s_max count as zero.",
         _number(gt=0, lt=1), cli="float", show_default="1e-10", example=1e-8),
    _opt("method", "optimizer", "How the polar factor is computed; all are exact, auto picks by "
         "the condition number.", choices=_polar_methods, cli="choice", show_default="auto",
         example="svd"),
    _opt("eps", "optimizer", "Small constant > 0 guarding a division by a norm.", _number(gt=0),
         cli="float", example=1e-6),
    _opt("eps_mode", "optimizer", "Norm guard: add (‖X‖ + eps) or clamp (max(‖X‖, eps)).",
         choices=_eps_modes, cli="choice", show_default="from the preset", example="clamp"),
    _opt("shape_scaling", "optimizer", "Step scaling by the matrix shape; match_rms_adamw depends "
         "on d.", choices=_shape_scalings, cli="choice", show_default="original", example="none"),
    _opt("ns_dtype", "optimizer", "Precision of the Newton–Schulz arithmetic, e.g. bfloat16 as in "
         "the references.", choices=_ns_dtypes, cli="choice", show_default="the run's dtype",
         example="float32"),
    _opt("b1", "optimizer", "First-moment decay β1 in [0, 1).", _number(**_FRACTION), cli="float",
         show_default="0.9", example=0.8),
    _opt("b2", "optimizer", "Second-moment decay β2 in [0, 1).", _number(**_FRACTION), cli="float",
         show_default="0.999", example=0.99),
    _opt("whiten", "optimizer", "Whitened GD's covariance: the problem's own Σ (known) or the "
         "sample covariance Σ̂ of --whiten-n inputs (estimated).", choices=_whiten_modes,
         cli="choice", show_default="known", example="known"),
    _opt("whiten_n", "optimizer", "Samples n >= 1 of the estimated Σ̂ = (1/n)Σ xᵢxᵢᵀ (n < d needs "
         "--ridge > 0).", _integer(ge=1), cli="int", needs={"whiten": "estimated"}, example=16),
    _opt("whiten_seed", "optimizer", "Seed of the samples of the estimated Σ̂ (its own seed, "
         "independent of the run seeds).", _integer(ge=0, le=MAX_SEED), cli="int", show_default="0",
         example=1),
    _opt("ridge", "optimizer", "Ridge >= 0 added to the whitening covariance: (Σ + ridge·I)⁻¹.",
         _number(ge=0), cli="float", show_default="0", example=0.1),
    # --- init ---
    _opt("init", "init", "Initialization of W (array: give --init-array).", key="kind",
         choices=_init_kinds, default="gaussian", cli="choice", selects=True, example="orthogonal"),
    _opt("init_scale", "init", "Scale: gaussian entries N(0, scale²/d), orthogonal rows of norm "
         "scale, spectral rows of norm scale (unset: mean-matched).", _number(ge=0), key="scale",
         cli="float", show_default="0.01 (spectral: mean-matched)", example=0.1),
    _opt("a0", "init", "Signal coefficient of the manifold point.", _number(), cli="float",
         show_default="0.05", example=0.1),
    _opt("b0", "init", "Spike coefficient of the manifold point.", _number(), cli="float",
         show_default="0.05", example=0.05),
    _opt("c0", "init", "Bulk coefficient of the manifold point.", _number(), cli="float",
         show_default="0.05", example=0.02),
    _opt("preprocessing", "init", "Label preprocessing T(y) of the spectral estimator: plain, "
         "centered, truncated, optimal (1 − 1/ŷ), mondelli_montanari or "
         "mondelli_montanari_complex.", choices=_preprocessings, cli="choice",
         show_default="plain", example="centered"),
    _opt("spectral_n", "init", "Samples of the spectral estimator (unset: its population limit).",
         _integer(ge=1, le=10**7), key="n", cli="int", show_default="population", example=16),
    _opt("spectral_seed", "init", "Seed of the spectral estimator's samples and bulk directions.",
         _integer(ge=0, le=MAX_SEED), key="seed", cli="int", show_default="0", example=1),
    _opt("truncation", "init", "Truncated preprocessing keeps labels y <= truncation · mean(y).",
         _number(gt=0), cli="float", show_default="9", example=3.0),
    _opt("init_array", "init", "W, as a .npy file or, in TOML, a nested list: shape (m, d) or "
         "(runs, m, d).", _array_or_path, key="array", cli="file", array=True,
         example=[[0.01, 0.02, 0.0, 0.0], [0.0, 0.0, 0.01, 0.02]]),
    # --- run ---
    _opt("steps", "run", "Number of optimizer steps (>= 1).", _integer(ge=1), required=True, cli="int",
         example=4),
    _opt("seeds", "run",
         "A count (3 means seeds 0, 1, 2) or a comma-separated list (0,4,7; one seed s: s,).",
         _seeds, default=(0,), parse=parse_seeds, metavar="N|S1,S2,...", show_default="1",
         example=[1, 2]),
    _opt("mode", "run",
         "population (exact loss), finite (--n fixed samples) or online (fresh --batch-size each step).",
         choices=MODES, default="population", cli="choice", example="online"),
    _opt("n", "run", "Number of training samples.", _integer(ge=1), cli="int",
         label="n (number of samples)", needs={"mode": "finite"}, example=16),
    _opt("batch_size", "run", "Batch size.", _integer(ge=1), cli="int", show_default="1",
         needs={"mode": "online"}, example=4),
    _opt("log_every", "run",
         "Record statistics every this many steps (and at step 0 and the last step; a value larger "
         "than steps records step 0 and the last step only).",
         _integer(ge=1), default=10, cli="int", example=2),
    _opt("log_at", "run", "Record statistics at these steps instead (and at step 0 and the last "
         "step), comma-separated.", _integers("integers >= 1 (steps)", ge=1, integral_float=True),
         parse=parse_ints, metavar="K1,K2,...", conflicts=("log_per_decade",), example=[1, 3]),
    _opt("log_per_decade", "run", "Record statistics at log-spaced steps, this many per decade "
         "(instead of --log-every).", _integer(ge=1), cli="int", conflicts=("log_at",), example=5),
    _opt("track_update", "run", "Record the singular-value range of the applied update.",
         check_bool, cli="flag", show_default="spectral optimizers", example=True),
    _opt("dtype", "run", "Floating-point precision.", choices=DTYPES, default="float64", cli="choice",
         example="float32"),
    _opt("lrs", "run", "Several learning rates run side by side, comma-separated (instead of --lr).",
         _learning_rates, parse=parse_floats, metavar="LR1,LR2,...", conflicts=("lr",),
         panel="optimizer", example=[0.01, 0.02]),
    _opt("moments", "run", "Also record s^(k), u^(k) for these k, comma-separated.",
         _integers("integers >= 1", ge=1), default=(), parse=parse_ints, metavar="K1,K2,...",
         needs={"m": 1}, example=[2]),
    _opt("vectorize", "run", "How runs are batched (auto: vmap on accelerators, map on CPU).",
         choices=VECTORIZE, default="auto", cli="choice", example="map"),
    _opt("reduce", "run", "Run population mode in the exact invariant subspace span(W0, w*, spikes): "
         "auto when exact and smaller than d; never keeps all d coordinates.", choices=REDUCE,
         default="auto", cli="choice", example="never"),
    _opt("targets", "run", "Loss targets as fractions of the initial excess loss L₀ − σ², "
         "comma-separated: per run and target, the first step at or below it and the step from "
         "which the loss stays at or below it (settle), taken from every step (runs-table columns "
         "first_<f>, settle_<f>, loss_min, loss_at_budget).", _targets, parse=parse_floats,
         metavar="F1,F2,...", example=[0.01]),
    _opt("schedule", "run", "Learning-rate schedule, a factor on the rate at each step: constant, "
         "linear or cosine decay to 0, or wsd (warmup, stable, linear decay).", choices=_schedules,
         cli="choice", show_default="constant", example="cosine"),
    _opt("warmup", "run", "Fraction of the steps spent warming the rate up linearly from 0, "
         "before the schedule.", _number(ge=0, lt=1), cli="float", show_default="0",
         example=0.1),
    _opt("decay", "run", "Fraction of the steps over which wsd decays the rate linearly to 0.",
         _number(gt=0, le=1), cli="float", show_default="0.2", needs={"schedule": "wsd"},
         example=0.3),
    _opt("runs_per_call", "run", "Runs per compiled call: the runs are computed in calls of this "
         "many (the last padded), so that every call has the same shapes and compiles once.",
         _integer(ge=1), cli="int", show_default="all runs", example=2),
    # --- output ---
    _opt("out", "output", "Output folder for metrics.parquet and manifest.json.", _folder,
         cli="folder", sweep=False, example="runs/example"),
)

OPTION = {opt.name: opt for opt in OPTIONS}
#: Each option's configuration path, by option name (the command line's ``--name``).
OPTION_PATHS: dict[str, tuple[str, ...]] = {opt.name: opt.path for opt in OPTIONS}


def _check_declaration() -> None:
    names = [o.name for o in OPTIONS]
    paths = [o.path for o in OPTIONS]
    assert len(set(names)) == len(names) and len(set(paths)) == len(paths), "duplicate run option"
    assert all(o.section in SECTIONS for o in OPTIONS)


_check_declaration()


def section_options(section: str) -> tuple[Option, ...]:
    """The options of one section, in declaration order."""
    return tuple(o for o in OPTIONS if o.section == section)


def run_options() -> tuple[Option, ...]:
    """The keyword arguments of :func:`specgd.run` that are run options."""
    return section_options("run")


def by_path(path: Sequence[str]) -> Option | None:
    """The option at a configuration path (``None`` for a section or an unknown path)."""
    path = tuple(path)
    return next((o for o in OPTIONS if o.path == path), None)


def keys_at(path: Sequence[str] = ()) -> tuple[str, ...]:
    """The keys a configuration allows at ``path`` (``()``: the top level; ``('problem',
    'cov')``: the covariance table), in declaration order: option keys and sub-tables."""
    path = tuple(path)
    keys: dict[str, None] = {}
    for o in OPTIONS:
        if len(o.path) > len(path) and o.path[: len(path)] == path:
            keys[o.path[len(path)]] = None
    return tuple(keys)


def key_locations() -> dict[str, str]:
    """Each option key and its dotted place in a configuration (``{'lam': 'problem.cov.lam'}``),
    for pointing a key given at the wrong level to where it belongs."""
    out: dict[str, str] = {}
    for o in OPTIONS:
        out.setdefault(o.config_key, o.dotted)
    for path in SECTIONS.values():
        if path:
            out.setdefault(path[-1], ".".join(path))
    return out


def table_paths() -> tuple[tuple[str, ...], ...]:
    """The paths of the configuration's tables: ``('problem',)``, ``('problem', 'cov')``..."""
    return tuple(p for p in SECTIONS.values() if p)


def check_keys(data: Mapping[str, Any], path: Sequence[str] = (), name: str | None = None) -> None:
    """Refuse a key of ``data`` (a configuration table at ``path``, as read from TOML) that is not
    a key of that table, recursively, naming the closest valid key (:func:`specgd.errors.unknown_key`:
    ``base.problem.cov: unknown key 'lambda' (did you mean 'lam'?)``). ``name`` names the table
    in messages (default: its path). Values are not checked."""
    path = tuple(path)
    valid, where = keys_at(path), ".".join(path)
    label = name if name is not None else (where or None)  # how messages name this table
    for key, value in data.items():
        if key not in valid:
            elsewhere = {k: w for k, w in key_locations().items() if w.rsplit(".", 1)[0] != where}
            raise unknown_key(key, valid, label, elsewhere=elsewhere)
        if (*path, key) in table_paths() and isinstance(value, Mapping):
            check_keys(value, (*path, key), f"{label}.{key}" if label else key)


def selector(section: str) -> Option | None:
    """The option choosing what the rest of ``section`` means (``family``, ``name``, ``kind``)."""
    return next((o for o in section_options(section) if o.selects), None)


def takers(opt: Option) -> tuple[str, ...] | None:
    """The covariance families, optimizers or init kinds that take ``opt`` (``None`` for options
    of no such section, and for a section's selector)."""
    if opt.selects or opt.section not in ("cov", "optimizer", "init"):
        return None
    key = opt.config_key
    if opt.section == "cov":
        # lazy: the registries import JAX; the option table itself stays pure Python for the CLI
        from specgd.data.covariance import FAMILIES

        return tuple(n for n, cls in FAMILIES.items() if key in cls.parameter_names())
    if opt.section == "optimizer":
        # lazy: the registries import JAX; the option table itself stays pure Python for the CLI
        from specgd.optim.registry import optimizers

        return tuple(n for n, e in optimizers().items() if key in e.parameters)
    # lazy: the registries import JAX; the option table itself stays pure Python for the CLI
    from specgd.model.init import INIT_KINDS, init_parameters

    return tuple(k for k in INIT_KINDS if key in init_parameters(k))


def required_by(opt: Option) -> tuple[str, ...]:
    """The covariance families (or init kinds) that require ``opt``."""
    if opt.section == "cov" and not opt.selects:
        # lazy: the registries import JAX; the option table itself stays pure Python for the CLI
        from specgd.data.covariance import FAMILIES

        return tuple(n for n, cls in FAMILIES.items() if opt.config_key in cls.required)
    if opt.section == "init" and not opt.selects:
        # lazy: the registries import JAX; the option table itself stays pure Python for the CLI
        from specgd.model.init import INIT_KINDS, init_required

        return tuple(k for k in INIT_KINDS if opt.config_key in init_required(k))
    return ()


def requirements(opt: Option) -> dict[str, tuple[Any, ...]]:
    """The values other options must have for ``opt`` to apply, by option name: the section's
    selector (``{'cov': ('spiked',)}`` for ``lam``) and :attr:`Option.needs`."""
    out = {name: (value,) for name, value in opt.needs.items()}
    who = takers(opt)
    sel = selector(opt.section)
    if who is not None and sel is not None and set(who) != set(sel.choice_list()):
        out[sel.name] = who
    return out


def applies_to(opt: Option) -> str:
    """Where ``opt`` applies, for help texts: ``'spiked; required there'``, ``'mode finite'``."""
    parts = []
    for name, values in requirements(opt).items():
        shown = ", ".join(str(v) for v in values)
        parts.append(shown if OPTION[name].selects else f"{name} = {shown}")
    required = required_by(opt)
    if required:
        parts.append("required there" if set(required) == set(sum(requirements(opt).values(), ()))
                     else f"required by {', '.join(required)}")
    return "; ".join(parts)


def help_text(opt: Option) -> str:
    """The option's help with where it applies: ``Spike strength ... (spiked; required there).``"""
    where = applies_to(opt)
    if not where:
        return opt.help
    text = opt.help[:-1] if opt.help.endswith(".") else opt.help
    return f"{text} ({where})."


def check_conflicts(values: Mapping[str, Any]) -> None:
    """Refuse two options that cannot be given together (``values`` by option name, ``None`` =
    not given)."""
    for opt in OPTIONS:
        for other in opt.conflicts:
            if values.get(opt.name) is not None and values.get(other) is not None \
                    and OPTIONS.index(opt) < OPTIONS.index(OPTION[other]):
                raise ConfigError(f"give {opt.dotted} or {OPTION[other].dotted}, not both")


__all__ = [
    "DTYPES",
    "EXAMPLE_PROBLEM",
    "MODES",
    "OPTION",
    "OPTIONS",
    "OPTION_PATHS",
    "REDUCE",
    "SECTIONS",
    "VECTORIZE",
    "Option",
    "applies_to",
    "by_path",
    "check_conflicts",
    "check_keys",
    "help_text",
    "key_locations",
    "keys_at",
    "required_by",
    "requirements",
    "run_options",
    "section_options",
    "selector",
    "table_paths",
    "takers",
]
