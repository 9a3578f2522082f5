"""Dashboard page and interaction timings in a real browser (issue 11 #16):
`python -m bench.pages [--root DIR] [--runs 1000] [--iterations 1000] [--repeat 5]`.

Starts `streamlit run dashboard/Home.py` from the checkout `--root` (default: this one) on
a free loopback port, on a copy of a synthetic store built by that checkout's own
`store.synthetic` (cached under --cache, one store per version of the root's `store/`), with
`NST_NO_WORKER=1`, and drives Debian's Chromium through Playwright. Measured, as medians:

- each page's warm load (Home, Launch, Gallery, Run detail `?run=ID`, Compare
  `?runs=ID,ID`, Studies): from navigation until Streamlit reports the script run finished
  (`stApp[data-test-script-state=notRunning]`, no `stStatusWidget`), the page's title is
  shown, no chart placeholder (`stSkeleton`) is left, every chart has drawn and every image
  in the main area has loaded, and it stays so for --settle seconds (not counted). `load` is
  measured from the start of navigation (includes loading the frontend and opening a new
  session; the server's caches are warm), `script run only` from the start of the script
  run, `drawing after the run` from the end of the last script run (the browser drawing
  charts and loading images);
- each page opened from the sidebar in the same session (a user moving between pages):
  from the click until the page is ready;
- one widget change on Gallery ("Per page") and Compare ("Colour by") and one step of Run
  detail's snapshot slider: from the input until the same condition holds after the rerun;
- the first (cold) Launch load: a fresh server, Launch opened first.

The script imports nothing from the project, so the same script times an old checkout
and a new one (`--root /path/to/old`). Benchmarks are not tests: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
# What each page's st.title says (the same in old and new checkouts).
TITLES = {
    "home": "Neural style transfer workbench",
    "launch": "Launch",
    "gallery": "Gallery",
    "run": "Run detail",
    "compare": "Compare runs",
    "studies": "Studies",
}
# Each page's link text in the sidebar.
NAV_LABELS = {
    "home": "Home",
    "launch": "Launch",
    "gallery": "Gallery",
    "run": "Run detail",
    "compare": "Compare",
    "studies": "Studies",
}
# Widgets changed on each page, by key; the first key found on the page is used.
GALLERY_WIDGETS = ("gallery_page_size",)
COMPARE_WIDGETS = ("compare_color", "compare_colour", "compare_color_by")
SNAPSHOT_SLIDERS = ("detail_snapshot_step",)

# Builds the synthetic store with the root's own code (run with cwd=root), adds snapshots
# to the oldest run (the synthetic runs have none) so Run detail has a slider, and prints
# the ids to open: that run, and the newest run of each backbone (Compare's old default).
BUILD = r"""
import json, sys
sys.path.insert(0, ".")
import numpy as np
from store.db import connect
from store.images import insert_blobs, make_blob
from store.synthetic import make_synthetic_store

db, runs, iterations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
make_synthetic_store(db, runs, iterations)
rng = np.random.default_rng(1)
with connect(db) as con:
    run = con.execute("SELECT min(id) FROM runs").fetchone()[0]
    every = max(1, iterations // 10)
    steps = list(range(every, iterations + 1, every))
    blobs = [make_blob(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)) for _ in steps]
    insert_blobs(con, blobs)
    con.executemany("INSERT INTO snapshots VALUES (?, ?, ?)", [[run, s, b.id] for s, b in zip(steps, blobs)])
    newest = [r[0] for r in con.execute("SELECT max(id) FROM runs GROUP BY backbone ORDER BY 1").fetchall()]
