"""Running a configuration: :func:`execute` (build, run and save), :func:`rerun` (a saved run
again), and :func:`run_config_of` (the configuration that reruns a result).

A configuration goes one way: :func:`prepare` turns it, once, into the runner's arguments and what
the run's manifest records (every check passed), and :func:`run_job` hands those down to the runner
and then to the results layer, which saves them; neither asks the configuration anything back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specgd.config.models import RunConfig
from specgd.config.options import keys_at, run_options
from specgd.config.toml import content_addressed, read_config
from specgd.data.digest import ARRAYS
from specgd.errors import ConfigError, check_writable

if TYPE_CHECKING:
    from specgd.data.problem import Problem
    from specgd.optim.transforms import Optimizer
    from specgd.results.result import RunResult


def check_output_dir(out: Path, overwrite: bool = False) -> None:
    """Refuse an output path that cannot be written (see :func:`specgd.errors.check_writable`),
    that is a file, a folder already holding a saved run, or a results store or a folder inside
    one (a run saved there would be taken for a damaged run file)."""
    # lazy: results loads pandas, which parsing a config does not need
    from specgd.results.result import check_run_folder
    from specgd.results.store import store_root_of

    check_writable(out, "out")
    inside = store_root_of(out)
    if inside is not None:
        where = "is a results store" if inside == Path(out) else f"is inside the results store {inside}"
        raise ConfigError(f"out: {out} {where}; save runs outside stores")
    try:
        check_run_folder(out, overwrite)
    except FileExistsError as e:
        raise ConfigError(f"out: {e}") from None


@dataclass(frozen=True)
class Job:
    """A configuration turned into the runner's arguments (once), with where the run is saved and
    what its manifest records: handed down to the runner and the results, nothing asked back."""

    problem: Problem
    optimizer: Optimizer
    init: Any
    kwargs: dict[str, Any]
    out: Path | None = None  # None: not saved
    run_config: dict[str, Any] | None = None  # the manifest's run_config, arrays named by content
    arrays: dict[str, Any] = field(default_factory=dict)  # those arrays, by name


def prepare(cfg: RunConfig, save: bool, overwrite: bool = False, force: bool = False) -> Job:
    """Every check of the configuration, the library and (with ``save``) the output folder, and
    the runner's arguments: :class:`ConfigError` (naming the source) before anything runs."""
    problem, optimizer, init, kwargs = cfg.build(force=force)
    if not save:
        return Job(problem, optimizer, init, kwargs)
    out = cfg.output_dir()
    try:
        # the configuration's own work first (its arrays, read by build, named by content), then
        # the folder it is saved to
        data, arrays = content_addressed(cfg.to_dict(), cfg.base_dir)
        check_output_dir(out, overwrite)
    except ConfigError as e:
        raise type(e)(cfg.label(str(e))) from None
    data.pop("out", None)
    return Job(problem, optimizer, init, kwargs, out, data, arrays)


def run_job(job: Job, progress: bool | None = None, overwrite: bool = False,
            force: bool = False) -> RunResult:
    """Run ``job`` and, when it names a folder, save it there (held while it computes)."""
    # lazy: the registries import JAX; a TOML file is checked without them until it is built
    from specgd.results.io import save_arrays
    from specgd.results.result import claimed
    from specgd.runner import run as runner

    if job.out is None:
        return runner.run(job.problem, job.optimizer, init=job.init, progress=progress, **job.kwargs)
    with claimed(job.out):  # a second run into this folder is refused before it computes
        result = runner.run(job.problem, job.optimizer, init=job.init, progress=progress, force=force,
                            **job.kwargs)
        result.meta["run_config"] = job.run_config
        save_arrays(job.out, job.arrays)
        result.save(job.out, overwrite=overwrite)
    return result


def execute(cfg: RunConfig, progress: bool | None = None, overwrite: bool = False,
            force: bool = False) -> RunResult:
    """Build and check everything, run, and save ``metrics.parquet`` + ``manifest.json`` to
    ``cfg.out``. Invalid input, an output folder that cannot be written (or that another run is
    writing to) and a run too large for the machine (unless ``force``) raise
    :class:`ConfigError` before anything runs or is written.

    The manifest records the configuration under ``run_config``, with the arrays read from files
    copied beside the results (``arrays/<sha256>.npy``), so that ``specgd run --config
    OUT/manifest.json`` (or :func:`rerun`) runs it again, bit for bit."""
    job = prepare(cfg, save=True, overwrite=overwrite, force=force)
    return run_job(job, progress=progress, overwrite=overwrite, force=force)


def rerun(path: str | Path, out: str | Path | None = None, progress: bool | None = False,
          overwrite: bool = False) -> RunResult:
    """Run again the run recorded at ``path``: a saved run (its folder or ``manifest.json``) or
    a results store's run file (``runs/<hash>.parquet``). With the same versions of the packages
    the numbers are the same, bit for bit; ``out`` also saves the new run there.

    Raises :class:`ConfigError` when ``path`` records no configuration (a run of an optimizer or
    a covariance that no configuration can name, for instance)."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    data, base_dir = read_config(path)
    if out is not None:
        data = {**data, "out": str(out)}
    cfg = RunConfig.from_dict(data, source=str(path), base_dir=base_dir)
    return run_job(prepare(cfg, save=out is not None, overwrite=overwrite), progress=progress,
                   overwrite=overwrite)


def run_config_of(config: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The configuration table that reruns a result of :func:`specgd.run` (its ``config``), or
    ``None`` and the reason when no configuration describes the run (several problems in one
    call, an optimizer, covariance or initialization that has no name in the registries...).
    Arrays are named by content, ``arrays/<sha256>.npy`` (the result saves them there)."""
    # lazy: the registries import JAX; a TOML file is checked without them until it is built
    from specgd.data.covariance import FAMILIES
    from specgd.model.init import INIT_KINDS, init_parameters

    problem, opt, init = config.get("problem"), config.get("optimizer"), config.get("init")
    if not isinstance(problem, Mapping):
        return None, "several problems in one call: a configuration describes one problem"
    cov = dict(problem.get("cov") or {})
    family = FAMILIES.get(cov.get("family"))
    kind = (init or {}).get("kind")
    if family is None or kind not in INIT_KINDS:
        return None, f"covariance {cov.get('family')!r} or initialization {kind!r} has no name"
    cov = {k: v for k, v in cov.items() if k == "family" or k in family.parameter_names()}
    if isinstance(cov.get("matrix"), str):  # a large dense matrix, recorded by its digest
        cov["matrix"] = f"{ARRAYS}/{problem['cov'].get('matrix_sha256')}.npy"
    prob = {k: problem[k] for k in keys_at(("problem",)) if problem.get(k) is not None and k != "cov"}
    if problem.get("problem_seed") is not None:
        prob["seed"] = problem["problem_seed"]
    init_table = {k: init[k] for k in init_parameters(kind) if init.get(k) is not None}
    if kind == "array":
        init_table["array"] = f"{ARRAYS}/{init.get('sha256')}.npy"
    data = {"problem": {**prob, "cov": cov}, "optimizer": dict(opt or {}),
            "init": {"kind": kind, **init_table},
            **{o.config_key: config[o.config_key] for o in run_options()
               if config.get(o.config_key) is not None}}
    try:
        RunConfig.from_dict(data)
    except ConfigError as e:
        return None, f"no configuration describes it ({e})"
    return data, ""


__all__ = ["Job", "check_output_dir", "execute", "prepare", "rerun", "run_config_of", "run_job"]
