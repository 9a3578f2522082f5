"""The command line's helpers: flags to config fields, study inputs, the progress bar
and the text view of a run. Kept out of `__main__` so they can be tested directly."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engine.backbones import BACKBONES
from engine.config import FIELDS, TransferConfig, parse_field
from engine.errors import ConfigError
from engine.images import load_image_file
from engine.styles import mask_array
from workbench.queue import StyleInput
from workbench.text import format_duration

if TYPE_CHECKING:  # the CLI checks its input before it loads TensorFlow
    from engine.transfer import StepEvent


@contextmanager
def native_logs_silenced(verbose: bool = False) -> Iterator[None]:
    """Point file descriptor 2 at /dev/null inside the block, unless `verbose`.

    TensorFlow's C++ start-up lines (absl's "I0000 …", the CUDA probe) are written to fd
    2 directly, past `sys.stderr` and regardless of TF_CPP_MIN_LOG_LEVEL; the command
    line's own messages come after the block. A Python exception still shows: it is
    reported once the block has put fd 2 back."""
    if verbose:
        yield
        return
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def load_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow and let it look for devices, quietly (see above)."""
    with native_logs_silenced(verbose):
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")


def given_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The `TransferConfig` fields whose flags were given, parsed to their types."""
    return {
        f.name: parse_field(f.name, getattr(args, f.name))
        for f in FIELDS.values()
        if getattr(args, f.name, None) is not None
    }


def config_from_args(args: argparse.Namespace) -> TransferConfig:
    """A `TransferConfig` from the flags that were given (others keep their defaults)."""
    return TransferConfig(**given_fields(args))


def parse_seeds(text: str) -> list[int]:
    """Parse `--seeds 0,1,2` -> [0, 1, 2]; one clear error for anything else."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--seeds expects comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds needs distinct integers, got {text!r}")
    return seeds


def parse_pair(text: str) -> tuple[str, str]:
    """`--pair PHOTO:PAINTING` -> (photo, painting). A path may hold a colon itself: the
    split where both sides are existing files wins, else the first colon."""
    splits = [(text[:i], text[i + 1 :]) for i, ch in enumerate(text) if ch == ":"]
    splits = [(a, b) for a, b in splits if a and b]
    if not splits:
        raise ConfigError(f"--pair expects PHOTO:PAINTING (two image files joined by ':'), got {text!r}")
    return next(((a, b) for a, b in splits if Path(a).is_file() and Path(b).is_file()), splits[0])


def study_image_paths(
    contents: list[str] | None, styles: list[str] | None, pairs: list[str] | None
) -> tuple[list[str], list[str], bool]:
    """(photo paths, painting paths, paired) from `study`'s flags: either --pair (each
    photo with its own painting) or --content and --style (every photo with every painting)."""
    if pairs and (contents or styles):
        raise ConfigError("give --pair PHOTO:PAINTING, or --content and --style, not both")
    if pairs:
        photos, paintings = zip(*(parse_pair(p) for p in pairs), strict=True)
        return list(photos), list(paintings), True
    if not contents or not styles:
        raise ConfigError("a study needs --content and --style images, or --pair PHOTO:PAINTING")
    return list(contents), list(styles), False


def load_images(paths: list[str]) -> list[tuple[np.ndarray, str]]:
    """(pixels, file name) of each path, each file read once (pairs may repeat a photo)."""
    loaded: dict[str, np.ndarray] = {}
    for p in paths:
        if p not in loaded:
            loaded[p] = load_image_file(p)
    return [(loaded[p], Path(p).name) for p in paths]


