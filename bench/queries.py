"""Dashboard query and page timings on a synthetic store (1,000 runs x 1,000 iterations
with thumbnails by default)."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from store import gallery, queries
from store.db import connect
from store.synthetic import make_synthetic_store


def synthetic_db(folder: Path, runs: int, iterations: int) -> Path:
    """Build (once, cached in `folder`) a synthetic store of that shape."""
    db = folder / f"synthetic_{runs}x{iterations}.duckdb"
    if not db.exists():
        make_synthetic_store(db, runs, iterations)
    with connect(db) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] >= runs
    return db


def _median_ms(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def query_rows(db: Path) -> list[dict]:
    """Median milliseconds of the Gallery's and the Compare page's store calls."""
    all_ids = queries.runs_in_group(db, "backbone", "vgg16") + queries.runs_in_group(db, "backbone", "resnet50")
    picked = all_ids[:10]
    vgg_only = gallery.GalleryFilter(backbones=("vgg16",), learning_rates=(15.0,))
    cases = {
        "gallery_page_unfiltered": lambda: gallery.gallery_page(db, gallery.GalleryFilter(), limit=24),
        "gallery_page_filtered": lambda: gallery.gallery_page(db, vgg_only, limit=24, offset=24),
        "gallery_filter_options": lambda: gallery.filter_options(db),
        "compare_curves_10_runs": lambda: queries.curves(db, picked),
        "compare_tables_10_runs": lambda: queries.compare_tables(db, picked),
        "compare_tables_all_runs": lambda: queries.compare_tables(db, all_ids),
    }
    return [{"benchmark": "query", "metric": f"{name}_ms", "value": _median_ms(fn)} for name, fn in cases.items()]


def compare_page_seconds(db: Path) -> float:
    """Seconds for AppTest to render the Compare page on `db` (median of 3, after one warm-up)."""
    from streamlit.testing.v1 import AppTest

    script = Path(__file__).resolve().parent.parent / "dashboard" / "views" / "compare.py"
    os.environ["NST_DB"] = str(db)
    times = []
    for _ in range(4):
        at = AppTest.from_file(str(script), default_timeout=120)
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
        if at.exception:
            raise RuntimeError(f"the Compare page failed: {at.exception[0].value}")
    return statistics.median(times[1:])
