"""An adversarial probe of the command line, the Python API, SQL and the results store.

Not part of the test suite (it takes several minutes and starts many processes): run it by hand,

    .venv/bin/python tests/probe/reliability_probe.py [--only TEXT] [--json FILE] [--fast]

``--only`` keeps the cases whose id contains TEXT; ``--fast`` leaves out the reproduction and
concurrency cases (the slowest). To probe another checkout with this script, put its ``src`` first
on ``PYTHONPATH``: the command line runs as ``python -m specgd.cli`` in the same environment.

Each case tries one thing a user might do, on purpose or by mistake, and sorts the outcome:

* ``clean``: refused before any work, with a one-line message naming the parameter or path (exit
  status 2 on the command line, :class:`specgd.ConfigError` in Python);
* ``ok``: handled, with the right result (an interrupt exits 130 and writes no partial claims, a
  rerun reproduces bit for bit, a hostile query changes nothing...);
* ``bad``: anything else: a traceback, a silently wrong or partial result, lost work, a hang.

The cases follow the items of the reliability review (1-18, the unclear messages U*, the
reproducibility items R*), with variants. A case whose code belongs to another part of the
project (the atlas, the spectral initialization) is marked so in the table.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(tempfile.mkdtemp(prefix="specgd-probe-"))
PY = sys.executable


def _program() -> list[str]:
    """How to start the command line: ``python -m specgd.cli`` (the ``specgd`` program) where
    the checkout has it, else its module ``specgd.cli.main``."""
    import importlib.util

    has_main = importlib.util.find_spec("specgd.cli.__main__") is not None
    return [PY, "-m", "specgd.cli" if has_main else "specgd.cli.main"]


SPECGD = _program()


@dataclass
class Case:
    id: str
    item: str
    fn: Callable[[], tuple[str, str]]
    slow: bool = False
    owner: str = ""


CASES: list[Case] = []


def case(item: str, slow: bool = False, owner: str = ""):
    def register(fn):
        CASES.append(Case(f"{item}:{fn.__name__}", item, fn, slow, owner))
        return fn
    return register


# --- helpers ----------------------------------------------------------------------------------


def cli(*args, cwd: Path | None = None, timeout: float = 300, env: dict | None = None
        ) -> subprocess.CompletedProcess:
    return subprocess.run([*SPECGD, *map(str, args)], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def refused(proc: subprocess.CompletedProcess, *words: str) -> tuple[str, str]:
    """clean when the command exited 2 with one line 'Error: ...' (naming ``words``)."""
    err = proc.stderr.strip()
    lines = err.splitlines()
    if proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("Error:") \
            and all(w.lower() in err.lower() for w in words):
        return "clean", lines[0][:160]
    return "bad", f"exit {proc.returncode}: {_tail(proc)}"


def _tail(proc) -> str:
    text = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
    return " | ".join(text[-3:])[:240]


def api(fn: Callable[[], object], *words: str, timeout: float = 120) -> tuple[str, str]:
    """clean when ``fn`` raises ConfigError naming ``words`` within ``timeout`` seconds."""
    import specgd as sg

    def alarm(*_):
        raise TimeoutError(f"no answer in {timeout} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(int(timeout))
    try:
        fn()
    except sg.ConfigError as e:
        ok = all(w.lower() in str(e).lower() for w in words)
        return ("clean" if ok else "bad"), f"ConfigError: {str(e)[:160]}"
    except Exception as e:  # noqa: BLE001
        return "bad", f"{type(e).__name__}: {str(e)[:160]}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return "bad", "accepted"


def tree_digest(root: Path) -> str:
    """A digest of every file's name and bytes under ``root``."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def fresh(name: str) -> Path:
    path = ROOT / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def toml(path: Path, data: dict) -> Path:
    import tomli_w

    path.write_text(tomli_w.dumps(data))
    return path


GRID = {
    "base": {"steps": 20, "log_every": 10, "seeds": [0, 1],
             "problem": {"d": 6, "m": 2, "cov": {"family": "spiked", "lam": 4.0}},
             "optimizer": {"name": "gd", "lr": 0.02}},
    "grid": {"problem.cov.lam": [0.0, 8.0], "optimizer.lr": [0.02, 0.5]},
}
RUN = ["run", "--d", 6, "--m", 2, "--optimizer", "gd", "--lr", 0.02, "--steps", 20, "--no-progress"]
_STORE: Path | None = None


def store() -> Path:
    """A copy of a small store (8 runs of GRID), made once."""
    global _STORE
    if _STORE is None:
        where = fresh("base-store")
        grid = toml(where / "grid.toml", GRID)
        proc = cli("sweep", grid, "--out", where / "store", "--workers", 1, "--no-progress")
        assert proc.returncode == 0, proc.stderr
        _STORE = where / "store"
    copy = ROOT / f"store-{time.monotonic_ns()}"
    shutil.copytree(_STORE, copy)
    return copy


# --- 1: Ctrl-C during a reproduction ------------------------------------------------------------


