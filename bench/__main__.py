"""Benchmarks: `python -m bench [--quick] [--csv bench/results.csv]`.

Parts (`--only`): step (time per step, bare vs engine, and the per-step speed options),
quality (time to reach plain Adam's loss, per optimiser and scale option), store (logging
cost), query and page (dashboard queries and the Compare page on a synthetic store), and
pages (every page and three interactions timed in Chromium on a synthetic store; not in the
default set, as it needs Chromium and Playwright: `--only pages`, or `python -m bench.pages`
to time another checkout).

Prints one table; with --csv, appends the rows (with machine and date) to a CSV file.
Benchmarks are not tests: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import platform
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench import pages, quality, queries, steps, storage  # noqa: E402
from engine.images import load_image_file  # noqa: E402


def machine() -> str:
    """A short description of where the numbers came from."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"{platform.machine()} {os.cpu_count()} cores, {'GPU' if gpus else 'CPU only'}, TF {tf.__version__}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--sizes", default="128,256,512", help="image sizes for the step benchmark")
    p.add_argument("--backbones", default="vgg16,resnet50")
    p.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    p.add_argument("--rounds", type=int, default=3, help="engine runs, each between two bare ones")
    p.add_argument("--weights", default="none", help="none (timing does not depend on weight values) or a path")
    p.add_argument("--runs", type=int, default=1000, help="runs in the synthetic store")
    p.add_argument("--iterations", type=int, default=1000, help="iterations per synthetic run")
    p.add_argument(
        "--only", default="step,quality,store,query,page", help="which parts to run (also: pages, in a browser)"
    )
    p.add_argument("--quality-size", type=int, default=256, help="target size of the time-to-quality runs")
    p.add_argument("--quality-steps", type=int, default=1000, help="plain Adam steps whose loss is the target")
    p.add_argument("--content", type=Path, help="content image (default: random pixels)")
    p.add_argument("--style", type=Path, help="style image (default: random pixels)")
    for name in ("vgg16", "resnet50"):
        p.add_argument(f"--weights-{name}", help=f"{name} weights for the quality runs [default: --weights]")
    p.add_argument("--quick", action="store_true", help="tiny sizes and stores (what the tests run)")
    p.add_argument("--csv", type=Path, help="append the rows to this CSV file")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.backbones, args.steps, args.runs, args.iterations = "32", "vgg16", 3, 20, 50
        args.rounds = 1
        args.quality_size, args.quality_steps = 64, 10
    return args


def _images(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    content = load_image_file(args.content) if args.content else rng.integers(0, 255, (384, 512, 3), dtype=np.uint8)
    style = load_image_file(args.style) if args.style else rng.integers(0, 255, (512, 512, 3), dtype=np.uint8)
    return content, style


def run_all(args: argparse.Namespace) -> list[dict]:
    parts, rows = set(args.only.split(",")), []
    content, style = _images(args)
    if "step" in parts:
        for size in map(int, args.sizes.split(",")):
            for bb in args.backbones.split(","):
                rows += steps.step_cost(bb, size, args.steps, args.weights, content, style, args.rounds)
    if "quality" in parts:
        for bb in args.backbones.split(","):
            weights = getattr(args, f"weights_{bb}") or args.weights
            rows += quality.time_to_quality(bb, args.quality_size, args.quality_steps, weights, content, style)
    if "store" in parts:
        in_loop, final = storage.logging_seconds(args.iterations)
        rows += [
            {"benchmark": "store", "metric": f"log_{args.iterations}_iterations_in_loop_s", "value": in_loop},
            {"benchmark": "store", "metric": "final_flush_wait_s", "value": final},
        ]
    if parts & {"query", "page"}:
        with tempfile.TemporaryDirectory() as tmp:
            db = queries.synthetic_db(Path(tmp), args.runs, args.iterations)
            if "query" in parts:
                rows += queries.query_rows(db)
            if "page" in parts:
                rows.append(
                    {"benchmark": "page", "metric": "compare_page_s", "value": queries.compare_page_seconds(db)}
                )
    if "pages" in parts:
        repeat, cold = (1, 1) if args.quick else (5, 2)
        timings = pages.measure(Path(__file__).resolve().parent.parent, args.runs, args.iterations, repeat, cold)
        rows += pages.rows(timings)
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"{'benchmark':<10} {'backbone':<9} {'size':>5}  {'metric':<52} {'value':>12}")
    for r in rows:
        where = f"{r['benchmark']:<10} {r.get('backbone', ''):<9} {str(r.get('size', '')):>5}"
        print(f"{where}  {r['metric']:<52} {r['value']:>12.4f}")


def append_csv(path: Path, rows: list[dict], where: str) -> None:
    fields = ["date", "machine", "benchmark", "backbone", "size", "metric", "value"]
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        if new:
            writer.writeheader()
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        for r in rows:
            writer.writerow({"date": stamp, "machine": where, **r})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = run_all(args)
    where = machine()
    print(f"# {where}")
    print_table(rows)
    if args.csv:
        append_csv(args.csv, rows, where)
    return 0


if __name__ == "__main__":
    sys.exit(main())
