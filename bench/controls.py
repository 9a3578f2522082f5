"""What each creative control does, side by side: `python -m bench.controls`.

Makes README's small gallery of issue 14's controls from one photo and two paintings of
the sample set (`../shared/images`, see SOURCES.md there), each run through
`engine.transfer.run_transfer` with real weights:

    (a) blend     painting A alone, B alone, A+B blended 0.7/0.3 and 0.3/0.7
    (b) colours   --preserve-colors none / luminance / histogram
    (c) regions   A on the left half and B on the right (two masks), A on the sky only
                  (a top-third mask); the masks are saved as PNGs too
    (d) scale     --style-scale 0.5 / 1 / 2
    (e) tiling    the same run untiled and with --max-tile-px half the size; the seam
                  ratio (`engine.tiling.seam_ratio`, 1 = no seam) of both outputs over the
                  tiled run's tile grid (the untiled one is the baseline)

    python -m bench.controls --weights-resnet50 ../shared/weights/resnet50_notop.h5 \\
        --size 256 --iterations 150 --out bench/out/controls

Writes every output PNG, `OUT/results.jsonl` (a line per cell: control, value, seconds,
the network-free fidelity metrics of `engine.metrics.fidelity_metrics` against the photo
and the cell's main painting, the seam ratio where tiled) and `OUT/controls.png`, a contact
sheet (at most 1600 px wide, a quantised PNG under 1.5 MB) with every tile captioned, and
prints a Markdown table. Cells that are the same run (A alone = colours none = scale 1 =
untiled) run once; the others reuse its image and say so ("the run of ..."). A rerun
skips the cells already in the results file. Real weights are needed for a meaningful
picture (random features stylise nothing). This is a benchmark: it asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from engine.backbones import get_backbone  # noqa: E402
from engine.config import TransferConfig, validate  # noqa: E402
from engine.errors import DivergedError  # noqa: E402
from engine.images import load_image_file, resize_longest  # noqa: E402
from engine.metrics import fidelity_metrics, reference_images  # noqa: E402
from engine.tiling import seam_ratio, tile_grid  # noqa: E402

IMAGES = Path(__file__).resolve().parent.parent.parent / "shared" / "images"
ROWS = {"a": "blend", "b": "colours", "c": "regions", "d": "style scale", "e": "tiling"}
METRICS = ("color_ratio", "texture_ratio", "ssim")
SHEET_MAX_WIDTH = 1600
SHEET_MAX_BYTES = 1_500_000
CAPTION_PX = 34


@dataclass(frozen=True)
class Cell:
    """One output of the gallery: a control's value as config overrides, the paintings
    (by role: "A", "B") and the masks (by name, one per painting, or none)."""

    row: str
    value: str
    overrides: dict[str, Any] = field(default_factory=dict)
    styles: tuple[str, ...] = ("A",)
    masks: tuple[str, ...] = ()

    @property
    def control(self) -> str:
        return ROWS[self.row]

    @property
    def main_style(self) -> str:
        """The painting the metrics compare with: the heaviest (the first on a tie)."""
        weights = self.overrides.get("style_blend_weights") or (1.0,) * len(self.styles)
        return self.styles[int(np.argmax(weights))]


def cells(row: str, size: int) -> list[Cell]:
    """The cells of one gallery row."""
    if row == "a":
        return [
            Cell("a", "A alone", styles=("A",)),
            Cell("a", "B alone", styles=("B",)),
            Cell("a", "A+B 0.7/0.3", {"style_blend_weights": (0.7, 0.3)}, ("A", "B")),
            Cell("a", "A+B 0.3/0.7", {"style_blend_weights": (0.3, 0.7)}, ("A", "B")),
        ]
    if row == "b":
        return [Cell("b", mode, {"preserve_colors": mode}) for mode in ("none", "luminance", "histogram")]
    if row == "c":
        return [
            Cell("c", "A left, B right", styles=("A", "B"), masks=("left", "right")),
            Cell("c", "A on the sky (top third)", styles=("A",), masks=("top",)),
        ]
    if row == "d":
        return [Cell("d", f"{s:g}", {"style_scale": s}) for s in (0.5, 1.0, 2.0)]
    if row == "e":
        return [
            Cell("e", "untiled", {"max_tile_px": 0}),
            Cell("e", f"tiles of {size // 2} px", {"max_tile_px": size // 2}),
        ]
    raise SystemExit(f"unknown row {row!r}: choose from {', '.join(ROWS)}")


def find_image(images: Path, kind: str, name: str) -> Path:
    """`images/kind/name` with any image extension (name may carry its own)."""
    folder = images / kind
    if (folder / name).is_file():
        return folder / name
    found = sorted(p for p in folder.glob(f"{name}.*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not found:
        raise SystemExit(f"no {kind} image {name!r} in {folder}")
    return found[0]


def make_masks(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """The region masks over an output of `shape` (h, w), uint8 0/255: the left and the
    right half, and the top third (the sky of the sample photos)."""
    h, w = shape
    left = np.zeros((h, w), np.uint8)
    left[:, : w // 2] = 255
    top = np.zeros((h, w), np.uint8)
    top[: h // 3] = 255
    return {"left": left, "right": 255 - left, "top": top}


def _key(row: dict[str, Any]) -> str:
    return json.dumps(
        {k: row[k] for k in ("row", "value", "backbone", "size", "iterations", "photo", "styles")}, sort_keys=True
    )


def _file_name(row: dict[str, Any]) -> str:
    value = "".join(c if c.isalnum() or c in ".-" else "_" for c in row["value"]).strip("_")
    return f"{row['backbone']}_{row['size']}_{row['row']}_{value}.png"


def _row(args: argparse.Namespace, cell, col: int, backbone: str, paintings: dict, shape: tuple) -> dict[str, Any]:
    """A cell's identity in the results file (what `_key` compares)."""
    return {
        "row": cell.row,
        "col": col,
        "control": cell.control,
        "value": cell.value,
        "backbone": backbone,
        "size": args.size,
        "iterations": args.iterations,
        "photo": args.photo,
        "styles": [paintings[s] for s in cell.styles],
        "masks": [f"mask_{m}_{shape[1]}x{shape[0]}.png" for m in cell.masks],
        "metrics_vs": paintings[cell.main_style],
    }


