"""Large outputs, measured: `python -m bench.large`.

For each `--case BACKBONE:SIZE` runs ONE transfer in a child process (`python -m
bench.large --child ...`) under `/usr/bin/time -v`, coarse to fine (`--scales`) with the
scales above `--max-tile-px` optimised in tiles (`engine.tiling`), and reports what it
cost against what `engine.memory.estimate` said it would:

    python -m bench.large --weights-vgg16 ../shared/weights/vgg16_notop_hed.h5 \\
        --weights-resnet50 ../shared/weights/resnet50_notop.h5 \\
        --case vgg16:2048 --case resnet50:2048 --case resnet50:4096 --out bench/out/large

The child prints the estimate first, runs `run_transfer` (no snapshots), saves the output
PNG and prints a JSON line: backbone, size, tiles, estimated peak, steps, seconds, the
seam ratio of the output over the last scale's tile grid (`engine.tiling.seam_ratio`,
1 = no seam), and the network-free fidelity metrics against the photo and the painting
(`engine.metrics.fidelity_metrics`; outputs larger than `--metrics-px` are downscaled to it
first, and the row says so). The parent adds the measured peak resident memory and wall
time ("Maximum resident set size" and "Elapsed (wall clock)" of `time -v`; without
/usr/bin/time, `resource.getrusage(RUSAGE_CHILDREN)`), appends the row to
`OUT/large.jsonl` and prints a Markdown table. A rerun skips cases already measured with
the same settings (`--again` measures them anew).

The default photo (tubingen) is 1024 px: larger outputs upscale it (the row says so), which
is fine for a memory and seam measurement. This is a benchmark: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.controls import IMAGES, find_image  # noqa: E402
from engine.memory import GIB  # noqa: E402

TIME = "/usr/bin/time"
RESULT = "RESULT "  # the child's JSON line starts with this
METRICS = ("color_ratio", "texture_ratio", "ssim")
SETTINGS = ("max_tile_px", "scales", "iterations", "coarse_iterations", "photo", "style", "seed")


def parse_case(text: str) -> tuple[str, int]:
    """'resnet50:2048' -> ('resnet50', 2048)."""
    backbone, _, size = text.partition(":")
    if not size.isdigit():
        raise SystemExit(f"a case is BACKBONE:SIZE, e.g. resnet50:2048, got {text!r}")
    return backbone, int(size)


# --- the parent: one measured child per case ------------------------------------------


def parse_time_v(text: str) -> dict[str, float]:
    """Peak RSS (bytes) and wall seconds from GNU time's `-v` report (missing: absent)."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.strip().rpartition(": ")
        if name == "Maximum resident set size (kbytes)":
            found["peak_bytes"] = float(value) * 1024
        elif name.startswith("Elapsed (wall clock) time"):
            seconds = 0.0
            for part in value.split(":"):  # h:mm:ss or m:ss.ss
                seconds = seconds * 60 + float(part)
            found["wall_s"] = seconds
    return found


def measure(cmd: list[str], use_time: bool = True) -> dict[str, Any]:
    """Run `cmd`, echoing its standard output; returns its exit code, output lines, peak
    resident memory (bytes) and wall seconds, and where the peak came from: `time -v`, or
    `getrusage(RUSAGE_CHILDREN)`, which is the largest of every child this process has
    waited for, so a child smaller than an earlier one is only bounded by it ("<=")."""
    use_time = use_time and os.access(TIME, os.X_OK)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    with tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [TIME, "-v", *cmd] if use_time else cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT
        )
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if not line.startswith(RESULT):
                print("  " + line, end="", flush=True)
        rc = proc.wait()
        wall = time.perf_counter() - t0
        err.seek(0)
        stderr = err.read()
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    measured: dict[str, Any] = {"rc": rc, "lines": lines, "stderr": stderr, "wall_s": wall}
    timed = parse_time_v(stderr) if use_time else {}
    if "peak_bytes" in timed:
        measured.update(timed, peak_source="time -v")
    else:
        measured.update(peak_bytes=after, peak_source="getrusage" if after > before else "getrusage (<=)")
    return measured


