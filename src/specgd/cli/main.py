"""The ``specgd`` command line.

``specgd run`` runs one configuration (a TOML file, flags, or both: flags override the file) and
saves ``metrics.parquet`` + ``manifest.json``; ``specgd version`` prints the versions that
determine the numbers. Invalid input prints one line, ``Error: <message>``, on stderr and exits
with status 2, before anything runs or is written.

New subcommands are registered on ``app`` (see the end of this module).
"""

from __future__ import annotations

import sys
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from specgd.config import apply_overrides, execute, read_toml
from specgd.data.covariance import ConfigError

EXIT_OK = 0
EXIT_ALL_DIVERGED = 1
EXIT_BAD_INPUT = 2


class _Group(TyperGroup):
    """Typer's group, with usage errors (unknown option, bad value...) printed as one line
    ``Error: ...`` on stderr (exit status 2) instead of a framed panel.

    Exceptions are recognized by class name, as Typer itself does: recent Typer versions ship
    their own copy of click, older ones use click.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except Exception as e:
            kinds = {cls.__name__ for cls in type(e).__mro__}
            if "NoArgsIsHelpError" in kinds:
                if self.rich_markup_mode is None:  # in rich mode the help is already printed
                    e.show()
                sys.exit(e.exit_code)
            if "ClickException" in kinds:
                hint = ""
                ctx = getattr(e, "ctx", None)
                if "UsageError" in kinds and ctx is not None:
                    hint = f" (see '{ctx.command_path} --help')"
                typer.echo(f"Error: {_one_line(e.format_message())}{hint}", err=True)
                sys.exit(e.exit_code)
            if "Abort" in kinds:
                typer.echo("Aborted.", err=True)
                sys.exit(1)
            raise
        sys.exit(code if isinstance(code, int) else EXIT_OK)


app = typer.Typer(
    name="specgd",
    cls=_Group,
    help="Learning dynamics of GD, spectral GD and Muon on anisotropic phase retrieval.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fail(message: str) -> typer.Exit:
    typer.echo(f"Error: {_one_line(message)}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


# --- choices ----------------------------------------------------------------------------------


class Family(StrEnum):
    isotropic = "isotropic"
    spiked = "spiked"
    multispiked = "multispiked"
    powerlaw = "powerlaw"
    diagonal = "diagonal"
    dense = "dense"


class OptName(StrEnum):
    gd = "gd"
    specgd = "specgd"
    muon = "muon"
    normalized_gd = "normalized_gd"
    sign_gd = "sign_gd"
    adam = "adam"


class InitKind(StrEnum):
    gaussian = "gaussian"
    orthogonal = "orthogonal"
    manifold = "manifold"
    array = "array"


class Mode(StrEnum):
    population = "population"
    finite = "finite"
    online = "online"


class DType(StrEnum):
    float64 = "float64"
    float32 = "float32"


class Normalization(StrEnum):
    trace = "trace"
    max = "max"


class TeacherNorm(StrEnum):
    unit = "unit"
    sigma = "sigma"
    sqrt_d = "sqrt_d"


class Basis(StrEnum):
    random = "random"
    canonical = "canonical"


class Preset(StrEnum):
    keller = "keller"
    torch = "torch"


class Vectorize(StrEnum):
    auto = "auto"
    vmap = "vmap"
    map = "map"


class Reduce(StrEnum):
    auto = "auto"
    never = "never"
    always = "always"


# --- parsing of list-valued flags -------------------------------------------------------------


def _floats(flag: str, text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{flag}: must be comma-separated numbers (e.g. 8,4), got {text!r}") from None


def _ints(flag: str, text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{flag}: must be comma-separated integers (e.g. 0,1,5), got {text!r}") from None


def _seeds(flag: str, text: str) -> int | list[int]:
    if "," in text or not text.strip():
        return _ints(flag, text)
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"{flag}: must be a count (e.g. 3 for seeds 0, 1, 2) or a comma-separated list (e.g. 0,4,7), "
            f"got {text!r}"
        ) from None


def _teacher(flag: str, text: str) -> str | int:
    return int(text) if text.strip().isdigit() else text


def _ns_coeffs(flag: str, text: str) -> str | list[float]:
    return text if text == "polar_express" else _floats(flag, text)


# Each run option: the config field it sets and how its text becomes a value (default: as typed).
OPTION_PATHS: dict[str, tuple[str, ...]] = {
    "d": ("problem", "d"),
    "m": ("problem", "m"),
    "cov": ("problem", "cov", "family"),
    "lam": ("problem", "cov", "lam"),
    "angle": ("problem", "cov", "angle"),
    "lams": ("problem", "cov", "lams"),
    "a": ("problem", "cov", "a"),
    "normalization": ("problem", "cov", "normalization"),
    "eigs": ("problem", "cov", "eigs"),
    "matrix": ("problem", "cov", "matrix"),
    "noise": ("problem", "noise"),
    "teacher": ("problem", "teacher"),
    "teacher_norm": ("problem", "teacher_norm"),
    "basis": ("problem", "basis"),
    "problem_seed": ("problem", "seed"),
    "optimizer": ("optimizer", "name"),
    "lr": ("optimizer", "lr"),
    "lrs": ("lrs",),
    "preset": ("optimizer", "preset"),
    "beta": ("optimizer", "beta"),
    "nesterov": ("optimizer", "nesterov"),
    "ns_steps": ("optimizer", "ns_steps"),
    "ns_coeffs": ("optimizer", "ns_coeffs"),
    "weight_decay": ("optimizer", "weight_decay"),
    "rank_rtol": ("optimizer", "rank_rtol"),
    "init": ("init", "kind"),
    "init_scale": ("init", "scale"),
    "a0": ("init", "a0"),
    "b0": ("init", "b0"),
    "c0": ("init", "c0"),
    "init_array": ("init", "array"),
    "steps": ("steps",),
    "seeds": ("seeds",),
    "mode": ("mode",),
    "n": ("n",),
    "batch_size": ("batch_size",),
    "log_every": ("log_every",),
    "dtype": ("dtype",),
    "moments": ("moments",),
    "vectorize": ("vectorize",),
    "reduce": ("reduce",),
    "out": ("out",),
}
PARSERS = {"lams": _floats, "eigs": _floats, "lrs": _floats, "moments": _ints, "seeds": _seeds,
           "teacher": _teacher, "ns_coeffs": _ns_coeffs}


def flag_name(param: str) -> str:
    return "--" + param.replace("_", "-")


FLAGS = {path: flag_name(param) for param, path in OPTION_PATHS.items()}
FLAGS[("problem",)] = "--d and --m"  # a missing section: name the flags that create it
FLAGS[("optimizer",)] = "--optimizer"


def overrides_from_options(options: dict[str, Any]) -> dict[tuple[str, ...], Any]:
    """The config values set by the options given on the command line (``None`` = not given)."""
    out: dict[tuple[str, ...], Any] = {}
    for param, path in OPTION_PATHS.items():
        value = options.get(param)
        if value is None:
            continue
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, Path):
            value = str(value)
        if param in PARSERS:
            value = PARSERS[param](flag_name(param), value)
        out[path] = value
    return out


# --- specgd run -------------------------------------------------------------------------------

P_IN, P_PROB, P_OPT, P_INIT, P_RUN, P_OUT = (
    "Configuration file", "Problem", "Optimizer", "Initialization", "Run", "Output"
)

RUN_HELP = (
    "Train a width-m quadratic network on phase retrieval and save its statistics.\n\n"
    "The run is described by a TOML file (--config), by flags, or by both: a flag given on the command "
    "line overrides the file's value (changing --cov, --optimizer or --init replaces that whole section "
    "of the file; --lr replaces the file's lrs and --lrs its lr). Without a file, --d, --m, --optimizer, "
    "--steps and --out are required.\n\n"
    "Writes OUT/metrics.parquet (one row per run and logged step: seed, lr, step, a, b, c, cos, loss, "
    "...) and OUT/manifest.json (configuration, seeds, versions), then prints a summary row per run.\n\n"
    "Exit status: 0 when at least one run finished (diverged runs are marked in the table and in the "
    "manifest), 1 when every run diverged (the results are still saved), 2 for invalid input, in "
    "which case nothing is run or written."
)


@app.command("run", help=RUN_HELP, no_args_is_help=True)
def run_command(
    config: Annotated[Path | None, typer.Option(
        "--config", help="TOML run configuration (see specgd.config). Flags override its values.",
        rich_help_panel=P_IN, dir_okay=False)] = None,
    # problem
    d: Annotated[int | None, typer.Option(help="Input dimension d (>= 2).", rich_help_panel=P_PROB)] = None,
    m: Annotated[int | None, typer.Option(help="Number of neurons m (>= 1).", rich_help_panel=P_PROB)] = None,
    cov: Annotated[Family | None, typer.Option(
        help="Covariance family of the inputs.", show_default="isotropic", rich_help_panel=P_PROB)] = None,
    lam: Annotated[float | None, typer.Option(
        help="Spike strength λ >= 0: Σ = I + λvvᵀ (spiked; required there).", rich_help_panel=P_PROB)] = None,
    angle: Annotated[float | None, typer.Option(
        help="Angle between spike and teacher in radians, in 0..π (spiked).", show_default="π/2",
        rich_help_panel=P_PROB)] = None,
    lams: Annotated[str | None, typer.Option(
        help="Spike strengths, comma-separated, e.g. 8,4 (multispiked).", metavar="LAM1,LAM2,...",
        rich_help_panel=P_PROB)] = None,
    a: Annotated[float | None, typer.Option(
        help="Power-law exponent a > 0: λ_i ∝ i^-a (powerlaw).", rich_help_panel=P_PROB)] = None,
    normalization: Annotated[Normalization | None, typer.Option(
        help="Power-law normalization: trace 1 or λ_1 = 1 (powerlaw).", show_default="trace",
        rich_help_panel=P_PROB)] = None,
    eigs: Annotated[str | None, typer.Option(
        help="Eigenvalues, comma-separated, d of them (diagonal).", metavar="E1,E2,...",
        rich_help_panel=P_PROB)] = None,
    matrix: Annotated[Path | None, typer.Option(
        help="A .npy file holding a symmetric PSD d×d matrix (dense).", rich_help_panel=P_PROB,
        dir_okay=False)] = None,
    noise: Annotated[float | None, typer.Option(
        help="Label-noise standard deviation σ >= 0.", show_default="0", rich_help_panel=P_PROB)] = None,
    teacher: Annotated[str | None, typer.Option(
        help="Teacher direction: auto, random, or an eigenvector index (powerlaw, diagonal, dense).",
        show_default="auto", metavar="auto|random|INDEX", rich_help_panel=P_PROB)] = None,
    teacher_norm: Annotated[TeacherNorm | None, typer.Option(
        help="Teacher normalization: ‖w*‖ = 1 (unit), ‖Σ^½w*‖ = 1 (sigma) or ‖w*‖² = d (sqrt_d).",
        show_default="unit", rich_help_panel=P_PROB)] = None,
    basis: Annotated[Basis | None, typer.Option(
        help="Spike/teacher frame: random (from the problem seed) or canonical axes.",
        show_default="random", rich_help_panel=P_PROB)] = None,
    problem_seed: Annotated[int | None, typer.Option(
        help="Seed of the teacher and spike directions (run seeds vary init and data only).",
        show_default="0", rich_help_panel=P_PROB)] = None,
    # optimizer
    optimizer: Annotated[OptName | None, typer.Option(
        help="Optimizer.", rich_help_panel=P_OPT)] = None,
    lr: Annotated[float | None, typer.Option(
        help="Learning rate > 0 (GD's η̃ and SpecGD's η are in different units).",
        show_default="the optimizer's default", rich_help_panel=P_OPT)] = None,
    lrs: Annotated[str | None, typer.Option(
        help="Several learning rates run side by side, comma-separated (instead of --lr).",
        metavar="LR1,LR2,...",
        rich_help_panel=P_OPT)] = None,
    preset: Annotated[Preset | None, typer.Option(
        help="Muon preset: KellerJordan's muon.py or torch.optim.Muon.", show_default="keller",
        rich_help_panel=P_OPT)] = None,
    beta: Annotated[float | None, typer.Option(
        help="Muon momentum β in [0, 1).", show_default="0.95", rich_help_panel=P_OPT)] = None,
    nesterov: Annotated[bool | None, typer.Option(
        "--nesterov/--no-nesterov", help="Muon: Nesterov direction or plain momentum.",
        show_default="nesterov", rich_help_panel=P_OPT)] = None,
    ns_steps: Annotated[int | None, typer.Option(
        help="Muon: number of Newton–Schulz steps.", show_default="5", rich_help_panel=P_OPT)] = None,
    ns_coeffs: Annotated[str | None, typer.Option(
        help="Muon Newton–Schulz coefficients: polar_express or one triple a,b,c.",
        show_default="3.4445,-4.775,2.0315", metavar="polar_express|A,B,C", rich_help_panel=P_OPT)] = None,
    weight_decay: Annotated[float | None, typer.Option(
        help="Muon decoupled weight decay >= 0.", show_default="from the preset",
        rich_help_panel=P_OPT)] = None,
    rank_rtol: Annotated[float | None, typer.Option(
        help="SpecGD: singular values below rank_rtol·s_max count as zero.", show_default="1e-10",
        rich_help_panel=P_OPT)] = None,
    # init
    init: Annotated[InitKind | None, typer.Option(
        help="Initialization of W (array: give --init-array).", show_default="gaussian",
        rich_help_panel=P_INIT)] = None,
    init_scale: Annotated[float | None, typer.Option(
        help="Scale of gaussian (entries N(0, scale²/d)) or orthogonal init.", show_default="0.01",
        rich_help_panel=P_INIT)] = None,
    a0: Annotated[float | None, typer.Option(
        help="Manifold init: signal coefficient.", show_default="0.05", rich_help_panel=P_INIT)] = None,
    b0: Annotated[float | None, typer.Option(
        help="Manifold init: spike coefficient.", show_default="0.05", rich_help_panel=P_INIT)] = None,
    c0: Annotated[float | None, typer.Option(
        help="Manifold init: bulk coefficient.", show_default="0.05", rich_help_panel=P_INIT)] = None,
    init_array: Annotated[Path | None, typer.Option(
        help="A .npy file with W, shape (m, d) or (runs, m, d) (init array).", rich_help_panel=P_INIT,
        dir_okay=False)] = None,
    # run
    steps: Annotated[int | None, typer.Option(
        help="Number of optimizer steps (>= 1).", rich_help_panel=P_RUN)] = None,
    seeds: Annotated[str | None, typer.Option(
        help="A count (3 means seeds 0, 1, 2) or a comma-separated list (0,4,7; one seed s: s,).",
        show_default="1", metavar="N|S1,S2,...", rich_help_panel=P_RUN)] = None,
    mode: Annotated[Mode | None, typer.Option(
        help="population (exact loss), finite (--n fixed samples) or online (fresh --batch-size each step).",
        show_default="population", rich_help_panel=P_RUN)] = None,
    n: Annotated[int | None, typer.Option(
        help="Number of training samples (mode finite).", rich_help_panel=P_RUN)] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Batch size (mode online).", show_default="1", rich_help_panel=P_RUN)] = None,
    log_every: Annotated[int | None, typer.Option(
        help="Record statistics every this many steps (and at step 0 and the last step).",
        show_default="10", rich_help_panel=P_RUN)] = None,
    dtype: Annotated[DType | None, typer.Option(
        help="Floating-point precision.", show_default="float64", rich_help_panel=P_RUN)] = None,
    moments: Annotated[str | None, typer.Option(
        help="For m = 1, also record s^(k), u^(k) for these k, comma-separated.", metavar="K1,K2,...",
        rich_help_panel=P_RUN)] = None,
    vectorize: Annotated[Vectorize | None, typer.Option(
        help="How runs are batched (auto: vmap on accelerators, map on CPU).", show_default="auto",
        rich_help_panel=P_RUN)] = None,
    reduce: Annotated[Reduce | None, typer.Option(
        help="Run population mode in the exact invariant subspace span(W0, w*, spikes) "
        "(auto: when exact and smaller than d; never: all d coordinates).", show_default="auto",
        rich_help_panel=P_RUN)] = None,
    # output
    out: Annotated[Path | None, typer.Option(
        help="Output folder for metrics.parquet and manifest.json.", rich_help_panel=P_OUT,
        file_okay=False)] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace a run already saved in the output folder.",
        rich_help_panel=P_OUT)] = False,
    progress: Annotated[bool | None, typer.Option(
        "--progress/--no-progress", help="Show a progress bar on stderr.",
        show_default="when stderr is a terminal", rich_help_panel=P_OUT)] = None,
) -> None:
    options = dict(locals())  # every parameter above, by name
    try:
        cfg = config_from_options(options)
        if cfg.out is None:
            where = f"{config}: out" if config is not None else "--out"
            raise ConfigError(f"{where}: required (the folder for metrics.parquet and manifest.json)")
        result = execute(cfg, progress=progress, overwrite=overwrite)  # checks everything first
    except ConfigError as e:
        raise _fail(str(e)) from None
    _print_summary(result, cfg.output_dir())
    if result.runs["diverged_at_step"].notna().all():
        raise typer.Exit(EXIT_ALL_DIVERGED)


def config_from_options(options: dict[str, Any]):
    """The :class:`specgd.config.RunConfig` described by the ``run`` options (file + flags)."""
    from specgd.config import RunConfig

    path = options.get("config")
    data = read_toml(path) if path is not None else {}
    overrides = overrides_from_options(options)
    return RunConfig.from_dict(
        apply_overrides(data, overrides),
        source=None if path is None else str(path),
        base_dir=None if path is None else Path(path).parent,
        flags=FLAGS,
        explicit=overrides,
    )


def _fmt(value: Any) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if x != x else f"{x:.4g}"


def _print_summary(result, out: Path) -> None:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    frame, runs = result.frame, result.runs
    keys = [k for k in ("problem", "seed", "lr") if k in runs.columns]
    last = frame.groupby(keys, sort=False, dropna=False).tail(1).set_index(keys)
    stats = [s for s in ("a", "b", "c", "cos", "loss") if s in frame.columns]
    table = Table(title=f"{result.config['optimizer'].get('name', 'run')}: final statistics "
                        f"after {result.config['steps']} steps")
    for k in keys:
        table.add_column(k, justify="right")
    for s in stats:
        table.add_column(s, justify="right")
    table.add_column("diverged_at_step", justify="right")
    for _, row in runs.iterrows():
        key = tuple(row[k] for k in keys)
        final = last.loc[key if len(keys) > 1 else key[0]]
        if isinstance(final, pd.DataFrame):
            final = final.iloc[-1]
        div = row["diverged_at_step"]
        cells = [str(int(row[k])) if k != "lr" else _fmt(row[k]) for k in keys]
        cells += [_fmt(final[s]) for s in stats]
        cells.append("—" if pd.isna(div) else f"[red]diverged at {int(div)}[/red]")
        table.add_row(*cells)
    console = Console()
    console.print(table)
    n_div = int(runs["diverged_at_step"].notna().sum())
    if n_div:
        console.print(f"{n_div} of {len(runs)} runs diverged (their statistics are NaN from that step on).")
    console.print(f"Saved {len(runs)} run(s) to {out}/ (metrics.parquet, manifest.json)", highlight=False)


# --- specgd version ---------------------------------------------------------------------------


@app.command("version")
def version_command() -> None:
    """Print the versions of specgd, JAX and optax, and the JAX backend in use."""
    from importlib import metadata

    import jax

    for name in ("specgd", "jax", "jaxlib", "optax"):
        try:
            typer.echo(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            typer.echo(f"{name} not installed")
    devices = ", ".join(str(dev) for dev in jax.devices())
    typer.echo(f"backend {jax.default_backend()} ({devices})")


# --- specgd reproduce ------------------------------------------------------------------------


@app.command("reproduce")
def reproduce_command(
    experiments: Annotated[list[str] | None, typer.Argument(
        help="Experiments to run (E1 … E7); all of them by default.", show_default=False)] = None,
    out: Annotated[Path, typer.Option(
        help="Report folder: report.html, report.md, claims.json, one PNG + Parquet per figure.",
        file_okay=False)] = Path("reproduction"),
    quick: Annotated[bool, typer.Option(
        "--quick", help="Every experiment at reduced size (under 2 minutes in all).")] = False,
) -> None:
    """Run the reproduction experiments and write the report with its claims table."""
    from specgd.report.build import build, resolve

    try:
        resolve(experiments)
    except ValueError as e:
        raise _fail(str(e)) from None
    results = build(out, experiments, quick=quick, log=typer.echo)
    claims = [c for r in results for c in r.claims]
    fails = [c.id for c in claims if c.verdict == "FAIL"]
    typer.echo(f"{len(claims)} claims: {sum(c.verdict == 'PASS' for c in claims)} PASS, "
               f"{len(fails)} FAIL{' (' + ', '.join(fails) + ')' if fails else ''}, "
               f"{sum(c.verdict == 'INFO' for c in claims)} INFO")


# --- specgd sweep / results / phase-diagram ---------------------------------------------------


@app.command("sweep", no_args_is_help=True)
def sweep_command(
    grid: Annotated[Path, typer.Argument(
        help="Grid file (TOML): a [base] run config, a [grid] of dotted fields to combine, "
             "optional [[include]] points.", dir_okay=False)],
    out: Annotated[Path | None, typer.Option(
        help="Results store folder (one Parquet file per run + an index); rerunning resumes.",
        show_default="runs/<grid file name>", file_okay=False)] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Address of a running Dask scheduler (tcp://host:8786); default: a local cluster.",
        show_default="a LocalCluster")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Worker processes of the local cluster (ignored with --scheduler).", show_default="2")] = None,
    max_batch: Annotated[int, typer.Option(
        help="Most runs per compiled call (one Dask task).")] = 64,
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed/--skip-failed", help="Rerun runs that raised in an earlier sweep.")] = True,
    progress: Annotated[bool, typer.Option(
        "--progress/--no-progress", help="Show runs done / total, runs per second and ETA.")] = True,
) -> None:
    """Run every point of a grid (skipping runs already stored), batched and in parallel."""
    from specgd.sweeps import sweep

    if not grid.is_file():
        raise _fail(f"grid file {grid} does not exist")
    out = out if out is not None else Path("runs") / grid.stem
    if max_batch < 1:
        raise _fail(f"--max-batch must be >= 1, got {max_batch}")
    try:
        report = sweep(grid, out, scheduler=scheduler, workers=workers, max_batch=max_batch,
                       progress=progress, retry_failed=retry_failed, log=typer.echo)
    except ConfigError as e:
        raise _fail(str(e)) from None
    typer.echo(f"{report.total} runs: {report.completed} completed, {report.skipped} already stored, "
               f"{report.failed} failed, in {report.seconds:.1f} s "
               f"({report.runs_per_second:.1f} runs/s); store: {out}")
    if report.interrupted:
        raise typer.Exit(130)
    if report.failed:
        typer.echo(f"failed runs are recorded with their error in {out}/errors/", err=True)
        raise typer.Exit(EXIT_ALL_DIVERGED)


@app.command("results", no_args_is_help=True)
def results_command(
    store: Annotated[Path, typer.Argument(help="A sweep's results store folder.", file_okay=False)],
    sql: Annotated[str | None, typer.Option(
        help="SQL run in place by DuckDB over the views `runs` (every row of every run) and `idx` "
             "(one row per run).", show_default="a count of runs per optimizer")] = None,
    csv: Annotated[Path | None, typer.Option(help="Also write the result to this CSV file.",
                                             dir_okay=False)] = None,
) -> None:
    """Query a results store in place (nothing is loaded beyond the query's answer)."""
    from specgd.sweeps import query

    sql = sql or "SELECT optimizer, count(*) AS runs FROM idx GROUP BY optimizer ORDER BY optimizer"
    try:
        frame = query(store, sql)
    except FileNotFoundError as e:
        raise _fail(str(e)) from None
    except Exception as e:  # DuckDB's parser and binder errors: a message about the query
        if type(e).__module__.startswith("duckdb") or type(e).__module__.startswith("_duckdb"):
            raise _fail(f"--sql: {e}") from None
        raise
    import pandas as pd

    with pd.option_context("display.max_rows", 200, "display.width", 160):
        typer.echo(frame.to_string(index=False))
    if csv is not None:
        from specgd.results.io import atomic_write

        atomic_write(csv, lambda p: frame.to_csv(p, index=False))


@app.command("phase-diagram", no_args_is_help=True)
def phase_diagram_command(
    store: Annotated[Path, typer.Argument(help="A sweep's results store with gd and specgd runs.",
                                          file_okay=False)],
    x: Annotated[str, typer.Option(help="Horizontal axis: a swept parameter (lam, d, lr, n_over_d, …).")]
    = "lam",
    y: Annotated[str, typer.Option(help="Vertical axis: a swept parameter.")] = "d",
    out: Annotated[Path | None, typer.Option(
        help="Output path without suffix (.png and .parquet are written).",
        show_default="STORE/phase_<x>_<y>", dir_okay=False)] = None,
) -> None:
    """Heatmaps of SpecGD's advantage over GD (escape-time ratio, worst alignment, final bulk)."""
    from specgd.sweeps import phase_diagram

    out = out if out is not None else store / f"phase_{x}_{y}"
    try:
        cells, _ = phase_diagram(store, x=x, y=y, out=out)
    except (ConfigError, FileNotFoundError) as e:
        raise _fail(str(e)) from None
    typer.echo(cells.to_string(index=False))
    typer.echo(f"wrote {out.with_suffix('.png')} and {out.with_suffix('.parquet')}")


if __name__ == "__main__":  # pragma: no cover
    app()