def _reproduce_interrupted(args: list, trigger: Callable[[Path, str], bool], out: Path,
                           limit: float = 240) -> tuple[subprocess.Popen, str, str, float]:
    """Start ``specgd reproduce``, send SIGINT to its process group once ``trigger(out, stdout)``
    holds; return the process, its output and the seconds from SIGINT to exit."""
    proc = subprocess.Popen([*SPECGD, "reproduce", *map(str, args), "--out",
                             str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    os.set_blocking(proc.stdout.fileno(), False)
    seen, start = "", time.monotonic()
    while proc.poll() is None and time.monotonic() - start < limit:
        with contextlib.suppress(TypeError):
            seen += proc.stdout.read() or ""
        if trigger(out, seen):
            break
        time.sleep(0.1)
    sent = time.monotonic()
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    try:
        rest, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        rest, err = proc.communicate()
    return proc, seen + (rest or ""), err or "", time.monotonic() - sent


def _stored_runs(out: Path) -> int:
    return len(list((out / "stores").glob("*/runs/*.parquet")))


def _claims_of(out: Path, key: str) -> list:
    path = out / "claims.json"
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    claims = data.get("claims", data) if isinstance(data, dict) else data
    return [c for c in claims if str(c.get("id", "")).startswith(key)]


def _judge_interrupt(proc, out_text, err, key: str, out: Path) -> tuple[str, str]:
    if proc.returncode != 130:
        return "bad", f"exit {proc.returncode}: {err.strip().splitlines()[-1:] }"
    if "Traceback" in err:
        return "bad", "a traceback"
    if (out / "experiments" / f"{key}.json").exists() or _claims_of(out, key):
        return "bad", f"claims of {key} written from a partial sweep"
    report = out / "report.md"
    if "report" in err.lower() and "holds" in err.lower() and not report.exists():
        return "bad", "the message promises a report that does not exist"
    if report.exists() and key not in report.read_text():
        return "bad", f"the report does not say {key} is missing"
    return "ok", err.strip().splitlines()[-1][:160] if err.strip() else "exit 130"


@case("1", slow=True)
def reproduce_e3_interrupted_mid_sweep():
    out = ROOT / "rep-mid"
    shutil.rmtree(out, ignore_errors=True)
    proc, text, err, _ = _reproduce_interrupted(["E3", "--quick"],
                                                lambda o, s: _stored_runs(o) >= 6, out)
    return _judge_interrupt(proc, text, err, "E3", out)


@case("1", slow=True)
def reproduce_e3_interrupted_early():
    out = ROOT / "rep-early"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.monotonic()
    proc, text, err, _ = _reproduce_interrupted(
        ["E3", "--quick"], lambda o, s: "[E3]" in s and time.monotonic() - t0 > 0, out)
    return _judge_interrupt(proc, text, err, "E3", out)


@case("1", slow=True)
def reproduce_interrupt_stops_the_build():
    out = ROOT / "rep-stop"
    shutil.rmtree(out, ignore_errors=True)
    proc, text, err, _ = _reproduce_interrupted(["E3", "E4", "--quick"],
                                                lambda o, s: _stored_runs(o) >= 4, out)
    if "[E4]" in text:
        return "bad", "the build carried on to E4 after the interrupt"
    return _judge_interrupt(proc, text, err, "E3", out)


@case("1", slow=True)
def reproduce_interrupt_during_headline_acts_fast():
    out = ROOT / "rep-head"
    shutil.rmtree(out, ignore_errors=True)
    seen_at: list[float] = []

    def trigger(o, s):
        if "[headline]" in s and not seen_at:
            seen_at.append(time.monotonic())
        return bool(seen_at) and time.monotonic() - seen_at[0] > 3
    proc, text, err, waited = _reproduce_interrupted(["E1", "--quick"], trigger, out)
    verdict, note = _judge_interrupt(proc, text, err, "E1", out)
    if verdict == "ok" and waited > 10:
        return "bad", f"took {waited:.0f} s to act on Ctrl-C"
    return verdict, f"{note} (acted in {waited:.1f} s)"


@case("1", slow=True)
def reproduce_interrupt_before_any_experiment():
    out = ROOT / "rep-before"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.monotonic()
    proc, text, err, _ = _reproduce_interrupted(["E3", "--quick"],
                                                lambda o, s: time.monotonic() - t0 > 2.5, out)
    if proc.returncode != 130 or "Traceback" in err:
        return "bad", f"exit {proc.returncode}: {err.strip()[-200:]}"
    if ("holds the experiments" in err or "report holds" in err) and not (out / "report.html").exists():
        return "bad", "promises a report that does not exist"
    return "ok", err.strip()[:160]


@case("1", slow=True)
def sweep_ctrl_c_exits_130():
    where = fresh("sweep-int")
    grid = toml(where / "g.toml", {**GRID, "base": {**GRID["base"], "steps": 4000,
                                                  "log_every": 1000}})
    proc = subprocess.Popen([*SPECGD, "sweep", str(grid), "--out",
                             str(where / "s"), "--workers", "1", "--no-progress"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    start = time.monotonic()
    while time.monotonic() - start < 120 and not list((where / "s" / "claims").glob("*.json")):
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    if proc.returncode == 130 and "Traceback" not in err + out:
        return "ok", (out + err).strip().splitlines()[-1][:160]
    return "bad", f"exit {proc.returncode}: {(out + err)[-200:]}"


def _sigint_soon(delay: float):
    import threading
    threading.Timer(delay, lambda: os.kill(os.getpid(), signal.SIGINT)).start()


@case("1")
def api_sweep_interrupt_is_not_silent():
    """sg.sweep interrupted: a KeyboardInterrupt, or a report saying interrupted."""
    import specgd as sg
    where = fresh("api-int")
    grid = {**GRID, "base": {**GRID["base"], "steps": 3000, "log_every": 1000}}
    _sigint_soon(6.0)
    try:
        report = sg.sweep(grid, where / "s", workers=1, progress=False, log=lambda s: None)
    except KeyboardInterrupt:
        return "ok", "KeyboardInterrupt raised"
    if getattr(report, "interrupted", False):
        return "ok", "report.interrupted"
    return "bad", "finished as if not interrupted"


# --- 2: content digests -----------------------------------------------------------------------


def _spd(d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d)) / np.sqrt(d)
    return np.eye(d) + a @ a.T


def _array_grid(where: Path, key: str) -> Path:
    base = {"steps": 20, "log_every": 10, "seeds": [0],
            "problem": {"d": 6, "m": 2, "cov": {"family": "spiked", "lam": 2.0}},
            "optimizer": {"name": "gd", "lr": 0.02}}
    if key == "matrix":
        base["problem"]["cov"] = {"family": "dense", "matrix": str(where / "S.npy")}
    else:
        base["init"] = {"kind": "array", "array": str(where / "W.npy")}
    return toml(where / "grid.toml", {"base": base, "grid": {"optimizer.lr": [0.01, 0.02]}})


def _changed_file_is_recomputed(key: str) -> tuple[str, str]:
    import specgd as sg
    where = fresh(f"digest-{key}")
    name = "S.npy" if key == "matrix" else "W.npy"
    first = _spd(6, 0) if key == "matrix" else np.full((2, 6), 0.1)
    second = _spd(6, 1) if key == "matrix" else np.full((2, 6), 0.3)
    np.save(where / name, first)
    grid = _array_grid(where, key)
    proc = cli("sweep", grid, "--out", where / "s", "--workers", 1, "--no-progress")
    if proc.returncode != 0:
        return "bad", _tail(proc)
    np.save(where / name, second)
    proc = cli("sweep", grid, "--out", where / "s", "--workers", 1, "--no-progress")
    if "nothing to do" in proc.stdout:
        return "bad", "a changed array file: 'nothing to do', old results kept"
    frame = sg.load(where / "s")
    finals = frame.groupby("lr")["loss"].last() if "lr" in frame else None
    return ("ok", f"recomputed ({len(frame)} rows)") if finals is not None else ("bad", "no frame")


@case("2")
def dense_matrix_file_changed():
    return _changed_file_is_recomputed("matrix")


@case("2")
def init_array_file_changed():
    return _changed_file_is_recomputed("array")


@case("2")
def dense_manifest_records_a_digest():
    where = fresh("dense-manifest")
    np.save(where / "S.npy", _spd(80, 0))
    proc = cli("run", "--d", 80, "--m", 2, "--cov", "dense", "--matrix", where / "S.npy",
               "--optimizer", "gd", "--lr", 0.01, "--steps", 5, "--out", where / "o", "--no-progress")
    if proc.returncode != 0:
        return "bad", _tail(proc)
    text = (where / "o" / "manifest.json").read_text()
    digest = hashlib.sha256(np.ascontiguousarray(_spd(80, 0), dtype=np.float64).tobytes()).hexdigest()
    if '"<dense>"' in text and digest[:16] not in text:
        return "bad", "manifest records '<dense>', no digest"
    return "ok", "digest recorded"


# --- 3: read-only SQL -------------------------------------------------------------------------


def _hostile(sql_of: Callable[[Path], str], answer_ok: bool = False) -> tuple[str, str]:
    s = store()
    before = tree_digest(s)
    proc = cli("results", s, "--sql", sql_of(s), timeout=120)
    changed = tree_digest(s) != before
    if changed:
        return "bad", f"the store changed (exit {proc.returncode})"
    if answer_ok and proc.returncode == 0:
        return "ok", "answered, store unchanged"
    return refused(proc)


def _first_run(s: Path) -> str:
    return sorted((s / "runs").glob("*.parquet"))[0].name


HOSTILE = {
    "explain_analyze_copy_index": lambda s: "EXPLAIN ANALYZE COPY (SELECT * REPLACE (0.0 AS "
    f"final_loss) FROM idx) TO '{s}/index.parquet' (FORMAT parquet)",
    "explain_analyze_copy_run": lambda s: "EXPLAIN ANALYZE COPY (SELECT * FROM runs LIMIT 1) TO "
    f"'{s}/runs/{_first_run(s)}' (FORMAT parquet)",
    "copy_to_store": lambda s: f"COPY (SELECT 1) TO '{s}/x.csv'",
    "copy_to_tmp": lambda s: f"COPY (SELECT 1) TO '{ROOT}/x.csv'",
    "two_statements": lambda s: "SELECT 1; SELECT 2",
    "select_then_copy": lambda s: f"SELECT 1; COPY (SELECT 1) TO '{s}/y.csv'",
    "attach": lambda s: f"ATTACH '{s}/db.duckdb' AS db",
    "create_table": lambda s: "CREATE TABLE t AS SELECT 1",
    "install": lambda s: "INSTALL httpfs",
    "load": lambda s: "LOAD httpfs",
    "set_access": lambda s: "SET enable_external_access = true",
    "pragma": lambda s: "PRAGMA enable_profiling",
    "export": lambda s: f"EXPORT DATABASE '{s}/export'",
    "call": lambda s: "CALL pragma_version()",
    "read_outside": lambda s: "SELECT * FROM read_csv('/etc/passwd')",
    "query_function_copy": lambda s: f"SELECT * FROM query('COPY (SELECT 1) TO ''{s}/z.csv''')",
    "syntax_error": lambda s: "SELEC * FROM idx",
    "empty": lambda s: "   ",
    "comment_only": lambda s: "-- nothing",
    "explain_select": lambda s: "EXPLAIN SELECT * FROM idx",
}
for _name, _sql in HOSTILE.items():
    def _make(sql=_sql, name=_name):
        def fn():
            return _hostile(sql, answer_ok=name in ("explain_select",))
        fn.__name__ = f"sql_{name}"
        return fn
    case("3")(_make())


@case("3")
def sql_store_path_with_apostrophe():
    s = store()
    odd = ROOT / "o'brien store"
    shutil.rmtree(odd, ignore_errors=True)
    shutil.move(s, odd)
    proc = cli("results", odd, "--sql", "SELECT count(*) AS n FROM idx")
    if proc.returncode == 0 and "8" in proc.stdout:
        return "ok", "answered"
    return "bad", _tail(proc)


@case("3")
def sql_reads_answer():
    s = store()
    before = tree_digest(s)
    proc = cli("results", s, "--sql", "WITH t AS (SELECT * FROM runs) SELECT count(DISTINCT "
               "filename) AS n FROM t")
    if proc.returncode == 0 and "8" in proc.stdout and tree_digest(s) == before:
        return "ok", "answered"
    return "bad", _tail(proc)


# --- 4: phase diagram -------------------------------------------------------------------------


def _fabricated_store(rates: dict[str, list[float]]) -> Path:
    """gd and specgd runs with made-up curves (see the probe docstring of case 4)."""
    import pandas as pd

    from specgd.results.runfile import config_hash
    from specgd.results.store import ResultsStore

    root = ROOT / f"phase-{time.monotonic_ns()}"
    st = ResultsStore(root)
    steps = np.arange(0, 201, 1)

    def curves(opt, lr):
        if opt == "gd":
            esc, settle, end = 80, 100, 1e-4
        elif lr == 1.0:  # escapes fast, ends above its start
            esc, settle, end = 5, None, 4.2
        elif lr == 1e6:  # escapes fastest, finite but huge loss
            esc, settle, end = 2, None, 2e23
        else:
            esc, settle, end = 40, 60, 1e-4
        a = np.minimum(0.9, 0.9 * (steps / esc) ** 2 / 1.6)
        if settle is None:
            loss = np.full(len(steps), end)
            loss[:3] = 3.0
        else:
            loss = np.where(steps < settle, 3.0 * (end / 3.0) ** (steps / settle), end)
        return a, loss

    for opt, lrs in rates.items():
        for lr in lrs:
            for seed in (0, 1):
                a, loss = curves(opt, lr)
                params = {"family": "spiked", "d": 32, "m": 4, "lam": 8.0, "noise": 0.0,
                          "mode": "population", "n": None, "steps": 200, "seed": seed,
                          "optimizer": opt, "lr": lr}
                config = {"problem": {"d": 32, "m": 4, "cov": {"family": "spiked", "lam": 8.0}},
                          "optimizer": {"name": opt, "lr": lr}, "seeds": [seed], "steps": 200}
                frame = pd.DataFrame({"optimizer": opt, "seed": seed, "lr": lr, "step": steps,
                                      "a": a, "b": 0.01, "c": 0.01, "cos": a, "loss": loss,
                                      "diverged_at_step": pd.array([None] * len(steps), "Int64")})
                frame = frame.assign(**{k: v for k, v in params.items() if k not in frame})
                st.write_run(config_hash(config), {"config": config, "params": params}, frame)
    st.write_index()
    return root


def _phase(rates) -> tuple:
    import specgd as sg

    root = _fabricated_store(rates)
    kwargs = {"x": "lam", "y": "d"}
    cells, _ = sg.phase_diagram(root, **kwargs)
    return cells


@case("4")
def phase_never_crowns_a_loss_that_ends_above_start():
    cells = _phase({"gd": [0.1], "specgd": [0.01, 1.0]})
    lr = cells["lr_specgd"].tolist()
    return ("ok", f"chose {lr}") if lr == [0.01] else ("bad", f"chose specgd lr {lr}")


@case("4")
def phase_never_crowns_a_huge_finite_loss():
    cells = _phase({"gd": [0.1], "specgd": [0.01, 1e6]})
    lr = cells["lr_specgd"].tolist()
    return ("ok", f"chose {lr}") if lr == [0.01] else ("bad", f"chose specgd lr {lr}")


@case("4")
def phase_no_learning_rate_learns():
    cells = _phase({"gd": [0.1], "specgd": [1.0, 1e6]})
    row = cells.iloc[0]
    if row["status"] == "ok":
        return "bad", f"status ok with ratio {row.get('escape_ratio')}"
    return "ok", f"status {row['status']!r}"


# --- 5: duplicate atlas values (the atlas) ----------------------------------------------------


@case("5", owner="atlas")
def atlas_duplicate_values():
    import specgd as sg
    return api(lambda: sg.atlas(fresh("atlas-dup"), quick=True, slices=["lam"],
                                values={"lam": (8, 8)}, progress=False), "lam", timeout=20)


@case("5", owner="atlas")
def atlas_duplicate_lr_grid():
    import specgd as sg
    return api(lambda: sg.atlas(fresh("atlas-dup2"), quick=True, slices=["lam"],
                                lr_grids={"gd": (0.1, 0.1)}, progress=False), "gd", timeout=20)


# --- 6: a run file holding another run ------------------------------------------------------


@case("6")
def swapped_run_file_is_detected():
    import warnings

    from specgd.results.store import ResultsStore
    s = store()
    files = sorted((s / "runs").glob("*.parquet"))
    shutil.copyfile(files[0], files[1])
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        done = ResultsStore(s).done()
    if files[1].stem in done:
        return "bad", "a run file holding another run's content is accepted"
    return "ok", "refused on read"


@case("6")
def swapped_run_file_is_recomputed_by_the_sweep():
    s = store()
    files = sorted((s / "runs").glob("*.parquet"))
    shutil.copyfile(files[0], files[1])
    grid = toml(s.parent / f"g{time.monotonic_ns()}.toml", GRID)
    proc = cli("sweep", grid, "--out", s, "--workers", 1, "--no-progress")
    if "1 completed" in proc.stdout:
        return "ok", "recomputed"
    return "bad", f"exit {proc.returncode}: {proc.stdout.strip()[-160:]}"


@case("6")
def misnamed_run_file_is_not_counted():
    import warnings

    from specgd.results.sql import query
    from specgd.results.store import ResultsStore
    s = store()
    files = sorted((s / "runs").glob("*.parquet"))
    shutil.copyfile(files[0], s / "runs" / ("0" * 20 + ".parquet"))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        n = len(query(s, "SELECT DISTINCT filename FROM runs"))
        done = ResultsStore(s).done()
    if n == 8 and len(done) == 8:
        return "ok", "the stray copy is set aside"
    return "bad", f"{n} runs counted"


# --- 7: duplicate values ----------------------------------------------------------------------


@case("7")
def cli_duplicate_lrs_only():
    args = ["run", "--d", 6, "--m", 2, "--optimizer", "gd", "--lrs", "0.01,0.01", "--steps", 20,
            "--no-progress", "--out", ROOT / "dup-lrs2"]
    return refused(cli(*args), "lrs")


@case("7")
def toml_duplicate_lrs():
    where = fresh("toml-dup")
    cfg = toml(where / "run.toml", {"steps": 20, "lrs": [0.01, 0.02, 0.01], "out": str(where / "o"),
                                    "problem": {"d": 6, "m": 2}, "optimizer": {"name": "gd"}})
    return refused(cli("run", "--config", cfg, "--no-progress"), "lrs")


@case("7")
def api_duplicate_lrs():
    import specgd as sg
    return api(lambda: sg.run(sg.Problem(d=6, m=2), sg.gd(), steps=5, lrs=[0.01, 0.01],
                              progress=False), "lrs")


@case("7")
def api_duplicate_seeds():
    import specgd as sg
    return api(lambda: sg.run(sg.Problem(d=6, m=2), sg.gd(lr=0.01), steps=5, seeds=[3, 3],
                              progress=False), "seeds")


@case("7")
def cli_duplicate_seeds():
    return refused(cli(*RUN, "--seeds", "1,1", "--out", ROOT / "dup-seeds"), "seeds")


@case("7")
def grid_duplicate_axis_values():
    import specgd as sg
    grid = {**GRID, "grid": {"problem.cov.lam": [2.0, 2.0]}}
    return api(lambda: sg.sweep(grid, fresh("dup-axis") / "s", workers=1, progress=False,
                                log=lambda s: None), "lam")


@case("7")
def grid_duplicate_lrs_axis():
    import specgd as sg
    grid = {**GRID, "grid": {"optimizer.lr": [0.1, 0.1]}}
    return api(lambda: sg.sweep(grid, fresh("dup-lr-axis") / "s", workers=1, progress=False,
                                log=lambda s: None), "lr")


@case("7")
def grid_duplicate_tables():
    import specgd as sg
    grid = {**GRID, "grid": {"optimizer": [{"name": "gd", "lr": 0.1}, {"name": "gd", "lr": 0.1}]}}
    return api(lambda: sg.sweep(grid, fresh("dup-tab") / "s", workers=1, progress=False,
                                log=lambda s: None), "optimizer")


@case("7")
def grid_duplicate_seeds():
    import specgd as sg
    grid = {**GRID, "base": {**GRID["base"], "seeds": [1, 1]}}
    return api(lambda: sg.sweep(grid, fresh("dup-seeds-g") / "s", workers=1, progress=False,
                                log=lambda s: None), "seeds")


@case("7")
def grid_base_lrs_duplicate():
    import specgd as sg
    base = {k: v for k, v in GRID["base"].items()}
    base["optimizer"] = {"name": "gd"}
    base["lrs"] = [0.1, 0.1]
    return api(lambda: sg.sweep({"base": base}, fresh("dup-lrs-g") / "s", workers=1,
                                progress=False, log=lambda s: None), "lr")


# --- 8-10: output folders ---------------------------------------------------------------------


@case("8")
def dangling_symlink_out():
    where = fresh("dangling")
    (where / "link").symlink_to(where / "nowhere" / "deeper")
    proc = cli(*RUN, "--out", where / "link")
    if proc.returncode == 0 and (where / "link" / "manifest.json").exists():
        return "ok", "followed the link and saved"
    return refused(proc, "out")


@case("8")
def symlink_loop_out():
    where = fresh("loop")
    (where / "a").symlink_to(where / "b")
    (where / "b").symlink_to(where / "a")
    return refused(cli(*RUN, "--out", where / "a"), "out")


@case("8")
def symlink_to_folder_out():
    where = fresh("symdir")
    (where / "real").mkdir()
    (where / "link").symlink_to(where / "real")
    proc = cli(*RUN, "--out", where / "link")
    if proc.returncode == 0 and (where / "real" / "manifest.json").exists():
        return "ok", "saved through the link"
    return "bad", _tail(proc)


@case("9", slow=True)
def two_runs_into_one_out():
    where = fresh("two-runs")
    slow = ["run", "--d", 60, "--m", 20, "--optimizer", "specgd", "--lr", 0.01, "--steps", 6000,
            "--reduce", "never", "--no-progress", "--out", where / "o"]
    fast = [*RUN, "--out", where / "o"]
    a = subprocess.Popen([*SPECGD, *map(str, slow)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    b = cli(*fast)
    out_a, err_a = a.communicate(timeout=600)
    codes = sorted([a.returncode, b.returncode])
    saved = (where / "o" / "manifest.json").exists()
    if codes == [0, 2] and saved and "Traceback" not in err_a + b.stderr:
        return "ok", "one saved, the other refused before computing"
    return "bad", f"exits {a.returncode}/{b.returncode}: {err_a.strip()[-150:]} {b.stderr.strip()[-100:]}"


@case("10")
def out_inside_store_runs():
    s = store()
    return refused(cli(*RUN, "--out", s / "runs"), "store")


@case("10")
def out_is_a_store():
    s = store()
    return refused(cli(*RUN, "--out", s), "store")


@case("10")
def out_below_store_runs():
    s = store()
    return refused(cli(*RUN, "--out", s / "runs" / "x"), "store")


@case("10")
def sweep_out_is_store_runs():
    s = store()
    grid = toml(s.parent / f"g{time.monotonic_ns()}.toml", GRID)
    return refused(cli("sweep", grid, "--out", s / "runs", "--workers", 1, "--no-progress"),
                   "store")


@case("10")
def sweep_out_is_a_saved_run():
    where = fresh("sweep-into-run")
    proc = cli(*RUN, "--out", where / "o")
    if proc.returncode != 0:
        return "bad", _tail(proc)
    grid = toml(where / "g.toml", GRID)
    return refused(cli("sweep", grid, "--out", where / "o", "--workers", 1, "--no-progress"),
                   "out")


# --- 11-13: paths and files -------------------------------------------------------------------


@case("11")
def long_out_component():
    return refused(cli(*RUN, "--out", ROOT / ("x" * 300)), "out")


@case("11")
def long_out_path():
    deep = ROOT.joinpath(*(["y" * 200] * 25))
    return refused(cli(*RUN, "--out", deep), "out")


@case("11")
def long_sweep_out():
    where = fresh("long-sweep")
    grid = toml(where / "g.toml", GRID)
    return refused(cli("sweep", grid, "--out", where / ("z" * 300), "--no-progress"), "out")


@case("11")
def long_reproduce_out():
    return refused(cli("reproduce", "E3", "--quick", "--out", ROOT / ("r" * 300)), "out")


@case("12")
def non_utf8_grid():
    where = fresh("latin1")
    (where / "g.toml").write_bytes('name = "caf\xe9"\n'.encode("latin-1") + b"[base]\nsteps = 5\n")
    return refused(cli("sweep", where / "g.toml", "--out", where / "s", "--no-progress"), "g.toml")


@case("12")
def non_utf8_run_config():
    where = fresh("latin1-run")
    (where / "r.toml").write_bytes(b'steps = 5\nout = "caf\xe9"\n')
    return refused(cli("run", "--config", where / "r.toml"), "r.toml")


@case("12")
def binary_grid():
    where = fresh("binary-grid")
    (where / "g.toml").write_bytes(bytes(range(256)))
    return refused(cli("sweep", where / "g.toml", "--out", where / "s", "--no-progress"), "g.toml")


@case("13")
def skip_failed_with_garbage_error_record():
    s = store()
    (s / "errors").mkdir(exist_ok=True)
    (s / "errors" / ("f" * 20 + ".json")).write_text("{not json")
    grid = toml(s.parent / f"g{time.monotonic_ns()}.toml", GRID)
    proc = cli("sweep", grid, "--out", s, "--skip-failed", "--workers", 1, "--no-progress")
    if proc.returncode == 0 and "Traceback" not in proc.stderr:
        return "ok", proc.stdout.strip().splitlines()[-1][:160]
    return "bad", _tail(proc)


@case("13")
def skip_failed_with_empty_error_record():
    s = store()
    (s / "errors").mkdir(exist_ok=True)
    (s / "errors" / ("e" * 20 + ".json")).write_bytes(b"")
    grid = toml(s.parent / f"g{time.monotonic_ns()}.toml", GRID)
    proc = cli("sweep", grid, "--out", s, "--skip-failed", "--workers", 1, "--no-progress")
    if proc.returncode == 0 and "Traceback" not in proc.stderr:
        return "ok", proc.stdout.strip().splitlines()[-1][:160]
    return "bad", _tail(proc)


# --- 15: read-only stores ---------------------------------------------------------------------


def _as_nobody(*args) -> subprocess.CompletedProcess:
    home = ROOT / "nobody-home"
    home.mkdir(exist_ok=True)
    os.chmod(home, 0o777)
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *SPECGD,
                           *map(str, args)], cwd="/", capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "HOME": str(home), "MPLCONFIGDIR": str(home)})


def _read_only(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        os.chmod(p, 0o555 if p.is_dir() else 0o444)
    p = path
    while p != p.parent:
        os.chmod(p, os.stat(p).st_mode | 0o055)
        p = p.parent


@case("15")
def read_only_store_without_index():
    if not shutil.which("setpriv"):
        return "bad", "setpriv missing: not probed"
    s = store()
    (s / "index.parquet").unlink()
    _read_only(s)
    proc = _as_nobody("results", s)
    if proc.returncode == 0 and "gd" in proc.stdout:
        return "ok", "answered"
    return "bad", _tail(proc)


@case("15")
def read_only_store_with_corrupt_run():
    if not shutil.which("setpriv"):
        return "bad", "setpriv missing: not probed"
    s = store()
    victim = sorted((s / "runs").glob("*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:100])
    _read_only(s)
    proc = _as_nobody("results", s, "--sql", "SELECT count(*) AS n FROM idx")
    if proc.returncode == 0 and "7" in proc.stdout:
        return "ok", "answered without the damaged run"
    return "bad", _tail(proc)


# --- 16: Python API ---------------------------------------------------------------------------


@case("16", owner="spectral init")
def spectral_init_huge_seed():
    import specgd as sg
    return api(lambda: sg.run(sg.Problem(d=6, m=2), sg.gd(lr=0.01), steps=3, progress=False,
                              init=sg.SpectralInit(seed=2**70)), "seed")


@case("16")
def ragged_init_list():
    import specgd as sg
    return api(lambda: sg.run(sg.Problem(d=3, m=2), sg.gd(lr=0.01), steps=3, progress=False,
                              init=[[0.1, 0.2, 0.3], [0.1]]), "init")


@case("16")
def ragged_init_array_kind():
    import specgd as sg
    return api(lambda: sg.run(sg.Problem(d=3, m=2), sg.gd(lr=0.01), steps=3, progress=False,
                              init=sg.ArrayInit([[0.1, 0.2, 0.3], [0.1]])), "init")


@case("16", owner="atlas")
def atlas_value_of_wrong_type():
    import specgd as sg
    return api(lambda: sg.atlas(fresh("atlas-x"), quick=True, slices=["lam"],
                                values={"lam": ["x"]}, progress=False), "lam", timeout=20)


@case("16", owner="atlas")
def atlas_empty_lr_grid():
    import specgd as sg
    return api(lambda: sg.atlas(fresh("atlas-e"), quick=True, slices=["lam"],
                                lr_grids={"gd": ()}, progress=False), "gd", timeout=20)


def _garbage_run(where: Path, manifest: bytes, metrics: bytes | None = None) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "manifest.json").write_bytes(manifest)
    (where / "metrics.parquet").write_bytes(metrics if metrics is not None else b"PAR1garbagePAR1")
    return where


@case("16")
def load_garbage_manifest():
    import specgd as sg
    where = _garbage_run(fresh("garbage") / "run", b"{not json")
    return api(lambda: sg.load(where), "manifest.json")


@case("16")
def load_run_garbage_manifest():
    import specgd as sg
    where = _garbage_run(fresh("garbage2") / "run", b"[1, 2]")
    return api(lambda: sg.load_run(where), "manifest.json")


@case("16")
def load_garbage_metrics():
    import specgd as sg
    where = fresh("garbage3") / "run"
    proc = cli(*RUN, "--out", where)
    if proc.returncode != 0:
        return "bad", _tail(proc)
    (where / "metrics.parquet").write_bytes(b"garbage")
    return api(lambda: sg.load(where), "metrics.parquet")


@case("16")
def load_missing_folder():
    import specgd as sg
    try:
        sg.load(ROOT / "no-such-folder")
    except FileNotFoundError as e:  # a missing folder, named
        return ("clean", str(e)[:160]) if "no-such-folder" in str(e) else ("bad", str(e))
    except Exception as e:  # noqa: BLE001
        return "bad", f"{type(e).__name__}: {e}"[:160]
    return "bad", "accepted"


# --- 17-18: sweeps ----------------------------------------------------------------------------


def _sweep_output(grid: dict, name: str) -> subprocess.CompletedProcess:
    where = fresh(name)
    path = toml(where / "g.toml", grid)
    return cli("sweep", path, "--out", where / "s", "--workers", 1, "--no-progress")


@case("17")
def sweep_over_teacher_rank():
    base = {**GRID["base"], "problem": {"d": 6, "m": 2, "cov": {"family": "isotropic"}}}
    proc = _sweep_output({"base": base, "grid": {"problem.teacher_rank": [1, 2]}}, "trank")
    if proc.returncode == 0 and "Compute Failed" not in proc.stdout + proc.stderr:
        return "ok", proc.stdout.strip().splitlines()[-1][:160]
    return "bad", f"exit {proc.returncode}; 'Compute Failed' logged" if proc.returncode == 0 \
        else _tail(proc)


@case("17")
def sweep_over_angle():
    base = {**GRID["base"], "problem": {"d": 6, "m": 2, "cov": {"family": "spiked", "lam": 4.0}}}
    proc = _sweep_output({"base": base, "grid": {"problem.cov.angle": [0.0, 0.7]}}, "angle")
    if proc.returncode == 0 and "Compute Failed" not in proc.stdout + proc.stderr:
        return "ok", proc.stdout.strip().splitlines()[-1][:160]
    return "bad", f"exit {proc.returncode}; 'Compute Failed' logged" if proc.returncode == 0 \
        else _tail(proc)


def _huge_grid(n_axes: int, each: int) -> dict:
    axes = {"problem.cov.lam": [float(i) for i in range(each)],
            "optimizer.lr": [0.001 * (i + 1) for i in range(each)],
            "problem.noise": [0.001 * i for i in range(each)],
            "steps": list(range(1, each + 1)),
            "log_every": list(range(1, each + 1)),
            "init.scale": [0.001 * (i + 1) for i in range(each)],
            "problem.seed": list(range(each))}
    return {"base": GRID["base"], "grid": dict(list(axes.items())[:n_axes])}


@case("18")
def grid_of_ten_million_points():
    from specgd.sweeps import plan
    from specgd.sweeps.grid import Grid
    t0 = time.monotonic()
    verdict, note = api(lambda: plan(Grid.from_dict(_huge_grid(7, 10))), "grid", timeout=30)
    return verdict, f"{note} in {time.monotonic() - t0:.1f} s"


@case("18")
def grid_of_a_trillion_points():
    from specgd.sweeps import plan
    from specgd.sweeps.grid import Grid
    t0 = time.monotonic()
    verdict, note = api(lambda: plan(Grid.from_dict(_huge_grid(6, 100))), "grid", timeout=30)
    return verdict, f"{note} in {time.monotonic() - t0:.1f} s"


@case("18")
def cli_grid_of_ten_million_points():
    where = fresh("huge-cli")
    path = toml(where / "g.toml", _huge_grid(7, 10))
    t0 = time.monotonic()
    try:
        proc = cli("sweep", path, "--out", where / "s", "--no-progress", timeout=60)
    except subprocess.TimeoutExpired:
        return "bad", "no answer in 60 s"
    verdict, note = refused(proc)
    return verdict, f"{note} in {time.monotonic() - t0:.1f} s"


# --- unclear or inconsistent ------------------------------------------------------------------


@case("U")
def bom_run_config():
    where = fresh("bom")
    (where / "r.toml").write_bytes(b"\xef\xbb\xbf" + b'steps = 5\n[problem]\nd = 6\nm = 2\n'
                                   b'[optimizer]\nname = "gd"\nlr = 0.01\n')
    proc = cli("run", "--config", where / "r.toml", "--out", where / "o", "--no-progress")
    if proc.returncode == 0:
        return "ok", "read"
    if proc.returncode == 2 and "line 1, column 1" not in proc.stderr:
        return refused(proc)
    return "bad", _tail(proc)


@case("U")
def bom_grid():
    where = fresh("bom-grid")
    import tomli_w
    (where / "g.toml").write_bytes(b"\xef\xbb\xbf" + tomli_w.dumps(GRID).encode())
    proc = cli("sweep", where / "g.toml", "--out", where / "s", "--workers", 1, "--no-progress")
    if proc.returncode == 0:
        return "ok", "read"
    if proc.returncode == 2 and "line 1, column 1" not in proc.stderr:
        return refused(proc)
    return "bad", _tail(proc)


@case("U")
def teacher_rank_huge():
    proc = cli(*RUN, "--teacher-rank", "1e13", "--out", ROOT / "trank-huge")
    verdict, note = refused(proc, "teacher")
    if verdict == "clean" and "force" in proc.stderr:
        return "bad", "asks for --force for a value that is invalid anyway"
    return verdict, note


@case("U")
def empty_out():
    where = fresh("empty-out")
    proc = cli(*RUN, "--out", "", cwd=where)
    if (where / "manifest.json").exists():
        return "bad", "wrote into the current folder"
    return refused(proc, "out")


@case("U")
def empty_sweep_out():
    where = fresh("empty-sweep-out")
    grid = toml(where / "g.toml", GRID)
    proc = cli("sweep", grid, "--out", "", "--no-progress", cwd=where)
    if (where / "runs").exists():
        return "bad", "wrote the store into the current folder"
    return refused(proc, "out")


@case("U")
def sweep_help_shows_table_names():
    proc = cli("sweep", "--help", env={"COLUMNS": "200"})
    if "[base]" in proc.stdout and "[grid]" in proc.stdout:
        return "ok", "shown"
    return "bad", "the help eats [base]/[grid]"


@case("U")
def corrupt_warning_is_readable():
    import warnings

    import pyarrow as pa
    import pyarrow.parquet as pq

    from specgd.results.store import ResultsStore
    s = store()
    pq.write_table(pa.table({"x": [1]}), s / "runs" / ("1" * 20 + ".parquet"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ResultsStore(s).done()
    text = " ".join(str(w.message) for w in caught)
    if "NoneType" in text or "AttributeError" in text:
        return "bad", text[:160]
    return ("ok", text[:160]) if text else ("bad", "no warning")


@case("U")
def nothing_to_do_has_no_nan_rate():
    s = store()
    grid = toml(s.parent / f"g{time.monotonic_ns()}.toml", GRID)
    proc = cli("sweep", grid, "--out", s, "--workers", 1, "--no-progress")
    if "nan" in proc.stdout:
        return "bad", proc.stdout.strip().splitlines()[-1][:160]
    return "ok", proc.stdout.strip().splitlines()[-1][:160]


@case("U", owner="spectral init")
def spectral_init_tiny_truncation():
    import specgd as sg
    return api(lambda: sg.run(sg.Problem(d=6, m=2), sg.gd(lr=0.01), steps=3, progress=False,
                              init=sg.SpectralInit("truncated", truncation=1e-300)), "truncation")


@case("U")
def finite_mode_without_n_names_the_flag():
    return refused(cli(*RUN, "--mode", "finite", "--out", ROOT / "finite-n"), "--n")


# --- reproducibility --------------------------------------------------------------------------


def _frames_equal(a, b) -> bool:
    import pandas as pd
    cols = [c for c in ("seed", "lr", "step", "a", "b", "c", "cos", "loss") if c in a and c in b]
    try:
        pd.testing.assert_frame_equal(a[cols].reset_index(drop=True), b[cols].reset_index(drop=True),
                                      check_exact=True, check_dtype=False)
    except AssertionError:
        return False
    return True


def _rerun_cli(out: Path, extra: list) -> tuple[str, str]:
    import specgd as sg
    proc = cli("run", "--config", out / "manifest.json", "--out", out.parent / (out.name + "-again"),
               "--no-progress", *extra)
    if proc.returncode != 0:
        return "bad", _tail(proc)
    same = _frames_equal(sg.load(out), sg.load(out.parent / (out.name + "-again")))
    return ("ok", "bit for bit") if same else ("bad", "different numbers")


@case("R")
def rerun_from_manifest_plain():
    where = fresh("rerun-plain")
    proc = cli(*RUN, "--seeds", 2, "--init-scale", 0.3, "--out", where / "o")
    if proc.returncode != 0:
        return "bad", _tail(proc)
    return _rerun_cli(where / "o", [])


@case("R")
def rerun_from_manifest_dense_large():
    where = fresh("rerun-dense")
    np.save(where / "S.npy", _spd(80, 3))
    proc = cli("run", "--d", 80, "--m", 2, "--cov", "dense", "--matrix", where / "S.npy",
               "--optimizer", "gd", "--lr", 0.01, "--steps", 10, "--out", where / "o", "--no-progress")
    if proc.returncode != 0:
        return "bad", _tail(proc)
    (where / "S.npy").unlink()  # the copy beside the results must do
    return _rerun_cli(where / "o", [])


@case("R")
def rerun_from_manifest_relative_paths():
    where = fresh("rerun-rel")
    (where / "cfg").mkdir()
    np.save(where / "cfg" / "W.npy", np.full((2, 6), 0.2))
    cfg = toml(where / "cfg" / "run.toml", {
        "steps": 10, "problem": {"d": 6, "m": 2}, "optimizer": {"name": "gd", "lr": 0.01},
        "init": {"kind": "array", "array": "W.npy"}})
    proc = cli("run", "--config", cfg, "--out", where / "o", "--no-progress")
    if proc.returncode != 0:
        return "bad", _tail(proc)
    return _rerun_cli(where / "o", [])


@case("R")
def rerun_python_saved_run():
    import specgd as sg
    where = fresh("rerun-py")
    res = sg.run(sg.Problem(d=6, m=2, cov=sg.Spiked(lam=3.0)), sg.specgd(lr=0.01), steps=10,
                 seeds=2, init=sg.GaussianInit(0.2), progress=False)
    res.save(where / "o")
    manifest = json.loads((where / "o" / "manifest.json").read_text())
    if not manifest.get("run_config"):
        return "bad", "manifest from save() has no run_config"
    return _rerun_cli(where / "o", [])


@case("R")
def rerun_python_dense_saved_run():
    import specgd as sg
    where = fresh("rerun-py-dense")
    res = sg.run(sg.Problem(d=70, m=2, cov=sg.Dense(_spd(70, 5))), sg.gd(lr=0.01), steps=5,
                 init=np.full((2, 70), 0.05), progress=False)
    res.save(where / "o")
    if not hasattr(sg, "rerun"):
        return "bad", "no sg.rerun"
    again = sg.rerun(where / "o")
    return ("ok", "bit for bit") if _frames_equal(res.frame, again.frame) else ("bad", "differs")


@case("R")
def rerun_store_run():
    import specgd as sg
    s = store()
    path = sorted((s / "runs").glob("*.parquet"))[0]
    if not hasattr(sg, "rerun"):
        return "bad", "no sg.rerun"
    import pandas as pd
    again = sg.rerun(path)
    return ("ok", "bit for bit") if _frames_equal(pd.read_parquet(path), again.frame) \
        else ("bad", "differs")


@case("R")
def rerun_store_run_from_cli():
    import specgd as sg
    s = store()
    path = sorted((s / "runs").glob("*.parquet"))[2]
    out = s.parent / f"again-{time.monotonic_ns()}"
    proc = cli("run", "--config", path, "--out", out, "--no-progress")
    if proc.returncode != 0:
        return "bad", _tail(proc)
    import pandas as pd
    return ("ok", "bit for bit") if _frames_equal(pd.read_parquet(path), sg.load(out)) \
        else ("bad", "differs")


@case("R")
def store_run_records_versions_and_defaults():
    import pyarrow.parquet as pq
    s = store()
    path = sorted((s / "runs").glob("*.parquet"))[0]
    meta = json.loads(pq.read_schema(path).metadata[b"specgd.config"])
    text = json.dumps(meta)
    if "versions" in meta and '"scale"' in text:
        return "ok", "recorded"
    return "bad", "no versions or no resolved init scale"


@case("R")
def rerun_dense_sweep_run():
    import pandas as pd

    import specgd as sg
    where = fresh("rerun-dense-sweep")
    np.save(where / "S.npy", _spd(6, 4))
    grid = _array_grid(where, "matrix")
    proc = cli("sweep", grid, "--out", where / "s", "--workers", 1, "--no-progress")
    if proc.returncode != 0:
        return "bad", _tail(proc)
    (where / "S.npy").unlink()
    path = sorted((where / "s" / "runs").glob("*.parquet"))[0]
    if not hasattr(sg, "rerun"):
        return "bad", "no sg.rerun"
    try:
        again = sg.rerun(path)
    except Exception as e:  # noqa: BLE001
        return "bad", f"{type(e).__name__}: {str(e)[:120]}"
    return ("ok", "bit for bit") if _frames_equal(pd.read_parquet(path), again.frame) \
        else ("bad", "differs")


# --- driver -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--fast", action="store_true")
    args = parser.parse_args()
    import warnings
    warnings.simplefilter("ignore")
    rows = []
    for c in CASES:
        if args.only not in c.id or (args.fast and c.slow):
            continue
        t0 = time.monotonic()
        try:
            verdict, note = c.fn()
        except Exception as e:  # noqa: BLE001 - the probe itself must go on
            verdict, note = "bad", f"probe raised {type(e).__name__}: {e}"[:200]
            traceback.print_exc()
        rows.append({"id": c.id, "item": c.item, "owner": c.owner, "verdict": verdict,
                     "note": note, "seconds": round(time.monotonic() - t0, 1)})
        print(f"{verdict:5s} {c.id:55s} {c.owner:14s} {note}", flush=True)
    mine = [r for r in rows if not r["owner"]]
    for label, part in (("all", rows), ("this review's own items", mine)):
        counts = {v: sum(r["verdict"] == v for r in part) for v in ("clean", "ok", "bad")}
        print(f"{label}: {len(part)} cases, {counts['clean']} clean refusals, {counts['ok']} "
              f"handled, {counts['bad']} bad")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    shutil.rmtree(ROOT, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
