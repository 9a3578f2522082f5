"""Helpers that only the command line uses: flag parsing, the progress bar, text views
and export. Kept out of `__main__` so they can be tested directly."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.backbones import BACKBONES
from engine.config import ConfigError, TransferConfig
from engine.images import load_image_file
from engine.transfer import StepEvent
from store import images as store_images
from store import runs as store_runs

BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _parse_scalar(kind: type, text: str, flag: str) -> Any:
    if kind is bool:
        if isinstance(text, bool):  # from a --flag / --no-flag switch
            return text
        if str(text).strip().lower() not in BOOLEANS:
            raise ConfigError(f"{flag} expects true or false, got {text!r}")
        return BOOLEANS[str(text).strip().lower()]
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"{flag} expects {'a number' if kind is not str else 'text'}, got {text!r}") from None


def parse_field(name: str, text: str) -> Any:
    """Convert a flag's text to its `TransferConfig` field type (tuples are comma lists)."""
    hint = typing.get_type_hints(TransferConfig)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    kind = args[0] if args else hint  # unwrap `X | None`
    flag = f"--{name.replace('_', '-')}"
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        return tuple(_parse_scalar(item, part.strip(), flag) for part in text.split(",") if part.strip())
    return _parse_scalar(kind, text, flag)


def given_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The `TransferConfig` fields whose flags were given, parsed to their types."""
    return {
        f.name: parse_field(f.name, getattr(args, f.name))
        for f in dataclasses.fields(TransferConfig)
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


def weights_by_backbone(args: argparse.Namespace) -> dict[str, str]:
    """{backbone: path} from the `--weights-<backbone>` flags that were given."""
    return {name: value for name in BACKBONES if (value := getattr(args, f"weights_{name}", None)) is not None}


def format_progress(study_id: int, progress: dict[str, Any]) -> str:
    """'study 3: 4/10 cells done (1 failed, 5 queued, 1 running), ETA 2m10s'."""
    cells = int(progress.get("cells", 0))
    done = int(progress.get("finished", 0))
    others = [(k, int(progress.get(k, 0) or 0)) for k in ("failed", "stopped", "queued", "running")]
    detail = ", ".join(f"{n} {k}" for k, n in others if n)
    eta = progress.get("eta_seconds")
    eta_text = f", ETA {_duration(eta)}" if eta is not None and eta == eta and eta > 0 else ""
    return f"study {study_id}: {done}/{cells} cells done" + (f" ({detail})" if detail else "") + eta_text


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
            f"\r[{bar}] {ev.step}/{self.total} total {ev.total_loss:.4g} content {ev.content_loss:.4g} "
            f"style {ev.style_loss:.4g} {rate:.3f} s/it ETA {_duration(eta)} "
        )
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def format_run(run: dict[str, Any], iterations: pd.DataFrame) -> str:
    """A readable multi-line view of one run."""
    skip = {"config"}
    lines = [f"{k:>20}: {v}" for k, v in run.items() if k not in skip]
    if not iterations.empty:
        picks = iterations.iloc[:: max(1, len(iterations) // 10)]
        lines += ["", "iterations (every ~10%):", picks.to_string(index=False)]
    return "\n".join(lines)


def _write(path: Path, data: bytes, written: list[Path]) -> None:
    path.write_bytes(data)
    written.append(path)


def export_run(db: Any, run: dict[str, Any], out: Path) -> list[Path]:
    """Write output.png, content.png, style.png, snapshots/step_NNNNNN.png,
    iterations.csv and run.json into `out` only; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for key in ("output_image", "content_image", "style_image"):
        if run.get(key):
            _write(out / f"{key.removesuffix('_image')}.png", store_images.get_png(db, run[key]), written)
    snaps = store_runs.get_snapshots(db, run["id"])
    if not snaps.empty:
        (out / "snapshots").mkdir(exist_ok=True)
    for step, image_id in snaps.itertuples(index=False):
        _write(out / "snapshots" / f"step_{step:06d}.png", store_images.get_png(db, image_id), written)
    csv = store_runs.get_iterations(db, run["id"]).to_csv(index=False).encode()
    _write(out / "iterations.csv", csv, written)
    _write(out / "run.json", json.dumps(run, indent=2, default=str).encode(), written)
    return written
