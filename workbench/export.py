"""Writing one run's images, iterations and settings to a folder (`export RUN --out DIR`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from store import images as store_images
from store import runs as store_runs


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
