"""README's dashboard screenshots, from a store you made (not a benchmark; it reuses
`bench.pages`' server and readiness probe):

    python -m bench.screenshots --db STORE [--out dashboard/screenshots] [--run ID] [--runs ID,ID] [--study ID]

Starts the dashboard on a *copy* of STORE (nothing is written to yours) without a worker,
opens each page in Chromium once it has drawn everything, and saves a full-page PNG per
page: home, launch, gallery, run_detail (`--run`, default the newest finished run),
compare (`--runs`, default the newest finished run of each backbone), studies (`--study`,
default the newest). README's screenshots come from runs made with real weights at
256 px: see README "Dashboard".
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb

from bench.pages import HERE, TITLES, _browser, _page, dashboard, load

SHOTS = {  # file name -> (page key in TITLES, URL path template)
    "home": ("home", ""),
    "launch": ("launch", "launch"),
    "gallery": ("gallery", "gallery"),
    "run_detail": ("run", "run?run={run}"),
    "compare": ("compare", "compare?runs={runs}"),
    "studies": ("studies", "studies?study={study}"),
}


def defaults(db: Path) -> dict[str, str]:
    """The newest finished run, the newest finished run of each backbone, the newest study."""
    with duckdb.connect(str(db), read_only=True) as con:
        run = con.execute("SELECT max(id) FROM runs WHERE status = 'finished'").fetchone()[0]
        per = con.execute(
            "SELECT max(id) FROM runs WHERE status = 'finished' AND study_id IS NULL GROUP BY backbone ORDER BY 1"
        ).fetchall()
        study = con.execute("SELECT max(id) FROM studies").fetchone()[0]
    return {"run": str(run), "runs": ",".join(str(r[0]) for r in per), "study": str(study or "")}


def take(
    db: Path, out: Path, ids: dict[str, str], height: int = 2400, settle: float = 1.5, timeout: float = 180
) -> list[Path]:
    """Save one screenshot per page of `SHOTS` into `out`; returns the files."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "nst.duckdb"
        shutil.copy(db, copy)
        with dashboard(HERE, copy, sys.executable, Path(tmp) / "streamlit.log") as url, sync_playwright() as p:
            browser = _browser(p)
            page = _page(browser)
            # Streamlit scrolls its main area inside the page, so a "full page" shot is one
            # viewport: a tall viewport shows the whole page.
            page.set_viewport_size({"width": 1400, "height": height})
            for name, (key, path) in SHOTS.items():
                load(page, f"{url}/{path.format(**ids)}", TITLES[key], settle, timeout)
                saved.append(out / f"{name}.png")
                page.screenshot(path=str(saved[-1]), full_page=True)
            browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.screenshots", description=__doc__)
    p.add_argument("--db", required=True, type=Path, help="the store to show (copied first)")
    p.add_argument("--out", type=Path, default=HERE / "dashboard" / "screenshots")
    p.add_argument("--run", help="run id for Run detail")
    p.add_argument("--runs", help="run ids for Compare, comma-separated")
    p.add_argument("--study", help="study id for Studies")
    args = p.parse_args(argv)
    ids = defaults(args.db)
    ids.update({k: v for k, v in (("run", args.run), ("runs", args.runs), ("study", args.study)) if v})
    for path in take(args.db, args.out, ids):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
