"""`specgd reproduce --quick`: every experiment at reduced size writes the whole report."""

import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from specgd.report.experiments import EXPERIMENTS

pytestmark = pytest.mark.slow


def test_quick_reproduction_writes_every_file(tmp_path):
    out = tmp_path / "report"
    cmd = [sys.executable, "-m", "specgd.cli.main", "reproduce", "--quick", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    claims = json.loads((out / "claims.json").read_text())
    assert claims["quick"] is True and claims["experiments"] == list(EXPERIMENTS)
    assert len(EXPERIMENTS) == 7
    prefixes = set()
    for claim in claims["claims"]:
        assert set(claim) >= {"id", "text", "measured", "predicted", "tolerance", "verdict", "passed"}
        assert claim["verdict"] in ("PASS", "FAIL", "INFO")
        assert claim["passed"] is {"PASS": True, "FAIL": False, "INFO": None}[claim["verdict"]]
        prefixes.add(claim["id"].split(".")[0])
    assert prefixes == set(EXPERIMENTS), "every experiment states at least one claim"

    md = (out / "report.md").read_text()
    figures = re.findall(r"!\[([^\]]+)\]\(\1\.png\)", md)
    assert len(figures) >= len(EXPERIMENTS)
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(figures)  # self-contained
    for name in figures:
        assert (out / f"{name}.png").stat().st_size > 10_000
        assert not pd.read_parquet(out / f"{name}.parquet").empty
    assert not list(out.rglob("*.tmp")), "no temporary file is left behind"
    assert "claims:" in done.stdout
