"""The browser timing benchmark's pure parts (no browser, no timing asserted): the
synthetic store it builds with a checkout's own code, its cache key, URLs and tables."""

import shutil
import sys

import duckdb

from bench import pages
from tests.conftest import ROOT


def test_store_is_built_once_with_snapshots_and_the_ids_to_open(tmp_path):
    db, ids = pages.synthetic_store(ROOT, tmp_path, 6, 20, sys.executable)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 6
        query = "SELECT step FROM snapshots WHERE run_id = ? ORDER BY step"
        steps = [r[0] for r in con.execute(query, [ids["run"]]).fetchall()]
        newest = [r[0] for r in con.execute("SELECT max(id) FROM runs GROUP BY backbone ORDER BY 1").fetchall()]
    assert steps == list(range(2, 21, 2))  # a slider of ten steps on Run detail
    assert ids["compare"] == newest and len(newest) == 2
    stamp = db.stat().st_mtime_ns
    assert pages.synthetic_store(ROOT, tmp_path, 6, 20, sys.executable) == (db, ids)
    assert db.stat().st_mtime_ns == stamp  # cached, not rebuilt


def test_store_key_follows_the_roots_store_code(tmp_path):
    shutil.copytree(ROOT / "store", tmp_path / "store", ignore=shutil.ignore_patterns("__pycache__"))
    key = pages.store_key(tmp_path, 1000, 1000)
    assert key == pages.store_key(ROOT, 1000, 1000)
    assert key != pages.store_key(tmp_path, 1000, 200)
    with (tmp_path / "store" / "synthetic.py").open("a") as fh:
        fh.write("\n# another generator\n")
    assert pages.store_key(tmp_path, 1000, 1000) != key


def test_urls_open_run_detail_and_compare_on_the_chosen_runs():
    paths = pages.urls({"run": 7, "compare": [999, 1000]})
    assert paths["run"] == "run?run=7"
    assert paths["compare"] == "compare?runs=999,1000"
    assert set(paths) == set(pages.TITLES)


def test_table_and_rows_report_medians():
    t = pages.Timings()
    for v in (3.0, 1.0, 2.0):
        t.add("gallery: warm load", v)
    t.add("launch: first (cold) load", 14.0)
    t.notes.append("compare: none of the widgets found")
    text = pages.table(t, "# header")
    lines = text.splitlines()
    assert lines[0] == "# header"
    assert lines[2].split()[-4:] == ["2.000", "1.000", "3.000", "3"]
    assert lines[-1] == "# note: compare: none of the widgets found"
    assert pages.rows(t) == [
        {"benchmark": "pages", "metric": "gallery_warm_load_s", "value": 2.0},
        {"benchmark": "pages", "metric": "launch_first_cold_load_s", "value": 14.0},
    ]
