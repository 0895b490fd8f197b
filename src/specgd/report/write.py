"""The report folder's files: each experiment's figures and record, and the report rendered
from every record there (``report.md``, ``report.html``, ``claims.json``). Every file is written
atomically. :mod:`specgd.report.build` runs the experiments and calls these."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from specgd.report.docs_pages import ship as ship_docs
from specgd.report.experiment import ExperimentOutput, registered
from specgd.report.headline import HEADLINE_EXPERIMENT
from specgd.report.html import render_html
from specgd.report.markdown import render_markdown
from specgd.report.model import HEADLINE, Record, Report, claims_json
from specgd.report.papers import assess
from specgd.results.io import atomic_write, write_json
from specgd.results.result import versions

__all__ = ["RECORDS", "load_records", "now", "save_output", "write_outputs", "write_report"]

RECORDS = "experiments"
Log = Callable[[str], None]


def now() -> str:
    """The time now, ISO 8601 in UTC, to the second (build times)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def save_output(out: Path, result: ExperimentOutput, quick: bool, built_at: str | None = None) -> Record:
    """Write an experiment's figures (PNG + Parquet) and its record into the report folder: each
    figure is drawn from its data here, written, and closed."""
    out = Path(out)
    for fig in result.figures:
        drawn = fig.draw()
        atomic_write(out / f"{fig.name}.png", lambda p, f=drawn: f.savefig(p, dpi=110, format="png"))
        atomic_write(out / f"{fig.name}.parquet", lambda p, f=fig: f.data.to_parquet(p, index=False))
        plt.close(drawn)
    record = Record.from_output(result, quick, built_at or now(), versions())
    write_json(out / RECORDS / f"{result.key}.json", record.to_json())
    return record


def load_records(out: str | Path, log: Log = print) -> dict[str, Record]:
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
                 log: Log = print, rerender: bool = False, interrupted: str = "",
                 failed: dict[str, str] | None = None) -> Report:
    """Render ``report.md``, ``report.html`` and ``claims.json`` from the records in ``out``.

    Records built in the other mode are left out with a message (their files stay); ``rebuilt``
    names the keys this invocation built (or, with ``rerender``, redid from cached frames),
    ``seconds`` its wall time so far; ``interrupted`` the experiment a Ctrl-C stopped and
    ``failed`` those that raised an error, with the error (the report says so)."""
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
        records=experiments, headline=headline,
        papers=assess(claims, built={r.key: r.quick for r in experiments}), quick=quick,
        created=now(), rebuilt=list(rebuilt), seconds=float(seconds), versions=versions(),
        missing=[k for k in registered() if k not in shown],
        left_out=[r for r in left_out if r.key != HEADLINE], rerender=rerender,
        interrupted=interrupted, failed=dict(failed or {}))
    write_json(out / "claims.json", claims_json(report))
    md = render_markdown(report)
    ship_docs(out, [md])  # the pages its links cite, so that they work wherever out is
    atomic_write(out / "report.md", lambda p: p.write_text(md, encoding="utf-8"))
    page = render_html(report, out)
    atomic_write(out / "report.html", lambda p: p.write_text(page, encoding="utf-8"))
    return report


def write_outputs(out: str | Path, results: Sequence[ExperimentOutput], quick: bool = False,
                  headline: Any = None, log: Log = print) -> Report:
    """Write already computed experiment outputs (and optionally a headline figure) into ``out``
    and render the report from every record there: the report without running the suite."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rebuilt = []
    if headline is not None:
        save_output(out, ExperimentOutput(HEADLINE, HEADLINE_EXPERIMENT.title, "", [headline], []),
                    quick)
        rebuilt.append(HEADLINE)
    for result in results:
        save_output(out, result, quick)
        rebuilt.append(result.key)
    return write_report(out, quick, rebuilt, 0.0, log)
