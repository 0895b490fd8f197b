"""Run the experiment suite and write the reproduction report; or redo it from cached frames.

Outputs in the report folder: one PNG and one Parquet per figure, one record per experiment
(``experiments/<key>.json``: its claims, figure names and captions, summary, seconds, build time
and mode; ``experiments/headline.json`` for the headline figure), each experiment's measured
frames (``frames/<key>/``), ``claims.json``, ``report.md`` and a self-contained ``report.html``
(figures embedded, opens from disk). Every file is written atomically, so an interrupted build
never leaves a half-written file.

A build of some experiments into a folder that already holds a report updates it: the report is
rendered from every record present, so experiments not rebuilt keep their claims and figures.
Records built in the other mode (quick or full) are left out of the report, with a message, and
kept on disk. :func:`rerender` redoes claims, figures and the report from the cached frames,
without simulating. The layout is documented in ``docs/report.md#layout``. Writing the folder's
files (records, figures, the report) is :mod:`specgd.report.write`; its functions are named here
too.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from specgd.errors import ConfigError
from specgd.report import frames as cache
from specgd.report.claims import count_verdicts, format_counts
from specgd.report.experiment import Context, ExperimentOutput, registered
from specgd.report.experiments import EXPERIMENTS as _SUITE  # registers the suite
from specgd.report.headline import HEADLINE_EXPERIMENT
from specgd.report.model import HEADLINE, Report
from specgd.report.write import (
    RECORDS,
    Log,
    load_records,
    now,
    save_output,
    write_outputs,
    write_report,
)
from specgd.results.io import atomic_write

__all__ = ["RECORDS", "BuildFailed", "BuildInterrupted", "build", "error_file", "load_records", "rerender",
           "resolve", "save_output", "write_outputs", "write_report"]

ERRORS = "errors"  # errors/<key>.txt: the traceback of an experiment that failed, until it builds
RERENDER_NOTE = "measured and cached; `specgd reproduce --rerender` judges and draws it again from"


def resolve(keys: Sequence[str] | None) -> list[str]:
    """Experiment keys in suite order (:func:`specgd.report.experiment.registered`); unknown keys
    raise a clear error before anything runs. ``headline`` names the headline figure (not an
    experiment: it is left out of the list)."""
    suite = registered()
    if not keys:
        return list(suite)
    wanted = [k.upper() for k in keys if k.lower() != HEADLINE]
    unknown = [k for k in wanted if k not in suite]
    if unknown:
        raise ValueError(f"unknown experiment(s) {unknown}; choose from {list(suite)} or headline")
    return [k for k in suite if k in wanted]


def _wants_headline(out: Path, keys: Sequence[str] | None, chosen: list[str], quick: bool) -> bool:
    """The headline figure is built by a build of the whole suite, when asked for (``headline``
    among the keys), and by a build of E1 into a folder whose report has none in this mode."""
    if not keys or any(k.lower() == HEADLINE for k in keys):
        return True
    if "E1" not in chosen:
        return False
    record = load_records(out, log=lambda _m: None).get(HEADLINE)
    return record is None or record.quick != quick


def _cached_headline(out: Path, keys: Sequence[str] | None, quick: bool,
                     params: dict[str, Any] | None) -> cache.Cached | None:
    """The headline's frames in this mode when the figure is only missing (not asked for, not a
    whole-suite build, no parameters given): it is then drawn from them, not measured again."""
    if not keys or any(k.lower() == HEADLINE for k in keys) or HEADLINE in (params or {}):
        return None
    stored = cache.load(out, HEADLINE)
    return stored if stored is not None and stored.quick == quick else None


def build(out: str | Path, keys: Sequence[str] | None = None, quick: bool = False,
          log: Log = print, params: dict[str, Any] | None = None) -> list[ExperimentOutput]:
    """Run the chosen experiments (all by default) and write the report into ``out``.

    Grid experiments keep their runs in a results store under ``out/stores/``: a rebuilt report
    reuses every run already stored there. ``params`` maps a key to the parameters to run it at
    instead of its preset. Returns the outputs of the experiments run by this call.

    Ctrl-C (a ``KeyboardInterrupt`` from a run, or a sweep's ``SweepInterrupted``) stops the
    build at once: nothing of the experiment being built is written (no claim comes from a part
    of its runs), the report is rewritten from the finished experiments and says which one was
    interrupted and which are missing, and :class:`BuildInterrupted` is raised."""
    chosen = resolve(keys)
    suite = registered()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rebuilt: list[str] = []
    results: list[ExperimentOutput] = []
    failed: dict[str, str] = {}  # key → its error in one line
    jobs = [(HEADLINE_EXPERIMENT, "[headline]")] if _wants_headline(out, keys, chosen, quick) else []
    jobs += [(suite[key], f"[{key}]") for key in chosen]
    building = "the report"
    try:
        for experiment, tag in jobs:
            building = experiment.key
            log(f"{tag} {experiment.title} ...")
            stored = _cached_headline(out, keys, quick, params) if experiment.key == HEADLINE else None
            if stored is not None:
                _render_cached(out, experiment, stored)
                rebuilt.append(HEADLINE)
                building = "the report"
                log(f"{tag} drawn from its cached frames (built {stored.built_at})")
                continue
            p = (params or {}).get(experiment.key) or experiment.preset(quick)
            # grid experiments keep their runs here, so that a rebuilt report reuses them
            store = out / "stores" / (f"{experiment.key}-quick" if quick else experiment.key)
            t0 = time.perf_counter()
            try:
                result = _build_one(out, experiment, p, Context(quick=quick, store=store), quick)
            except ConfigError:  # a refusal (a run too large for this machine...): the user's call
                raise
            except Exception as err:  # noqa: BLE001 - any error of one experiment: the rest go on
                failed[experiment.key] = _record_failure(out, experiment.key, err)
                building = "the report"
                notes = "; ".join(getattr(err, "__notes__", [])) or "nothing of it was written"
                log(f"{tag} FAILED after {time.perf_counter() - t0:.1f} s: "
                    f"{failed[experiment.key]} (traceback: {error_file(out, experiment.key)}); "
                    f"{notes}; the build goes on")
                continue
            error_file(out, experiment.key).unlink(missing_ok=True)
            rebuilt.append(experiment.key)
            building = "the report"
            if experiment.key == HEADLINE:
                log(f"{tag} done in {result.seconds:.1f} s")
                continue
            results.append(result)
            log(f"{tag} done in {result.seconds:.1f} s; claims: "
                f"{', '.join(c.verdict for c in result.claims) or 'none'}")
            # The report is rewritten after every experiment: an interrupted build leaves a report
            # of everything finished so far.
            write_report(out, quick, rebuilt, time.perf_counter() - started, log=lambda _msg: None,
                         failed=failed)
    except KeyboardInterrupt as err:  # Ctrl-C, in a run or a sweep: nothing of `building` is kept
        raise BuildInterrupted(building, rebuilt, _report_after_interrupt(
            out, quick, rebuilt, time.perf_counter() - started, building, failed)) from err
    report = write_report(out, quick, rebuilt, time.perf_counter() - started, log=log, failed=failed)
    log(f"report: {out / 'report.html'} ({report.seconds:.1f} s); "
        f"{len(report.claims)} claims: {format_counts(count_verdicts(report.claims))}")
    if failed:
        raise BuildFailed(failed, out / "report.html", results)
    return results


class BuildFailed(RuntimeError):
    """A build in which experiments raised errors. Each was skipped (nothing of it written; its
    traceback is in ``errors/<key>.txt``), the others were built and the report written, saying
    which failed. ``failed``: key → the error in one line; ``report``: the report's path;
    ``results``: the outputs of the experiments that were built."""

    def __init__(self, failed: dict[str, str], report: Path, results: list[ExperimentOutput]):
        super().__init__("; ".join(f"{key} failed: {why}" for key, why in failed.items()))
        self.failed, self.report, self.results = dict(failed), report, results


def error_file(out: str | Path, key: str) -> Path:
    """Where the traceback of experiment ``key`` that failed is kept: ``errors/<key>.txt``."""
    return Path(out) / ERRORS / f"{key}.txt"


def _record_failure(out: Path, key: str, err: BaseException) -> str:
    """Write ``err``'s traceback to ``errors/<key>.txt``; the error in one line."""
    text = "".join(traceback.format_exception(err))
    atomic_write(error_file(out, key), lambda p: p.write_text(text, encoding="utf-8"))
    line = f"{type(err).__name__}: {err}".splitlines()[0]
    return line if len(line) <= 300 else line[:299] + "…"


class BuildInterrupted(KeyboardInterrupt):
    """A build stopped by Ctrl-C. ``building``: the experiment it was building (``"headline"``
    for the headline figure), of which nothing is kept; ``finished``: what this invocation
    finished; ``report``: the report rewritten from the records present (None when there were
    none, so no report exists)."""

    def __init__(self, building: str, finished: list[str], report: Path | None):
        super().__init__(f"interrupted while building {building}")
        self.building, self.finished, self.report = building, list(finished), report


def _report_after_interrupt(out: Path, quick: bool, rebuilt: list[str], seconds: float,
                            building: str, failed: dict[str, str]) -> Path | None:
    """Rewrite the report, saying which experiment was interrupted and which are missing; None
    when no record exists (then no report is written)."""
    if not any(r.quick == quick for r in load_records(out, lambda _msg: None).values()):
        return None
    write_report(out, quick, rebuilt, seconds, log=lambda _msg: None,
                 interrupted="" if building == "the report" else building, failed=failed)
    return out / "report.html"


def _build_one(out: Path, experiment: Any, p: Any, ctx: Context, quick: bool) -> ExperimentOutput:
    """Measure (and store the frames), then judge and draw from the stored frames; a legacy
    experiment does all of it in its own run."""
    t0 = time.perf_counter()
    if not experiment.cached:
        result = experiment.run(p, ctx)
        # recorded under the key it is registered by (a plug-in may wrap a suite experiment's code)
        result.key = experiment.key
        result.seconds = time.perf_counter() - t0
        save_output(out, result, quick)
        return result
    measured = experiment.measure(p, ctx)
    seconds = time.perf_counter() - t0
    cache.save(out, experiment.key, p, quick, now(), seconds, measured)
    stored = cache.load(out, experiment.key)
    again = cache.params_from_json(experiment.params, stored.params)
    if again != p:
        raise ValueError(f"{experiment.key}: its parameters do not survive JSON ({p!r} came back "
                         f"as {again!r}); give Params fields JSON-plain values")
    try:
        return _render_cached(out, experiment, stored)
    except Exception as err:
        err.add_note(f"{RERENDER_NOTE} {out / 'frames' / experiment.key}")
        raise


def _render_cached(out: Path, experiment: Any, stored: cache.Cached) -> ExperimentOutput:
    """Claims and figures from an experiment's cached frames, written into the report folder."""
    p = cache.params_from_json(experiment.params, stored.params)
    result = experiment.judge(p, stored.frames, stored.seconds)
    save_output(out, result, stored.quick, built_at=stored.built_at)
    return result


def rerender(out: str | Path, keys: Sequence[str] | None = None, quick: bool | None = None,
             log: Log = print, workers: int | None = 1) -> Report:
    """Redo claims, figures and the report from the frames cached in ``out``, without
    simulating; ``quick`` None takes the mode of the report there. Experiments without cached
    frames in this mode (legacy ones, or never built) keep their records and figures as they are.

    ``workers``: how many processes draw the suite's experiments (None: one per core; 1: this
    process alone, the default). Workers are spawned, so a script that asks for more than one
    must keep its own work under ``if __name__ == "__main__":`` (``specgd reproduce --rerender``
    uses one per core)."""
    out = Path(out)
    chosen = resolve(keys)
    if quick is None:
        quick = _report_mode(out)
    suite = registered()
    started = time.perf_counter()
    done, kept = [], []
    wanted = [HEADLINE_EXPERIMENT] if not keys or any(k.lower() == HEADLINE for k in keys) else []
    shown = {k for k, r in load_records(out, log=lambda _m: None).items() if r.quick == quick}
    for experiment in wanted + [suite[k] for k in chosen]:
        if not experiment.cached or cache.cached_mode(out, experiment.key) != quick:
            if experiment.key in shown:  # built, but without frames in this mode: as it was
                kept.append(experiment.key)
            continue
        done.append(experiment)
    _render_all(out, done, workers)
    done = [experiment.key for experiment in done]
    report = write_report(out, quick, done, time.perf_counter() - started, log=log, rerender=True)
    log(f"rerender: {', '.join(done) or 'nothing'} redone from cached frames in {report.seconds:.1f} s, "
        "without simulating" + (f"; kept as built (no cached frames in {report.mode} mode): "
                                f"{', '.join(kept)}" if kept else "") + ".")
    log(f"report: {out / 'report.html'}; {len(report.claims)} claims: "
        f"{format_counts(count_verdicts(report.claims))}")
    return report


def _render_all(out: Path, experiments: Sequence[Any], workers: int | None = 1) -> None:
    """Claims and figures of ``experiments`` from their cached frames. Drawing is most of a
    re-render, so with ``workers`` > 1 (None: one per core) the suite's experiments are drawn in
    worker processes (each writes its own files, atomically); an experiment registered only in
    this process (a plug-in) is drawn here."""
    in_suite = {HEADLINE_EXPERIMENT.key: HEADLINE_EXPERIMENT,
                **{key: module.EXPERIMENT for key, module in _SUITE.items()}}
    local = [e for e in experiments if in_suite.get(e.key) is not e]
    remote = [e.key for e in experiments if in_suite.get(e.key) is e]
    workers = min(len(remote), len(os.sched_getaffinity(0)) if workers is None else workers)
    if workers < 2:
        local, remote = list(experiments), []
    for experiment in local:
        _render_cached(out, experiment, cache.load(out, experiment.key))
    if remote:
        _draw_in_workers(out, remote, workers)


def _spawn_pool(workers: int) -> Any:
    """Worker processes that ignore Ctrl-C: a terminal's Ctrl-C reaches the whole process group,
    and the calling process takes it and stops them (each would otherwise print a traceback).
    They are started with SIGINT ignored, which they inherit, so that they ignore it from their
    first instruction on (a Ctrl-C in the milliseconds it takes to start them is lost). Spawned,
    not forked: this process may hold JAX's threads, which a fork does not carry over."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return multiprocessing.get_context("spawn").Pool(workers, initializer=_ignore_interrupts)
    finally:
        signal.signal(signal.SIGINT, previous)


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a worker that replaces one that died, too


def _draw_in_workers(out: Path, keys: list[str], workers: int) -> None:
    """Draw the suite experiments ``keys`` in ``workers`` processes; on Ctrl-C (or an error) they
    are stopped at once and the exception goes on."""
    pool = _spawn_pool(workers)
    try:
        pool.starmap(_render_in_worker, [(str(out), key) for key in keys], chunksize=1)
    except BaseException as err:
        pool.terminate()
        pool.join()
        # Its queues' semaphores are released when it is collected (after an interrupt the program
        # ends without the interpreter's teardown, and the tracker would warn of them): the
        # pool's own frames are dropped from the traceback, which held it.
        err.__traceback__ = None
        del pool
        gc.collect()
        raise err from err.__cause__
    pool.close()
    pool.join()


def _render_in_worker(out: str, key: str) -> None:
    """Draw one suite experiment (or the headline) from its cached frames, in a worker process."""
    experiment = HEADLINE_EXPERIMENT if key == HEADLINE_EXPERIMENT.key else registered()[key]
    _render_cached(Path(out), experiment, cache.load(Path(out), key))


def _report_mode(out: Path) -> bool:
    """Whether the report in ``out`` is a quick one (ValueError when there is none)."""
    try:
        return bool(json.loads((out / "claims.json").read_text())["quick"])
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"--out {out}: no report to re-render there (claims.json: {err}); "
                         "build it first with `specgd reproduce --out DIR`") from None