def _transfer(args, cfg, cell, row: dict, model, photo, styles: dict, masks: dict) -> np.ndarray | None:
    """Run one cell, score it and save its image into `row`; None when it diverged."""
    from engine.transfer import run_transfer  # TensorFlow: only when something runs

    chosen = [styles[s] for s in cell.styles]
    regions = [masks[m] for m in cell.masks] or None
    t0 = time.perf_counter()
    try:
        result = run_transfer(cfg, photo, chosen if len(chosen) > 1 else chosen[0], model=model, masks=regions)
    except DivergedError as exc:  # a result too: this control does not work here
        row.update(error=str(exc), seconds=time.perf_counter() - t0)
        return None
    row["seconds"] = time.perf_counter() - t0
    row.update(_scores(result.image, photo, styles[cell.main_style], cfg))
    row["output_loss"] = result.total_loss
    row["image"] = _file_name(row)
    Image.fromarray(result.image).save(args.out / row["image"])
    return result.image


def _cell_config(args: argparse.Namespace, backbone: str, weights: str, cell) -> TransferConfig:
    base = dict(size=args.size, iterations=args.iterations, weights=weights, snapshot_every=0, seed=args.seed)
    return validate(TransferConfig(backbone=backbone, **base, **cell.overrides))


def run_cells(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every cell of the requested rows not yet in the results file; all rows of the file."""
    from engine.weights import load_backbone  # TensorFlow: only when something runs

    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    done = {_key(json.loads(line)) for line in results.read_text().splitlines()} if results.exists() else set()
    photo = load_image_file(find_image(args.images, "content", args.photo))
    paintings = {"A": args.style_a, "B": args.style_b}
    styles = {role: load_image_file(find_image(args.images, "style", name)) for role, name in paintings.items()}
    for backbone in args.backbones.split(","):
        weights = getattr(args, f"weights_{backbone}") or "imagenet"
        model, made = None, {}
        shape = resize_longest(photo, args.size, get_backbone(backbone).min_size).shape[:2]
        masks = make_masks(shape)
        for name, mask in masks.items():
            Image.fromarray(mask).save(args.out / f"mask_{name}_{shape[1]}x{shape[0]}.png")
        for letter in args.rows.split(","):
            for col, cell in enumerate(cells(letter.strip(), args.size)):
                row = _row(args, cell, col, backbone, paintings, shape)
                if _key(row) in done:
                    continue
                cfg = _cell_config(args, backbone, weights, cell)
                same = (cfg, cell.styles, cell.masks)  # e.g. "A alone" = colours "none" = scale 1 = untiled
                if same in made:  # the same run again gives the same image: reuse it, say so
                    first = made[same]
                    row.update({k: v for k, v in first.items() if k not in row})
                    row["same_as"] = f"({first['row']}) {first['value']}"
                    image = np.asarray(Image.open(args.out / first["image"]))
                else:
                    model = model if model is not None else load_backbone(get_backbone(backbone), weights)
                    image = _transfer(args, cfg, cell, row, model, photo, styles, masks)
                    if image is not None:
                        made[same] = {k: v for k, v in row.items() if k != "seam_ratio"}
                if cell.row == "e" and image is not None:
                    grid = tile_grid(*image.shape[:2], args.size // 2)
                    row["seam_ratio"] = seam_ratio(image, grid)
                    row["seam_grid"] = f"{len(grid)} tiles of {args.size // 2} px"
                with results.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
                print(_line(row), flush=True)
    return [json.loads(line) for line in results.read_text().splitlines()]


def _scores(output: np.ndarray, photo: np.ndarray, painting: np.ndarray, cfg: TransferConfig) -> dict[str, float]:
    """The network-free metrics of an output against the photo and the painting as the
    runner measures a run's (the painting at the output's size, not the style scale's)."""
    content, style = reference_images(output, photo, painting, cfg.size, get_backbone(cfg.backbone).min_size)
    return {k: float(v) for k, v in fidelity_metrics(output, content, style).items()}


def _line(row: dict[str, Any]) -> str:
    head = f"{row['backbone']:9} {row['size']:4} ({row['row']}) {row['control']}: {row['value']}"
    if "error" in row:
        return f"{head}  {row['error']}"
    metrics = " ".join(f"{m}={row[m]:.3g}" for m in METRICS)
    seam = f" seam_ratio={row['seam_ratio']:.3g}" if "seam_ratio" in row else ""
    again = f" (the run of {row['same_as']})" if "same_as" in row else ""
    return f"{head}  {metrics}{seam} {row['seconds']:.0f}s{again}"


def _fmt(value: Any) -> str:
    return "" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown row per cell: control, value, seconds, metrics and the seam ratio."""
    lines = ["| backbone | control | value | s | " + " | ".join(METRICS) + " | seam ratio | metrics vs |"]
    lines.append("|" + "---|" * (len(METRICS) + 6))
    for r in sorted(rows, key=lambda r: (r["backbone"], r["row"], r["col"])):
        if "error" in r:
            cells_ = f"{_fmt(r['seconds'])} | {r['error']} |" + " |" * (len(METRICS) + 1)
        else:
            cells_ = " | ".join(
                [f"{r['seconds']:.0f}", *(_fmt(r[m]) for m in METRICS), _fmt(r.get("seam_ratio")), r["metrics_vs"]]
            )
        value = f"{r['value']} (the run of {r['same_as']})" if "same_as" in r else r["value"]
        lines.append(f"| {r['backbone']} | ({r['row']}) {r['control']} | {value} | {cells_} |")
    return "\n".join(lines)


def _font(px: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=px)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _fit(img: Image.Image, width: int, height: int) -> Image.Image:
    """`img` scaled (up or down) to fit width x height, its aspect ratio kept."""
    scale = min(width / img.width, height / img.height)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def _caption(r: dict[str, Any]) -> tuple[str, str]:
    first = f"{r['control']}: {r['value']}"
    if "error" in r:
        return first, r["error"][:40]
    second = f"colour {r['color_ratio']:.2f}  texture {r['texture_ratio']:.2f}  ssim {r['ssim']:.2f}"
    if "seam_ratio" in r:
        second = f"seam ratio {r['seam_ratio']:.2f}  ssim {r['ssim']:.2f}"
    return first, second


def contact_sheet(
    rows: list[dict[str, Any]], out: Path, path: Path, photo: Path, paintings: dict[str, Path], title: str = ""
) -> int:
    """Draw the gallery: a title line, a row with the inputs (the photo, painting A,
    painting B), then a row per control, every tile captioned with the control, its value
    and its metrics; region tiles carry their masks as framed insets. Tiles have the
    photo's aspect ratio. Saved quantised; returns its size in bytes."""
    by_row: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in sorted(rows, key=lambda r: r["col"]):
        by_row.setdefault((r["backbone"], r["row"]), []).append(r)
    columns = max([3, *(len(v) for v in by_row.values())])
    width = min(256, SHEET_MAX_WIDTH // columns)
    pw, ph = Image.open(photo).size
    height = min(width, max(width // 2, round(width * ph / pw)))
    pitch, head = height + CAPTION_PX, 22 if title else 0
    sheet = Image.new("RGB", (columns * width, head + (1 + len(by_row)) * pitch), "white")
    draw = ImageDraw.Draw(sheet)
    font = _font(12)
    if title:
        draw.text((4, 4), title, fill="black", font=_font(13))

    def tile(img: Image.Image, x: int, y: int, caption: tuple[str, str]) -> tuple[int, int]:
        """Paste `img` fitted into cell (x, y), captioned; returns its bottom-left corner."""
        img = _fit(img, width - 2, height - 2)
        left, top = x * width + (width - img.width) // 2, head + y * pitch + (height - img.height) // 2
        sheet.paste(img, (left, top))
        for i, text in enumerate(caption):
            draw.text((x * width + 4, head + y * pitch + height + 2 + 15 * i), text, fill="black", font=font)
        return left, top + img.height

    tile(Image.open(photo), 0, 0, ("photo", photo.stem))
    for x, (role, painting) in enumerate(paintings.items(), start=1):
        tile(Image.open(painting), x, 0, (f"painting {role}", painting.stem))
    for y, key in enumerate(sorted(by_row), start=1):
        for x, r in enumerate(by_row[key]):
            img = Image.open(out / r["image"]) if "image" in r else Image.new("RGB", (pw, ph), "lightgrey")
            caption = _caption(r)
            if len({b for b, _ in by_row}) > 1:  # several backbones: say which
                caption = (f"{r['backbone']} {caption[0]}", caption[1])
            left, bottom = tile(img, x, y, caption)
            for i, mask in enumerate(r.get("masks", [])):  # insets on the output, bottom left, framed
                inset = _fit(Image.open(out / mask), width // 5, height // 5)
                at = (left + 4 + i * (inset.width + 5), bottom - inset.height - 4)
                sheet.paste(inset, at)
                draw.rectangle((at[0] - 1, at[1] - 1, at[0] + inset.width, at[1] + inset.height), outline="red")
    return save_small(sheet, path)


def save_small(sheet: Image.Image, path: Path) -> int:
    """Save `sheet` as a palette PNG, with fewer colours until it is under the size limit."""
    for colors in (256, 128, 64, 32):
        buf = io.BytesIO()
        sheet.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(buf, "PNG", optimize=True)
        if buf.tell() < SHEET_MAX_BYTES:
            break
    path.write_bytes(buf.getvalue())
    return buf.tell()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.controls", description=__doc__.split("\n\n")[0])
    p.add_argument("--backbones", default="resnet50", help="comma-separated (default resnet50: its file is genuine)")
    for name in ("vgg16", "resnet50"):
        p.add_argument(f"--weights-{name}", help=f"{name} weights: a .h5 file, imagenet (default) or none")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rows", default="a,b,c,d,e", help="which rows: " + ", ".join(f"{k} {v}" for k, v in ROWS.items()))
    p.add_argument("--images", type=Path, default=IMAGES, help="folder with content/ and style/ (default ../shared)")
    p.add_argument("--photo", default="tubingen", help="content image by file stem")
    p.add_argument("--style-a", default="starry_night", help="painting A by file stem")
    p.add_argument("--style-b", default="great_wave", help="painting B by file stem")
    p.add_argument("--out", type=Path, default=Path("bench/out/controls"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = run_cells(args)
    wanted = {r.strip() for r in args.rows.split(",")}
    shown = [
        r
        for r in rows
        if r["row"] in wanted
        and r["size"] == args.size
        and r["iterations"] == args.iterations
        and r["photo"] == args.photo
        and r["backbone"] in args.backbones.split(",")
        and set(r["styles"]) <= {args.style_a, args.style_b}
    ]
    print(table(shown))
    roles = (("A", args.style_a), ("B", args.style_b))
    paintings = {role: find_image(args.images, "style", name) for role, name in roles}
    photo = find_image(args.images, "content", args.photo)
    weights = {b: Path(getattr(args, f"weights_{b}") or "imagenet").name for b in args.backbones.split(",")}
    title = (
        f"{args.size} px, {args.iterations} steps, weights "
        + ", ".join(f"{b}: {w}" for b, w in weights.items())
        + ". colour, texture: the output's distance to the painting over the photo's (lower: more like it)"
    )
    size = contact_sheet(shown, args.out, args.out / "controls.png", photo, paintings, title)
    print(f"contact sheet: {args.out / 'controls.png'} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
