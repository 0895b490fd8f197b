"""Run the experiment suite and write the reproduction report.

Outputs in the report folder: one PNG and one Parquet per figure, one record per experiment
(``experiments/<key>.json``: its claims, figure names and captions, summary, seconds, build time
and mode; ``experiments/headline.json`` for the headline figure), ``claims.json``, ``report.md``
and a self-contained ``report.html`` (figures embedded, opens from disk). Every file is written
atomically, so an interrupted build never leaves a half-written file.

A build of some experiments into a folder that already holds a report updates it: the report is
rendered from every record present, so experiments not rebuilt keep their claims and figures.
Records built in the other mode (quick or full) are left out of the report, with a message, and
kept on disk. The layout is documented in ``docs/report.md#layout``.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt

from specgd.report import headline
from specgd.report.claims import ExperimentOutput, Figure, count_verdicts, format_counts
from specgd.report.experiment import Context, registered
from specgd.report.experiments import EXPERIMENTS as _SUITE  # noqa: F401  (registers E1…E9)
from specgd.report.papers import assess
from specgd.report.render import (
    Record,
    Report,
    claims_json,
    claims_table_md,
    render_html,
    render_markdown,
)
from specgd.results.io import atomic_write, write_json
from specgd.results.result import versions

__all__ = ["BuildInterrupted", "build", "claims_table_md", "load_records", "resolve", "save_output",
           "write_outputs",
           "write_report"]

RECORDS = "experiments"
HEADLINE = "headline"


def resolve(keys: Sequence[str] | None) -> list[str]:
    """Experiment keys in suite order (:func:`specgd.report.experiment.registered`); unknown keys
    raise a clear error before anything runs."""
    suite = registered()
    if not keys:
        return list(suite)
    wanted = [k.upper() for k in keys]
    unknown = [k for k in wanted if k not in suite]
    if unknown:
        raise ValueError(f"unknown experiment(s) {unknown}; choose from {list(suite)}")
    return [k for k in suite if k in wanted]


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def build(
    out: str | Path,
    keys: Sequence[str] | None = None,
    quick: bool = False,
    log: Callable[[str], None] = print,
) -> list[ExperimentOutput]:
    """Run the chosen experiments (all by default) and write the report into ``out``.

    The headline figure is rebuilt with every build that includes E1 (the whole suite by
    default); other builds keep the stored one. Grid experiments keep their runs in a results
    store under ``out/stores/``: a rebuilt report reuses every run already stored there instead
    of computing it again. Returns the outputs of the experiments run by this call.

    Ctrl-C (a ``KeyboardInterrupt`` from a run, or a sweep's ``SweepInterrupted``) stops
    the build at once: nothing of the experiment being built is written (no claim comes from a
    part of its runs), the report is rewritten from the finished experiments and says which one
    was interrupted and which are missing, and :class:`BuildInterrupted` is raised."""
    chosen = resolve(keys)
    suite = registered()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rebuilt: list[str] = []
    results: list[ExperimentOutput] = []
    building = HEADLINE
    try:
        if "E1" in chosen or set(chosen) == set(suite):
            _build_headline(out, quick, log)
            rebuilt.append(HEADLINE)
            building = "the report"
        for key in chosen:
            building = key
            results.append(_build_one(out, key, suite[key], quick, log))
            rebuilt.append(key)
            building = "the report"
            # The report is rewritten after every experiment: an interrupted build leaves a
            # report of everything finished so far.
            write_report(out, quick, rebuilt, time.perf_counter() - started, log=lambda _msg: None)
    except KeyboardInterrupt as err:  # Ctrl-C, in a run or a sweep: nothing of `building` is kept
        raise BuildInterrupted(building, rebuilt, _report_after_interrupt(
            out, quick, rebuilt, time.perf_counter() - started, building)) from err
    report = write_report(out, quick, rebuilt, time.perf_counter() - started, log=log)
    log(f"report: {out / 'report.html'} ({report.seconds:.1f} s); "
        f"{len(report.claims)} claims: {format_counts(count_verdicts(report.claims))}")
    return results


class BuildInterrupted(KeyboardInterrupt):
    """A build stopped by Ctrl-C. ``building``: the experiment it was building (``"headline"``
    for the headline figure), of which nothing is kept; ``finished``: what this invocation
    finished; ``report``: the report rewritten from the records present (None when there were
    none, so no report exists)."""

    def __init__(self, building: str, finished: list[str], report: Path | None):
        super().__init__(f"interrupted while building {building}")
        self.building, self.finished, self.report = building, list(finished), report


def _report_after_interrupt(out: Path, quick: bool, rebuilt: list[str], seconds: float,
                            building: str) -> Path | None:
    """Rewrite the report, saying which experiment was interrupted and which are missing; None
    when no record exists (then no report is written)."""
    if not any(r.quick == quick for r in load_records(out, lambda _msg: None).values()):
        return None
    write_report(out, quick, rebuilt, seconds, log=lambda _msg: None,
                 interrupted="" if building == "the report" else building)
    return out / "report.html"


def _build_headline(out: Path, quick: bool, log: Callable[[str], None]) -> None:
    log("[headline] GD vs SpecGD on one problem ...")
    t0 = time.perf_counter()
    fig = headline.run(quick=quick)
    seconds = time.perf_counter() - t0
    head = ExperimentOutput(HEADLINE, "GD vs SpecGD on one problem", "", [fig], [],
                            getattr(fig, "params", {}), seconds)
    save_output(out, head, quick)
    log(f"[headline] done in {seconds:.1f} s")


def _build_one(out: Path, key: str, experiment, quick: bool, log: Callable[[str], None]
               ) -> ExperimentOutput:
    log(f"[{key}] {experiment.title} ...")
    t0 = time.perf_counter()
    # grid experiments keep their runs here, so that a rebuilt report reuses them
    store = out / "stores" / (f"{key}-quick" if quick else key)
    result = experiment(Context(quick=quick, store=store))
    result.seconds = time.perf_counter() - t0
    save_output(out, result, quick)
    verdicts = ", ".join(f"{c.verdict}" for c in result.claims)
    log(f"[{key}] done in {result.seconds:.1f} s; claims: {verdicts or 'none'}")
    return result


def save_output(out: Path, result: ExperimentOutput, quick: bool) -> Record:
    """Write an experiment's figures (PNG + Parquet) and its record into the report folder."""
    out = Path(out)
    for fig in result.figures:
        _write_figure(out, fig)
        plt.close(fig.figure)
    record = Record.from_output(result, quick, _now(), versions())
    write_json(out / RECORDS / f"{result.key}.json", record.to_json())
    return record


def _write_figure(out: Path, fig: Figure) -> None:
    atomic_write(out / f"{fig.name}.png", lambda p: fig.figure.savefig(p, dpi=110, format="png"))
    atomic_write(out / f"{fig.name}.parquet", lambda p: fig.data.to_parquet(p, index=False))


def load_records(out: str | Path, log: Callable[[str], None] = print) -> dict[str, Record]:
    """Every record in the report folder, by key (an unreadable record is skipped, with a message)."""
    records = {}
    for path in sorted((Path(out) / RECORDS).glob("*.json")):
        try:
            record = Record.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as err:
            log(f"report: skipping unreadable record {path} ({err})")
            continue
        records[record.key] = record
    return records


def _order(key: str) -> tuple[int, str]:
    suite = list(registered())
    return (suite.index(key) if key in suite else len(suite), key)


def write_report(out: str | Path, quick: bool, rebuilt: Sequence[str] = (), seconds: float = 0.0,
                 log: Callable[[str], None] = print, interrupted: str = "") -> Report:
    """Render ``report.md``, ``report.html`` and ``claims.json`` from the records in ``out``.

    Records built in the other mode are left out with a message (their files stay); ``rebuilt``
    names the keys this invocation built, ``seconds`` its wall time so far; ``interrupted`` the
    experiment a Ctrl-C stopped (the report says so)."""
    out = Path(out)
    records = load_records(out, log)
    shown = {k: r for k, r in records.items() if r.quick == quick}
    left_out = sorted((r for r in records.values() if r.quick != quick), key=lambda r: _order(r.key))
    if left_out:
        other = "full" if quick else "quick"
        log(f"report: leaving out {', '.join(r.key for r in left_out)} (built in {other} mode; "
            f"this report is {'quick' if quick else 'full'}); their records are kept in {out / RECORDS}")
    headline = shown.pop(HEADLINE, None)
    experiments = sorted(shown.values(), key=lambda r: _order(r.key))
    claims = [c for r in experiments for c in r.claims]
    report = Report(
        records=experiments, headline=headline, papers=assess(claims), quick=quick, created=_now(),
        rebuilt=list(rebuilt), seconds=float(seconds), versions=versions(),
        missing=[k for k in registered() if k not in shown],
        left_out=[r for r in left_out if r.key != HEADLINE], interrupted=interrupted)
    write_json(out / "claims.json", claims_json(report))
    md = render_markdown(report)
    atomic_write(out / "report.md", lambda p: p.write_text(md, encoding="utf-8"))
    page = render_html(report, out)
    atomic_write(out / "report.html", lambda p: p.write_text(page, encoding="utf-8"))
    return report


def write_outputs(out: str | Path, results: Sequence[ExperimentOutput], quick: bool = False,
                  headline: Figure | None = None, log: Callable[[str], None] = print) -> Report:
    """Write already computed experiment outputs (and optionally a headline figure) into ``out``
    and render the report from every record there: the report without running the suite."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rebuilt = []
    if headline is not None:
        save_output(out, ExperimentOutput(HEADLINE, "GD vs SpecGD on one problem", "", [headline],
                                          [], getattr(headline, "params", {}), float("nan")), quick)
        rebuilt.append(HEADLINE)
    for result in results:
        save_output(out, result, quick)
        rebuilt.append(result.key)
    return write_report(out, quick, rebuilt, 0.0, log)
