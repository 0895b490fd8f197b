"""Run the experiment suite and write the reproduction report.

Outputs in the report folder: one PNG and one Parquet per figure, ``claims.json``, ``report.md``
and a self-contained ``report.html`` (figures embedded, opens from disk). Every file is written
atomically, so an interrupted build never leaves a half-written file.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import inspect
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from specgd.report.claims import Claim, ExperimentOutput
from specgd.report.experiments import EXPERIMENTS
from specgd.results.io import atomic_write, write_json
from specgd.results.result import versions


def resolve(keys: Sequence[str] | None) -> list[str]:
    """Experiment keys in suite order; unknown keys raise a clear error before anything runs."""
    if not keys:
        return list(EXPERIMENTS)
    wanted = [k.upper() for k in keys]
    unknown = [k for k in wanted if k not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"unknown experiment(s) {unknown}; choose from {list(EXPERIMENTS)}")
    return [k for k in EXPERIMENTS if k in wanted]


def build(
    out: str | Path,
    keys: Sequence[str] | None = None,
    quick: bool = False,
    log: Callable[[str], None] = print,
) -> list[ExperimentOutput]:
    """Run the chosen experiments (all by default) and write the report into ``out``.

    Grid experiments keep their runs in a results store under ``out/stores/``: a rebuilt report
    reuses every run already stored there instead of computing it again."""
    chosen = resolve(keys)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: list[ExperimentOutput] = []
    for key in chosen:
        module = EXPERIMENTS[key]
        log(f"[{key}] {module.TITLE} ...")
        t0 = time.perf_counter()
        kwargs = {}
        if "store" in inspect.signature(module.run).parameters:  # grid experiments keep a store
            kwargs["store"] = out / "stores" / (f"{key}-quick" if quick else key)
        result = module.run(quick=quick, **kwargs)
        result.seconds = time.perf_counter() - t0
        _write_figures(out, result)
        results.append(result)
        verdicts = ", ".join(f"{c.verdict}" for c in result.claims)
        log(f"[{key}] done in {result.seconds:.1f} s; claims: {verdicts or 'none'}")
    total = time.perf_counter() - started
    meta = {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "experiments": chosen,
        "seconds": total,
        "versions": versions(),
    }
    claims = [c for r in results for c in r.claims]
    write_json(out / "claims.json", {**meta, "claims": [c.to_json() for c in claims]})
    md = render_markdown(results, meta)
    atomic_write(out / "report.md", lambda p: p.write_text(md))
    page = render_html(results, meta, out)
    atomic_write(out / "report.html", lambda p: p.write_text(page))
    log(f"report: {out / 'report.html'} ({total:.1f} s)")
    return results


def _write_figures(out: Path, result: ExperimentOutput) -> None:
    import matplotlib.pyplot as plt

    for fig in result.figures:
        atomic_write(out / f"{fig.name}.png", lambda p, f=fig: f.figure.savefig(p, dpi=110, format="png"))
        atomic_write(out / f"{fig.name}.parquet", lambda p, f=fig: f.data.to_parquet(p, index=False))
        plt.close(fig.figure)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def claims_table_md(claims: Sequence[Claim]) -> str:
    rows = ["| claim | measured | predicted | tolerance | verdict |", "|---|---|---|---|---|"]
    for c in claims:
        text = f"**{c.id}** {c.text}" + (f" ({c.source})" if c.source else "")
        rows.append(
            f"| {text} | {_fmt(c.measured)} | {_fmt(c.predicted)} | {c.tolerance} | {c.verdict} |"
        )
    return "\n".join(rows)


def render_markdown(results: Sequence[ExperimentOutput], meta: dict[str, Any]) -> str:
    claims = [c for r in results for c in r.claims]
    counts = {v: sum(c.verdict == v for c in claims) for v in ("PASS", "FAIL", "INFO")}
    lines = [
        "# specgd reproduction report",
        "",
        f"Built {meta['created']} in {meta['seconds']:.0f} s"
        + (" (quick mode: reduced sizes)" if meta["quick"] else "")
        + f"; specgd {meta['versions'].get('specgd')}, jax {meta['versions'].get('jax')}.",
        "",
        f"**Claims: {counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['INFO']} INFO.**",
        "",
        claims_table_md(claims),
        "",
    ]
    for r in results:
        lines += [f"## {r.key}: {r.title}", "", r.summary, "", f"_Wall time: {r.seconds:.1f} s._", ""]
        for f in r.figures:
            lines += [f"![{f.name}]({f.name}.png)", "", f"*{f.caption}* Data: `{f.name}.parquet`.", ""]
        if r.claims:
            lines += [claims_table_md(r.claims), ""]
        for c in r.claims:
            if c.note:
                lines += [f"- **{c.id}**: {c.note}"]
        lines.append("")
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em;width:100%}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3} .PASS{color:#116611;font-weight:bold} .FAIL{color:#b00000;font-weight:bold}
.INFO{color:#555;font-weight:bold} figure{margin:1.5em 0} img{max-width:100%;border:1px solid #eee}
figcaption{font-size:0.9em;color:#444} code{background:#f5f5f5;padding:0 3px}
"""


def _claims_table_html(claims: Sequence[Claim]) -> str:
    rows = ["<table><tr><th>claim</th><th>measured</th><th>predicted</th><th>tolerance</th>"
            "<th>verdict</th></tr>"]
    for c in claims:
        src = f" <small>({html.escape(c.source)})</small>" if c.source else ""
        note = f"<br><small>{html.escape(c.note)}</small>" if c.note else ""
        rows.append(
            f"<tr><td><b>{html.escape(c.id)}</b> {html.escape(c.text)}{src}{note}</td>"
            f"<td>{html.escape(_fmt(c.measured))}</td><td>{html.escape(_fmt(c.predicted))}</td>"
            f"<td>{html.escape(c.tolerance)}</td><td class='{c.verdict}'>{c.verdict}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def render_html(results: Sequence[ExperimentOutput], meta: dict[str, Any], out: Path) -> str:
    claims = [c for r in results for c in r.claims]
    counts = {v: sum(c.verdict == v for c in claims) for v in ("PASS", "FAIL", "INFO")}
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>specgd reproduction report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>specgd reproduction report</h1>",
        f"<p>Built {html.escape(meta['created'])} in {meta['seconds']:.0f} s"
        + (" (quick mode: reduced sizes)" if meta["quick"] else "")
        + f"; specgd {meta['versions'].get('specgd')}, jax {meta['versions'].get('jax')}, "
        f"numpy {meta['versions'].get('numpy')}.</p>",
        f"<p><b>Claims: <span class='PASS'>{counts['PASS']} PASS</span>, "
        f"<span class='FAIL'>{counts['FAIL']} FAIL</span>, "
        f"<span class='INFO'>{counts['INFO']} INFO</span>.</b></p>",
        _claims_table_html(claims),
    ]
    for r in results:
        parts += [f"<h2>{html.escape(r.key)}: {html.escape(r.title)}</h2>",
                  f"<p>{html.escape(r.summary)}</p>", f"<p><i>Wall time: {r.seconds:.1f} s.</i></p>"]
        for f in r.figures:
            png = (out / f"{f.name}.png").read_bytes()
            data = base64.b64encode(png).decode()
            parts.append(
                f"<figure><img alt='{html.escape(f.name)}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{html.escape(f.caption)} Data: <code>{html.escape(f.name)}.parquet"
                "</code>.</figcaption></figure>"
            )
        if r.claims:
            parts.append(_claims_table_html(r.claims))
    parts.append("</body></html>")
    return "\n".join(parts)