def child_command(args: argparse.Namespace, case: str) -> list[str]:
    cmd = [sys.executable, "-m", "bench.large", "--child", "--case", case]
    for name in ("max_tile_px", "scales", "iterations", "coarse_iterations", "seed", "metrics_px"):
        value = getattr(args, name)
        if value is not None:
            cmd += [f"--{name.replace('_', '-')}", str(value)]
    for name in ("images", "photo", "style", "out", "weights_vgg16", "weights_resnet50"):
        value = getattr(args, name)
        if value is not None:
            cmd += [f"--{name.replace('_', '-')}", str(value)]
    return cmd


def _key(row: dict[str, Any]) -> str:
    return json.dumps({k: row.get(k) for k in ("case", *SETTINGS)}, sort_keys=True)


def run_cases(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Measure every case not yet in `OUT/large.jsonl` (all of them with `--again`);
    returns the rows of this invocation's cases."""
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "large.jsonl"
    old = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    settings = {k: getattr(args, k) for k in SETTINGS}
    rows = []
    for case in args.case:
        wanted = _key({"case": case, **settings})
        previous = [r for r in old if _key(r) == wanted]
        if previous and not args.again:
            print(f"{case}: measured before (--again to measure anew)")
            rows.append(previous[-1])
            continue
        print(f"{case}:", flush=True)
        got = measure(child_command(args, case), use_time=not args.no_time)
        results_lines = [json.loads(line[len(RESULT) :]) for line in got["lines"] if line.startswith(RESULT)]
        row = {"case": case, **settings}
        if got["rc"] == 0 and results_lines:
            row.update(results_lines[-1])
        else:
            tail = [  # the child's last words, not time's report
                line
                for line in got["stderr"].splitlines()
                if line.strip() and not line.startswith(("\t", "Command exited with non-zero status"))
            ]
            row["error"] = f"exit code {got['rc']}: {tail[-1] if tail else 'no output'}"[:300]
        row.update(
            measured_peak_gib=got["peak_bytes"] / GIB,
            peak_source=got["peak_source"],
            process_wall_s=got.get("wall_s"),
        )
        with results.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        rows.append(row)
    return rows


def _fmt(value: Any, spec: str = ".3g") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, spec) if isinstance(value, int | float) else str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown row per case."""
    head = (
        "| case | scales (tiled) | tiles | estimated peak GiB | measured peak GiB | wall s (transfer) | seam ratio | "
    )
    lines = [head + " | ".join(METRICS) + " |", "|" + "---|" * (7 + len(METRICS))]
    notes = set()
    for r in rows:
        measured = _fmt(r.get("measured_peak_gib"), ".2f") + (" (<=)" if "<=" in r.get("peak_source", "") else "")
        if "error" in r:
            lines.append(f"| {r['case']} | {r['error']} | | | {measured} | | |" + " |" * len(METRICS))
            continue
        scales = " → ".join(f"{s}{'*' if s in r['tiled_sizes'] else ''}" for s in r["scale_sizes"])
        wall = f"{_fmt(r.get('process_wall_s'), '.0f')} ({_fmt(r['transfer_s'], '.0f')})"
        cells = [
            r["case"],
            scales,
            f"{r['tiles']} × {r['tile_px']} px" if r["tiles"] else "untiled",
            _fmt(r["estimate_gib"], ".2f"),
            measured,
            wall,
            _fmt(r["seam_ratio"], ".3f"),
            *(_fmt(r[m]) for m in METRICS),
        ]
        lines.append("| " + " | ".join(cells) + " |")
        if r.get("metrics_px"):
            notes.add(f"metrics on the output downscaled to {r['metrics_px']} px")
        if r.get("upscaled"):
            notes.add(f"the photo ({r['content_px']} px) upscaled to the output size")
    lines.append("")
    lines.append("`*`: a tiled scale. Wall: the whole child process (loading included); in brackets the transfer.")
    lines.extend(f"Note: {n}." for n in sorted(notes))
    return "\n".join(lines)


# --- the child: one transfer ------------------------------------------------------------


def child(args: argparse.Namespace) -> int:
    """One case: the estimate, the transfer, the output PNG and a `RESULT {json}` line."""
    import numpy as np

    from engine.backbones import get_backbone
    from engine.config import TransferConfig, scale_sizes, validate
    from engine.images import load_image_file, resize_longest
    from engine.memory import estimate
    from engine.metrics import fidelity_metrics, reference_images
    from engine.tiling import seam_ratio, tile_grid

    backbone, size = parse_case(args.case[0])
    photo = load_image_file(find_image(args.images, "content", args.photo))
    painting = load_image_file(find_image(args.images, "style", args.style))
    weights = getattr(args, f"weights_{backbone}") or "imagenet"
    cfg = validate(
        TransferConfig(
            backbone=backbone,
            size=size,
            iterations=args.iterations,
            scales=args.scales,
            coarse_iterations=args.coarse_iterations if args.scales > 1 else None,
            max_tile_px=args.max_tile_px,
            weights=weights,
            snapshot_every=0,
            seed=args.seed,
        )
    )
    est = estimate(cfg, photo.shape[:2])
    print(f"estimate: {est.describe()}", flush=True)

    from engine.transfer import run_transfer  # TensorFlow: after the estimate is out
    from engine.weights import load_backbone

    t0 = time.perf_counter()
    model = load_backbone(get_backbone(backbone), weights)
    load_s = time.perf_counter() - t0
    result = run_transfer(cfg, photo, painting, model=model)
    image = result.image
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"large_{backbone}_{size}_tile{cfg.max_tile_px}.png"
    from PIL import Image

    Image.fromarray(image).save(args.out / name)

    h, w = image.shape[:2]
    tiled = bool(cfg.max_tile_px) and size > cfg.max_tile_px
    seam = seam_ratio(image, tile_grid(h, w, cfg.max_tile_px)) if tiled else math.nan
    min_size = get_backbone(backbone).min_size
    shrink = max(h, w) > args.metrics_px
    small = resize_longest(image, args.metrics_px, min_size) if shrink else image
    content, style = reference_images(small, photo, painting, max(small.shape[:2]), min_size)
    metrics = {k: float(v) for k, v in fidelity_metrics(small, content, style).items()}
    sizes = scale_sizes(cfg)
    row = {
        "backbone": backbone,
        "size": size,
        "output_shape": [h, w],
        "scale_sizes": sizes,
        "tiled_sizes": [s for s in sizes if cfg.max_tile_px and s > cfg.max_tile_px],
        "tiles": est.tiles,
        "tile_px": est.tile,
        "estimate_gib": est.peak / GIB,
        "estimate": est.describe(),
        "steps": result.steps_done,
        "load_s": load_s,
        "transfer_s": result.wall_seconds,
        "seam_ratio": seam,
        "content_px": int(max(photo.shape[:2])),
        "upscaled": size > max(photo.shape[:2]),
        "metrics_px": args.metrics_px if shrink else None,
        "output_loss": result.total_loss,
        "self_peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB,
        "image": name,
        **metrics,
    }
    print(RESULT + json.dumps(row, default=lambda x: x.item() if isinstance(x, np.generic) else str(x)), flush=True)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.large", description=__doc__.split("\n\n")[0])
    p.add_argument("--case", action="append", help="BACKBONE:SIZE, repeatable (default resnet50:2048)")
    p.add_argument("--max-tile-px", type=int, default=1024)
    p.add_argument("--scales", type=int, default=3)
    p.add_argument("--iterations", type=int, default=200, help="steps in all scales together")
    p.add_argument("--coarse-iterations", type=int, default=60, help="steps at each scale below the full size")
    p.add_argument("--seed", type=int, default=0)
    for name in ("vgg16", "resnet50"):
        p.add_argument(f"--weights-{name}", help=f"{name} weights: a .h5 file, imagenet (default) or none")
    p.add_argument("--images", type=Path, default=IMAGES, help="folder with content/ and style/ (default ../shared)")
    p.add_argument("--photo", default="tubingen", help="content image by file stem")
    p.add_argument("--style", default="starry_night", help="painting by file stem")
    p.add_argument("--metrics-px", type=int, default=512, help="downscale larger outputs to this for the metrics")
    p.add_argument("--out", type=Path, default=Path("bench/out/large"))
    p.add_argument("--again", action="store_true", help="measure cases already in OUT/large.jsonl anew")
    p.add_argument("--no-time", action="store_true", help="measure with getrusage, not /usr/bin/time -v")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.case = args.case or ["resnet50:2048"]
    args.out = args.out.resolve()  # the child runs from the repository root
    args.images = args.images.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args)
    rows = run_cases(args)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
