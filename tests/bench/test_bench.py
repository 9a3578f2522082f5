"""The benchmark suite runs end to end on a tiny size (no timing is asserted)."""

import csv

from bench.__main__ import main

METRICS = ("engine_over_bare", "log_50_iterations_in_loop_s", "final_flush_wait_s", "compare_page_s")


def test_quick_benchmark_runs_and_appends_csv(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NST_DB", str(tmp_path / "unused.duckdb"))
    out = tmp_path / "results.csv"
    assert main(["--quick", "--csv", str(out)]) == 0
    table = capsys.readouterr().out
    for metric in METRICS:
        assert metric in table
    rows = list(csv.DictReader(out.open()))
    assert {r["benchmark"] for r in rows} == {"step", "store", "query", "page"}
    assert all(float(r["value"]) > 0 for r in rows)
