"""The load test in miniature: `benchmarks/load_test.py --smoke` starts the server on SQLite and
runs locust with 2 users for 2 seconds on each of assess, Claim/$submit and order-sign; every
request must succeed. (In a subprocess: locust patches the standard library for gevent.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_smoke_load_has_no_errors(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "load_test.py"), "--smoke",
                           "--json", str(out)], capture_output=True, text=True, timeout=240,
                          check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    series = {(s["database"], s["scenario"]): s for s in result["series"]}
    assert set(series) == {("sqlite", "assess"), ("sqlite", "Claim/$submit"),
                           ("sqlite", "order-sign")}
    for (_database, scenario), found in series.items():
        [step] = found["steps"]
        assert step["users"] == 2
        assert step["errors"] == 0, (scenario, step["error_kinds"])
        assert step["requests"] >= 10, (scenario, step)  # it really ran
        assert step["p50_ms"] > 0
    assert "no errors at or below the knee" in done.stdout