def run_style_inputs(styles: list[str], masks: list[str] | None) -> list[StyleInput]:
    """`run`'s style images (`--style`, repeatable) with their masks (`--style-mask`: none,
    or one per style in the same order), loaded and checked: a file that is not an image
    (style or mask) is an `ImageError`, a wrong number of masks a `ConfigError`."""
    masks = masks or []
    if len(masks) not in (0, len(styles)):
        raise ConfigError(
            f"{len(masks)} --style-mask file(s) given for {len(styles)} --style image(s): give one per style, or none"
        )
    inputs = []
    for i, path in enumerate(styles):
        mask = mask_name = None
        if masks:
            mask = load_image_file(masks[i])
            mask_name = Path(masks[i]).name
            mask_array(mask, masks[i])  # an image, but not one a mask can be made of: ImageError
        inputs.append(StyleInput(load_image_file(path), Path(path).name, mask=mask, mask_name=mask_name))
    return inputs


def weights_by_backbone(args: argparse.Namespace) -> dict[str, str]:
    """{backbone: path} from the `--weights-<backbone>` flags that were given."""
    return {name: value for name in BACKBONES if (value := getattr(args, f"weights_{name}", None)) is not None}


class ProgressBar:
    """A one-line progress bar on stderr: step, losses, seconds per step and ETA.
    Redraws at most 10 times a second so a fast run is not slowed by the terminal."""

    def __init__(self, total: int, width: int = 24, stream=None) -> None:
        self.total, self.width = total, width
        self.stream = stream or sys.stderr
        self._last_draw = 0.0

    def __call__(self, ev: StepEvent) -> None:
        now = time.monotonic()
        if now - self._last_draw < 0.1 and ev.step != self.total:
            return
        self._last_draw = now
        rate = ev.elapsed_seconds / ev.step
        eta = rate * (self.total - ev.step)
        filled = int(self.width * ev.step / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(
            f"\r[{bar}] {ev.step}/{self.total} step loss: total {ev.total_loss:.4g} content {ev.content_loss:.4g} "
            f"style {ev.style_loss:.4g} {rate:.3f} s/it ETA {format_duration(eta)} "
        )
        self.stream.flush()

    def note(self, message: str) -> None:
        """A message on the progress line (e.g. waiting for the database), kept until
        the next step redraws it."""
        self.stream.write(f"\r{message} ")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


# How `show` and `list` name the run's loss columns: they are the losses of the output
# image, evaluated once after the last step, not the last logged step's (issue 11 #1).
RUN_LOSS_NAMES = {
    "total_loss": "output_loss",
    "content_loss": "output_content_loss",
    "style_loss": "output_style_loss",
    "tv_loss": "output_tv_loss",
}


def format_run(run: dict[str, Any], iterations: pd.DataFrame, styles: list[dict[str, Any]] | None = None) -> str:
    """A readable multi-line view of one run: its columns, its style images (in blend
    order, with weight, mask and the size each went to the network at) and its losses
    every ~10% of the steps."""
    skip = {"config"}
    lines = [f"{RUN_LOSS_NAMES.get(k, k):>20}: {v}" for k, v in run.items() if k not in skip]
    if styles:
        lines += ["", f"style images ({len(styles)}, in blend order):"]
        lines += [_style_line(s) for s in styles]
    if not iterations.empty:
        picks = iterations.iloc[:: max(1, len(iterations) // 10)]
        title = "iterations (every ~10%; each step's loss is the image's before that step's update):"
        lines += ["", title, picks.to_string(index=False)]
    return "\n".join(lines)


def _style_line(style: dict[str, Any]) -> str:
    """'  1. starry.png (3f2a…): weight 0.7, mask left.png (9c1b…), 256x320 px at the network'."""
    name = style.get("name") or "unnamed"
    mask = "no mask"
    if style.get("mask_image"):
        mask = f"mask {style.get('mask_name') or 'unnamed'} ({style['mask_image'][:12]})"
    size = "size not recorded (before schema v7)"
    if style.get("height") and style.get("width"):
        size = f"{style['width']}x{style['height']} px (width x height) at the network"
    return f"  {style['position'] + 1}. {name} ({style['image_id'][:12]}): weight {style['weight']:g}, {mask}, {size}"
