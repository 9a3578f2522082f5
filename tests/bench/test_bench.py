"""The benchmark suite runs end to end on a tiny size (no timing is asserted)."""

import csv
import math

from bench.__main__ import main

METRICS = (
    "engine_over_bare",
    "engine_10_per_call_s_per_step",
    "engine_xla_s_per_step",
    "target_best_loss",
    "best: lbfgs: speed-up",
    "log_50_iterations_in_loop_s",
    "final_flush_wait_s",
    "compare_page_s",
)


def test_quick_benchmark_runs_and_appends_csv(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NST_DB", str(tmp_path / "unused.duckdb"))
    out = tmp_path / "results.csv"
    assert main(["--quick", "--csv", str(out)]) == 0
    table = capsys.readouterr().out
    for metric in METRICS:
        assert metric in table
    rows = list(csv.DictReader(out.open()))
    assert {r["benchmark"] for r in rows} == {"step", "quality", "store", "query", "page"}
    # Every measurement is a positive number, except an option that never reached
    # Adam's loss in the tiny quick run, which says so with NaN.
    for r in rows:
        value = float(r["value"])
        assert value > 0 or (
            r["benchmark"] == "quality" and not r["metric"].startswith("target_") and math.isnan(value)
        )
    adam = [r for r in rows if r["metric"] == "best: adam: speed-up"]
    assert [float(r["value"]) for r in adam] == [1.0]  # Adam is the yardstick
