"""Choosing default settings by measurement: `python -m bench.defaults`.

Runs photo x painting pairs through `engine.transfer.run_transfer` for each backbone,
size and candidate setting, saves every output as a PNG, scores it with the network-free
metrics of `engine.metrics.fidelity_metrics` (never with a backbone's own loss), and
prints a table per setting: the worst value of each metric over the pairs against the
targets below. Results are appended to `OUT/results.jsonl`; a rerun skips what is there,
so a long sweep can be stopped and resumed. `--sheet` draws a contact sheet.

    python -m bench.defaults --weights-vgg16 ../shared/weights/vgg16_notop_hed.h5 \\
        --weights-resnet50 ../shared/weights/resnet50_notop.h5 --sizes 256 --iterations 300 \\
        --grid "style_weight=0.3,1,3" --out bench/out/defaults

Real weights are needed for a meaningful answer (random features stylise nothing). This
is a benchmark: it asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from engine.backbones import get_backbone  # noqa: E402
from engine.config import TransferConfig, validate  # noqa: E402
from engine.errors import DivergedError  # noqa: E402
from engine.images import load_image_file  # noqa: E402
from engine.metrics import fidelity_metrics, reference_images  # noqa: E402
from engine.transfer import run_transfer  # noqa: E402
from engine.weights import load_backbone  # noqa: E402

IMAGES = Path(__file__).resolve().parent.parent.parent / "shared" / "images"
DEV_PAIRS = (
    ("tubingen", "starry_night"),
    ("astronaut", "great_wave"),
    ("coffee", "the_scream"),
    ("tubingen", "composition_vii"),
    ("hubble_deep_field", "shipwreck_minotaur"),
)
# metric -> ("max" | "min", bound): what a good default must reach on every pair.
TARGETS = {
    "color_ratio": ("max", 0.6),
    "texture_ratio": ("max", 0.7),
    "ssim": ("min", 0.35),
    "grid_ratio": ("max", 2.5),
}


def parse_grid(text: str) -> list[dict[str, Any]]:
    """'style_weight=1,3;tv_weight=0,10' -> every combination as config overrides."""
    axes = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, _, values = part.partition("=")
        axes.append([(name.strip(), _value(v.strip())) for v in values.split(",")])
    return [dict(combo) for combo in itertools.product(*axes)] if axes else [{}]


def _value(text: str) -> Any:
    if "+" in text:  # a list value: style_layers=conv1_relu+conv2_block3_out, style_layer_weights=4+2+1
        return tuple(_value(part) for part in text.split("+"))
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def run_one(cfg: TransferConfig, model, content: np.ndarray, style: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """One transfer and its measurements (metrics, seconds, losses, best step)."""
    t0 = time.perf_counter()
    result = run_transfer(cfg, content, style, model=model)
    seconds = time.perf_counter() - t0
    out = result.image
    row = _scores(out, content, style, cfg.size, cfg.backbone)
    row.update(seconds=seconds, total_loss=result.total_loss, best_loss=result.best_loss, best_step=result.best_step)
    return out, row


def rescore(row: dict[str, Any], out: Path) -> dict[str, Any]:
    """A result row with its metrics recomputed from the saved output (after the metrics
    change; the transfer is not rerun)."""
    image = np.asarray(Image.open(out / row["image"]).convert("RGB"))
    photo, painting = row["pair"].split(":")
    content = load_image_file(IMAGES / "content" / f"{photo}.jpg")
    style = load_image_file(IMAGES / "style" / f"{painting}.jpg")
    return {**row, **_scores(image, content, style, row["size"], row["backbone"])}


def _scores(output: np.ndarray, content: np.ndarray, style: np.ndarray, size: int, backbone: str) -> dict[str, float]:
    """The network-free metrics of one output, measured as the runner measures a run's."""
    photo, painting = reference_images(output, content, style, size, get_backbone(backbone).min_size)
    return {k: float(v) for k, v in fidelity_metrics(output, photo, painting).items()}


def _key(row: dict[str, Any]) -> str:
    return json.dumps({k: row[k] for k in ("setting", "backbone", "size", "pair", "iterations")}, sort_keys=True)