print(json.dumps({"run": run, "compare": newest}))
"""

# Runs in every page before its own scripts: counts script runs and records when the page
# became ready (performance.now() ms; reset whenever a script run starts).
PROBE = r"""
(() => {
  const b = (window.__nstBench = { runs: 0, runStart: null, finished: null, readySince: null, title: null });
  const ready = () => {
    const app = document.querySelector('[data-testid=stApp]');
    if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
    if (document.querySelector('[data-testid=stStatusWidget]')) return false;
    const main = document.querySelector('[data-testid=stMain]');
    if (!main || main.querySelector('[data-testid=stSkeleton]')) return false;
    const h1 = main.querySelector('h1');
    if (b.title && !(h1 && h1.textContent.includes(b.title))) return false;
    for (const chart of main.querySelectorAll('[data-testid=stVegaLiteChart]'))
      if (!chart.querySelector('canvas, svg')) return false;
    for (const img of main.querySelectorAll('img')) if (!img.complete) return false;
    return true;
  };
  let last = null;
  const check = () => {
    const app = document.querySelector('[data-testid=stApp]');
    const state = app && app.getAttribute('data-test-script-state');
    if (state !== last) {  // count each script run once, however it was noticed
      if (state === 'running' && last !== 'running') {
        b.runs += 1;
        if (b.runStart === null) b.runStart = performance.now();
      }
      if (state === 'notRunning') b.finished = performance.now();
      last = state;
    }
    if (ready()) { if (b.readySince === null) b.readySince = performance.now(); }
    else b.readySince = null;
  };
  setInterval(check, 20);  // images finish loading without a DOM mutation
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true });
})();
"""


@dataclass
class Timings:
    """Measurements in seconds, by name, in the order first measured."""

    values: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, seconds: float) -> None:
        self.values.setdefault(name, []).append(seconds)

    def rows(self) -> list[dict]:
        """One row per measurement: median, min, max and count."""
        return [
            {"metric": name, "value": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}
            for name, v in self.values.items()
        ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def store_key(root: Path, runs: int, iterations: int) -> str:
    """The cache name of a synthetic store: its shape and a hash of the root's `store/`
    sources and of BUILD (another schema or generator gets another store)."""
    digest = hashlib.sha256(BUILD.encode())
    for path in sorted((root / "store").glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return f"pages_{runs}x{iterations}_{digest.hexdigest()[:12]}"


def synthetic_store(root: Path, cache: Path, runs: int, iterations: int, python: str) -> tuple[Path, dict]:
    """Build (once per key, cached in `cache`) the root's synthetic store; returns its
    path and the ids to open (`run`, `compare`)."""
    key = store_key(root, runs, iterations)
    db, ids = cache / f"{key}.duckdb", cache / f"{key}.json"
    if not (db.exists() and ids.exists()):
        cache.mkdir(parents=True, exist_ok=True)
        db.unlink(missing_ok=True)
        print(f"# building a synthetic store of {runs} runs x {iterations} iterations in {db}", file=sys.stderr)
        out = subprocess.run(
            [python, "-c", BUILD, str(db), str(runs), str(iterations)],
            cwd=root,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            capture_output=True,
            text=True,
            check=True,
        )
        ids.write_text(out.stdout.strip().splitlines()[-1])
    return db, json.loads(ids.read_text())


@contextlib.contextmanager
def dashboard(root: Path, db: Path, python: str, log: Path, worker: bool = False) -> Iterator[str]:
    """`streamlit run dashboard/Home.py` from `root` on a free port; yields its URL. No
    worker is started unless `worker` (the browser test's runs are real). Raises
    RuntimeError with the log's tail when it does not start."""
    port = free_port()
    cmd = [python, "-m", "streamlit", "run", "dashboard/Home.py", "--server.port", str(port)]
    cmd += ["--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    env = {**os.environ, "NST_DB": str(db), "TF_CPP_MIN_LOG_LEVEL": "3"}
    if not worker:
        env["NST_NO_WORKER"] = "1"
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("the dashboard did not start:\n" + log.read_text()[-2000:]) from None
                    time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _state(page) -> dict:
    return page.evaluate("() => ({...window.__nstBench, now: performance.now()})")


def wait_ready(page, after_runs: int | None, settle: float, timeout: float) -> dict:
    """Wait until the page has been ready for `settle` seconds (and, with `after_runs`,
    a script run has started since the count was `after_runs`); returns the probe's state."""
    deadline = time.monotonic() + timeout
    while True:
        s = _state(page)
        started = after_runs is None or s["runs"] > after_runs
        if started and s["readySince"] is not None and s["now"] - s["readySince"] >= 1000 * settle:
            return s
        if time.monotonic() > deadline:
            body = page.inner_text("body")[:800]
            raise TimeoutError(f"{page.url} not ready after {timeout:.0f} s (probe {s}); the page shows:\n{body}")
        page.wait_for_timeout(50)


def load(page, url: str, title: str, settle: float, timeout: float) -> tuple[float, float, float]:
    """Open `url` in a new document; seconds from navigation start until the page is
    ready, from the start of the script run until it is ready, and from the end of the
    last script run until it is ready (drawing: charts, images)."""
    page.goto(url, wait_until="commit")
    page.evaluate(f"() => {{ window.__nstBench.title = {json.dumps(title)}; }}")
    s = wait_ready(page, None, settle, timeout)
    start = s["runStart"] if s["runStart"] is not None else 0.0
    finished = s["finished"] if s["finished"] is not None else s["readySince"]
    return s["readySince"] / 1000, (s["readySince"] - start) / 1000, (s["readySince"] - finished) / 1000


def _first_key(page, keys: tuple[str, ...]) -> str | None:
    return next((k for k in keys if page.locator(f".st-key-{k}").count()), None)


def change_selectbox(page, key: str, settle: float, timeout: float) -> float:
    """Pick another option of selectbox `key` (the first two options in turn); seconds
    from the click on the option until the page is ready again."""
    box = page.locator(f".st-key-{key} [role=combobox]")  # Streamlit 1.67: a react-aria ComboBox
    current = box.input_value().strip()
    box.click()
    options = page.locator("[role=listbox] [role=option]")
    options.first.wait_for()
    texts = [t.strip() for t in options.all_inner_texts()]
    target = next(i for i, t in enumerate(texts[:2] + texts) if t != current) % len(texts)
    before = _state(page)
    options.nth(target).click()
    s = wait_ready(page, before["runs"], settle, timeout)
    return (s["readySince"] - before["now"]) / 1000


def step_slider(page, key: str, direction: str, settle: float, timeout: float) -> float:
    """One keyboard step of slider `key`; seconds until the page is ready again."""
    thumb = page.locator(f".st-key-{key} input[type=range]")  # Streamlit 1.67: a react-aria Slider
    thumb.focus()
    before = _state(page)
    thumb.press(direction)
    s = wait_ready(page, before["runs"], settle, timeout)
    return (s["readySince"] - before["now"]) / 1000


def switch_pages(page, paths: dict[str, str], settle: float, timeout: float) -> dict[str, float]:
    """Open each page by clicking its sidebar link (same browser session: how a user moves
    between pages); seconds from the click until the page is ready. A page opened with
    query parameters (`?run=`) is reached without them this way, as a user would."""
    found = {}
    for name in paths:
        before = _state(page)
        page.evaluate(f"() => {{ window.__nstBench.title = {json.dumps(TITLES[name])}; }}")
        page.locator("[data-testid=stSidebarNav] a", has_text=NAV_LABELS[name]).first.click()
        s = wait_ready(page, before["runs"], settle, timeout)
        found[name] = (s["readySince"] - before["now"]) / 1000
    return found


def _browser(p):
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def _page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.add_init_script(PROBE)
    return page


def urls(ids: dict) -> dict[str, str]:
    """The path (and query) of each page."""
    runs = ",".join(str(i) for i in ids["compare"])
    return {
        "home": "",
        "launch": "launch",
        "gallery": "gallery",
        "run": f"run?run={ids['run']}",
        "compare": f"compare?runs={runs}",
        "studies": "studies",
    }


def measure(
    root: Path,
    runs: int = 1000,
    iterations: int = 1000,
    repeat: int = 5,
    cold: int = 2,
    settle: float = 0.5,
    cache: Path | None = None,
    python: str | None = None,
    timeout: float = 180,
) -> Timings:
    """All page and interaction timings of the checkout at `root` (see the module doc)."""
    from playwright.sync_api import sync_playwright

    root = root.resolve()
    python = python or _python(root)
    cache = cache or HERE / "bench" / "out" / "pages_cache"
    source, ids = synthetic_store(root, cache, runs, iterations, python)
    paths, out = urls(ids), Timings()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        db = Path(tmp) / "nst.duckdb"
        browser = _browser(p)
        for _ in range(cold):  # a fresh server each time: Launch is the first page opened
            shutil.copy(source, db)
            with dashboard(root, db, python, Path(tmp) / "streamlit.log") as url:
                page = _page(browser)
                out.add("launch: first (cold) load", load(page, f"{url}/launch", TITLES["launch"], settle, timeout)[0])
                page.close()
        shutil.copy(source, db)
        with dashboard(root, db, python, Path(tmp) / "streamlit.log") as url:
            page = _page(browser)
            for name, path in paths.items():
                load(page, f"{url}/{path}", TITLES[name], settle, timeout)  # warm-up
                for _ in range(repeat):
                    total, script, drawing = load(page, f"{url}/{path}", TITLES[name], settle, timeout)
                    out.add(f"{name}: warm load", total)
                    out.add(f"{name}: warm load, script run only", script)
                    out.add(f"{name}: warm load, drawing after the run", drawing)
            for name, keys, label in (
                ("gallery", GALLERY_WIDGETS, "gallery: change 'Per page'"),
                ("compare", COMPARE_WIDGETS, "compare: change 'Colour by'"),
            ):
                load(page, f"{url}/{paths[name]}", TITLES[name], settle, timeout)
                key = _first_key(page, keys)
                if key is None:
                    out.notes.append(f"{name}: none of the widgets {keys} found")
                    continue
                for _ in range(repeat + 1):
                    out.add(label, change_selectbox(page, key, settle, timeout))
                out.values[label].pop(0)  # the first change is a warm-up
            for _ in range(repeat + 1):  # the first round is a warm-up
                for name, seconds in switch_pages(page, paths, settle, timeout).items():
                    out.add(f"{name}: switch from the sidebar", seconds)
            for name in paths:
                out.values[f"{name}: switch from the sidebar"].pop(0)
            load(page, f"{url}/{paths['run']}", TITLES["run"], settle, timeout)
            key = _first_key(page, SNAPSHOT_SLIDERS)
            if key is None:
                out.notes.append(f"run: none of the sliders {SNAPSHOT_SLIDERS} found")
            else:
                label = "run: snapshot slider step"
                for i in range(repeat + 1):  # back and forth between the last two steps
                    out.add(label, step_slider(page, key, ("ArrowLeft", "ArrowRight")[i % 2], settle, timeout))
                out.values[label].pop(0)  # the first step is a warm-up
        browser.close()
    return out


def _python(root: Path) -> str:
    """The root's own virtual environment's Python if it has one, else this one."""
    own = root / ".venv" / "bin" / "python"
    return str(own) if own.exists() else sys.executable


def table(timings: Timings, header: str) -> str:
    """The timings as a plain-text table."""
    lines = [header, f"{'measurement':<42} {'median s':>9} {'min s':>8} {'max s':>8} {'n':>3}"]
    for r in timings.rows():
        lines.append(f"{r['metric']:<42} {r['value']:>9.3f} {r['min']:>8.3f} {r['max']:>8.3f} {r['n']:>3}")
    lines += [f"# note: {n}" for n in timings.notes]
    return "\n".join(lines)


def rows(timings: Timings) -> list[dict]:
    """Rows for `python -m bench` (benchmark "pages", median seconds)."""
    name = lambda metric: re.sub(r"[^a-z0-9]+", "_", metric.lower()).strip("_") + "_s"  # noqa: E731
    return [{"benchmark": "pages", "metric": name(r["metric"]), "value": r["value"]} for r in timings.rows()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=HERE, help="the checkout to time [default: this one]")
    p.add_argument("--runs", type=int, default=1000, help="runs in the synthetic store")
    p.add_argument("--iterations", type=int, default=1000, help="iterations per synthetic run")
    p.add_argument("--repeat", type=int, default=5, help="timed repeats of each warm measurement")
    p.add_argument("--cold", type=int, default=2, help="fresh servers for the cold Launch load")
    p.add_argument("--settle", type=float, default=0.5, help="seconds a page must stay ready (not counted)")
    p.add_argument("--cache", type=Path, help="where synthetic stores are kept [default: bench/out/pages_cache]")
    p.add_argument("--python", help="the Python that runs the dashboard [default: ROOT/.venv, else this one]")
    p.add_argument("--out", type=Path, help="also write the table to this file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    timings = measure(
        args.root, args.runs, args.iterations, args.repeat, args.cold, args.settle, args.cache, args.python
    )
    header = (
        f"# dashboard timings of {args.root.resolve()} on {args.runs} runs x {args.iterations} iterations, "
        f"{os.cpu_count()} cores; median of {args.repeat} (cold: {args.cold})"
    )
    text = table(timings, header)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
