"""Mixed precision, measured: `python -m bench.precision accuracy|speed`.

accuracy (any machine): how far a float16 backbone (`--precision mixed`) moves the
    gradient and the losses from float32, for each backbone and loss convention, and for
    several loss scales (0: no scaling) — the measurement behind
    `engine.precision.PRECISIONS["mixed"].loss_scale`. Reports, at the starting image,
    the gradient's cosine with the float32 gradient and its norm ratio, then the total
    loss after `--iterations` steps relative to float32's.

        python -m bench.precision accuracy --weights-vgg16 ../shared/weights/vgg16_notop_hed.h5 \\
            --weights-resnet50 ../shared/weights/resnet50_notop.h5 --size 128 --iterations 50

speed (a GPU): median seconds per step of both backbones in float32 and mixed, with 1 and
    10 steps per compiled call (`steps_per_call`), random weights (the arithmetic is the
    same as with real ones). Prints a Markdown table; writes `precision_speed.json` to
    `$OUT` when that is set. Sized to finish in under 5 minutes on one GPU at 512 px.

        python -m bench.precision speed --size 512 --steps 40

A benchmark: it asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from engine.backbones import BACKBONES, get_backbone  # noqa: E402
from engine.config import TransferConfig, validate  # noqa: E402
from engine.images import load_image_file  # noqa: E402
from engine.optimizers import value_and_grad  # noqa: E402
from engine.precision import PRECISIONS  # noqa: E402
from engine.transfer import FeatureExtractor, initial_image, make_loss_fn, prepare_images, run_transfer  # noqa: E402
from engine.weights import load_backbone  # noqa: E402

IMAGES = Path(__file__).resolve().parent.parent.parent / "shared" / "images"


def _images(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Tübingen and Starry Night when `../shared/images` is there, else seeded noise."""
    try:
        return load_image_file(IMAGES / "content/tubingen.jpg"), load_image_file(IMAGES / "style/starry_night.jpg")
    except OSError:
        rng = np.random.default_rng(0)
        return tuple(rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(2))


def _with_scale(scale: float) -> None:
    """Point `mixed` at another loss scale (a benchmark's experiment; the engine reads the
    registry when a stage is built)."""
    PRECISIONS["mixed"] = dataclasses.replace(PRECISIONS["mixed"], loss_scale=scale)


def start_gradient(cfg: TransferConfig, model, content, style) -> np.ndarray:
    """The gradient of the total loss at the run's starting image, under `cfg.precision`."""
    bb = get_backbone(cfg.backbone)
    c, s = prepare_images(cfg, bb, content, style)
    extractor = FeatureExtractor(model, cfg.content_layer, cfg.style_layers, precision=cfg.precision)
    image = tf.Variable(initial_image(cfg, bb, c, style))
    _, grad = value_and_grad(make_loss_fn(extractor, cfg, c, s), image, PRECISIONS[cfg.precision].loss_scale)
    return grad.numpy().ravel()


def accuracy_rows(backbone: str, model, convention: str, scales: list[float], args) -> list[dict]:
    """One row per loss scale: gradient cosine / norm ratio and final-loss deviation."""
    content, style = _images(args.size)
    base = dict(backbone=backbone, size=args.size, iterations=args.iterations, weights=args.weights[backbone])
    ref_cfg = validate(TransferConfig(**base, loss_convention=convention, snapshot_every=0))
    ref_grad = start_gradient(ref_cfg, model, content, style)
    ref_loss = run_transfer(ref_cfg, content, style, model=model).total_loss
    rows = []
    for scale in scales:
        _with_scale(scale)
        cfg = dataclasses.replace(ref_cfg, precision="mixed")
        grad = start_gradient(cfg, model, content, style)
        t0 = time.perf_counter()
        loss = run_transfer(cfg, content, style, model=model).total_loss
        cosine = float(grad @ ref_grad / (np.linalg.norm(grad) * np.linalg.norm(ref_grad) + 1e-30))
        rows.append(
            dict(
                backbone=backbone,
                convention=convention,
                loss_scale=scale,
                grad_cosine=cosine,
                grad_norm_ratio=float(np.linalg.norm(grad) / np.linalg.norm(ref_grad)),
                final_loss_rel=float(abs(loss - ref_loss) / abs(ref_loss)),
                seconds=time.perf_counter() - t0,
            )
        )
    return rows


def step_seconds(cfg: TransferConfig, model, content, style, skip: int) -> float:
    """Median seconds per step of a run, leaving out its first `skip` steps (compiling)."""
    times: list[float] = []
    run_transfer(cfg, content, style, model=model, on_step=lambda ev: times.append(ev.step_seconds))
    return statistics.median(times[skip:])


def speed_rows(args) -> list[dict]:
    """Per-step seconds for each backbone x precision x steps per call (random weights)."""
    content, style = _images(args.size)
    rows = []
    for backbone in args.backbones:
        model = load_backbone(get_backbone(backbone), "none")
        for precision in PRECISIONS:
            for per_call in (1, 10):
                cfg = TransferConfig(backbone=backbone, size=args.size, weights="none", precision=precision)
                cfg = validate(dataclasses.replace(cfg, iterations=args.steps + 20, steps_per_call=per_call))
                seconds = step_seconds(dataclasses.replace(cfg, snapshot_every=0), model, content, style, 20)
                rows.append(dict(backbone=backbone, precision=precision, steps_per_call=per_call, step_s=seconds))
                print(f"{backbone} {precision} x{per_call}: {seconds * 1000:.1f} ms/step", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    """Rows as a Markdown table (numbers to three significant figures)."""
    head = list(rows[0])
    cell = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(cell(r[k]) for k in head) + " |" for r in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.precision", description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("accuracy", "speed"))
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=50, help="accuracy: steps of each run")
    parser.add_argument("--steps", type=int, default=40, help="speed: timed steps (after 20 compiling ones)")
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--conventions", nargs="+", default=["portable", "gatys"])
    parser.add_argument("--scales", default="0,256,4096,65536", help="accuracy: loss scales to try")
    for name in BACKBONES:
        parser.add_argument(f"--weights-{name}", default="none", help=f"{name} weights [default: none]")
    args = parser.parse_args(argv)
    if args.mode == "speed":
        rows = speed_rows(args)
        if os.environ.get("OUT"):
            Path(os.environ["OUT"], "precision_speed.json").write_text(json.dumps(rows, indent=1))
    else:
        args.weights = {name: getattr(args, f"weights_{name}") for name in BACKBONES}
        scales = [float(s) for s in args.scales.split(",")]
        rows = []
        for backbone in args.backbones:
            model = load_backbone(get_backbone(backbone), args.weights[backbone])
            for convention in args.conventions:
                rows += accuracy_rows(backbone, model, convention, scales, args)
                print(table(rows[-len(scales) :]), flush=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