def sweep(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every (setting, backbone, size, pair) not yet in the results file."""
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    done = {_key(json.loads(line)) for line in results.read_text().splitlines()} if results.exists() else set()
    pairs = [tuple(p.split(":")) for p in args.pairs.split(",")] if args.pairs else DEV_PAIRS
    for backbone in args.backbones.split(","):
        weights = getattr(args, f"weights_{backbone}") or "imagenet"
        model = load_backbone(get_backbone(backbone), weights)
        for setting, size, (photo, painting) in itertools.product(
            parse_grid(args.grid), map(int, args.sizes.split(",")), pairs
        ):
            row = {"setting": setting, "backbone": backbone, "size": size, "pair": f"{photo}:{painting}"}
            row["iterations"] = args.iterations
            if _key(row) in done:
                continue
            cfg = validate(
                TransferConfig(
                    backbone=backbone,
                    size=size,
                    iterations=args.iterations,
                    weights=weights,
                    snapshot_every=0,
                    **setting,
                )
            )
            content = load_image_file(IMAGES / "content" / f"{photo}.jpg")
            style = load_image_file(IMAGES / "style" / f"{painting}.jpg")
            try:
                out, measured = run_one(cfg, model, content, style)
                row.update(measured, image=_save(args.out, row, out))
            except DivergedError as exc:  # a result too: this setting does not work
                row.update(error=str(exc), seconds=float("nan"))
            with results.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(_line(row), flush=True)
    return [json.loads(line) for line in results.read_text().splitlines()]


def _save(out: Path, row: dict[str, Any], image: np.ndarray) -> str:
    tag = "_".join(f"{k}{v}" for k, v in sorted(row["setting"].items())) or "default"
    if len(tag) > 80:  # layer lists: name the file by a digest of the setting
        tag = hashlib.sha1(json.dumps(row["setting"], sort_keys=True).encode()).hexdigest()[:12]
    # the step count is in the name: a longer run of one setting must not replace a shorter one's image
    name = f"{row['backbone']}_{row['size']}_{row['pair'].replace(':', '-')}_{tag}_{row['iterations']}it.png"
    Image.fromarray(image).save(out / name)
    return name


def _line(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"{row['backbone']:9} {row['size']:4} {row['pair']:32} {json.dumps(row['setting'])} {row['error']}"
    metrics = " ".join(f"{m}={row[m]:.3g}" for m in TARGETS if m in row)
    head = f"{row['backbone']:9} {row['size']:4} {row['pair']:32} {json.dumps(row['setting'])}"
    return f"{head} {metrics} ssim={row['ssim']:.3g} {row['seconds']:.0f}s"


def passes(row: dict[str, Any]) -> bool:
    """Whether one output meets every target."""
    return all(
        m in row and (row[m] <= bound if kind == "max" else row[m] >= bound) for m, (kind, bound) in TARGETS.items()
    )


def summary(rows: list[dict[str, Any]]) -> str:
    """Per (setting, backbone, size): the worst value of each target metric over the
    pairs, median seconds, and how many pairs meet every target."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(json.dumps([row["setting"], row["backbone"], row["size"]], sort_keys=True), []).append(row)
    lines = [
        "| setting | backbone | size | n | " + " | ".join(f"worst {m}" for m in TARGETS) + " | s (median) | pass |"
    ]
    lines.append("|" + "---|" * (len(TARGETS) + 6))
    for key, part in sorted(groups.items()):
        setting, backbone, size = json.loads(key)
        worst = [
            (max if kind == "max" else min)(r.get(m, float("nan")) for r in part) for m, (kind, _) in TARGETS.items()
        ]
        cells = " | ".join(f"{w:.3g}" for w in worst)
        secs = float(np.median([r["seconds"] for r in part]))
        ok = sum(passes(r) for r in part)
        lines.append(
            f"| {json.dumps(setting)} | {backbone} | {size} | {len(part)} | {cells} | {secs:.0f} | {ok}/{len(part)} |"
        )
    return "\n".join(lines)


def detail_table(rows: list[dict[str, Any]]) -> str:
    """A row per output: pair, backbone, size, setting, each target metric, seconds and
    whether it meets every target (README's table)."""
    lines = ["| pair | backbone | size | setting | " + " | ".join(TARGETS) + " | s | meets all |"]
    lines.append("|" + "---|" * (len(TARGETS) + 6))
    for r in sorted(rows, key=lambda r: (json.dumps(r["setting"]), r["size"], r["pair"], r["backbone"])):
        setting = " ".join(f"{ABBREVIATIONS.get(k, k)}={_short(v)}" for k, v in r["setting"].items()) or "defaults"
        if "error" in r:
            cells = f"{r['error']} |" + " |" * len(TARGETS)
        else:
            verdict = "yes" if passes(r) else "no"
            cells = " | ".join(f"{r[m]:.3g}" for m in TARGETS) + f" | {r['seconds']:.0f} | {verdict}"
        lines.append(f"| {r['pair'].replace(':', ' × ')} | {r['backbone']} | {r['size']} | {setting} | {cells} |")
    return "\n".join(lines)


def contact_sheet(
    rows: list[dict[str, Any]], out: Path, path: Path, thumb: int = 192, with_inputs: bool = True
) -> None:
    """One row per pair, one column per (backbone, size, setting), a header naming each
    column: the outputs side by side, the photo and the painting first unless
    `with_inputs` is False (a sheet for the repository holds only outputs)."""
    pairs = sorted({r["pair"] for r in rows})
    columns = sorted({_column(r) for r in rows})
    first = 2 if with_inputs else 0
    head = 28
    sheet = Image.new("RGB", ((len(columns) + first) * thumb, head + len(pairs) * thumb), "white")
    draw = ImageDraw.Draw(sheet)
    for x, col in enumerate(columns, start=first):
        backbone, size, setting = json.loads(col)
        short = " ".join(f"{ABBREVIATIONS.get(k, k)}={_short(v)}" for k, v in setting.items())
        draw.text((x * thumb + 4, 2), f"{backbone} {size} px", fill="black")
        draw.text((x * thumb + 4, 14), short[: thumb // 6], fill="black")
    for y, pair in enumerate(pairs):
        top = head + y * thumb
        if with_inputs:
            photo, painting = pair.split(":")
            for x, source in enumerate((IMAGES / "content" / f"{photo}.jpg", IMAGES / "style" / f"{painting}.jpg")):
                sheet.paste(_thumb(Image.open(source), thumb), (x * thumb, top))
        for x, col in enumerate(columns, start=first):
            match = [r for r in rows if "image" in r and r["pair"] == pair and _column(r) == col]
            if match:
                sheet.paste(_thumb(Image.open(out / match[-1]["image"]), thumb), (x * thumb, top))
    sheet.save(path)


ABBREVIATIONS = {"style_weight": "beta", "tv_weight": "tv", "feature_transform": "ft", "transform_temperature": "T"}


def _short(value: Any) -> str:
    """A setting's value for a label: a number list as 8/4/1, a layer list by its count."""
    if not isinstance(value, list | tuple):
        return str(value)
    if all(isinstance(v, int | float) for v in value):
        return "/".join(f"{v:g}" for v in value)
    return f"{len(value)} layers"


def _column(row: dict[str, Any]) -> str:
    return json.dumps([row["backbone"], row["size"], row["setting"]], sort_keys=True)


def _thumb(img: Image.Image, size: int) -> Image.Image:
    img = img.convert("RGB")
    img.thumbnail((size, size))
    return img


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.defaults", description=__doc__.split("\n\n")[0])
    p.add_argument("--backbones", default="vgg16,resnet50")
    p.add_argument("--sizes", default="256")
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--pairs", help="PHOTO:PAINTING,... by file stem (default: the dev pairs)")
    p.add_argument("--grid", default="", help="settings to try: 'field=v1,v2;field2=...' (config field names)")
    for name in ("vgg16", "resnet50"):
        p.add_argument(f"--weights-{name}", help=f"{name} weights file (default: imagenet)")
    p.add_argument("--out", type=Path, default=Path("bench/out/defaults"))
    p.add_argument("--sheet", type=Path, help="also draw a contact sheet to this PNG")
    p.add_argument("--sheet-outputs-only", action="store_true", help="leave the input images off the sheet")
    p.add_argument("--report-only", action="store_true", help="summarise the results file without running")
    p.add_argument("--detail", action="store_true", help="also print a row per output")
    p.add_argument("--rescore", action="store_true", help="recompute the metrics of the saved outputs, then summarise")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = args.out / "results.jsonl"
    if args.report_only or args.rescore:
        rows = [json.loads(line) for line in results.read_text().splitlines()]
        if args.rescore:
            rows = [rescore(row, args.out) for row in rows]
            results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        rows = sweep(args)
    print(summary(rows))
    if args.detail:
        print(detail_table(rows))
    if args.sheet:
        contact_sheet(rows, args.out, args.sheet, with_inputs=not args.sheet_outputs_only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
