"""Putting work in the queue and starting the worker that empties it: the one way the
command line and the dashboard queue a run or a study.

A queued run is a `runs` row with its config and input image ids; a worker
(`python -m workbench worker`, see `workbench.runner`) claims and executes it. Every
config is validated before anything is written, so bad input leaves no row behind.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.config import TransferConfig, formulas
from engine.errors import ConfigError
from engine.memory import check_fits
from engine.styles import blend_weights, mask_array, resolve_styles, style_shape
from store import images as store_images
from store import runs as store_runs
from store import studies as store_studies
from store.db import PROJECT_ROOT
from workbench import studies
from workbench.studies import StudyPreset

log = logging.getLogger(__name__)

NO_WORKER_ENV = "NST_NO_WORKER"  # set to 1 to queue runs without starting a worker (tests)


@dataclass(frozen=True)
class StyleInput:
    """One style image of a run to queue: its pixels (RGB uint8) and display name, and
    optionally its region mask (grey or RGB pixels at any resolution, white = this style
    here; all styles of a run have one, or none does) with the mask's display name.

    The blend weights are the config's `style_blend_weights`, one per style in this
    order. `weight` may give them here instead: then every style gives one, and a config
    that also has blend weights must agree with them."""

    rgb: np.ndarray
    name: str | None = None
    weight: float | None = None
    mask: np.ndarray | None = None
    mask_name: str | None = None


# What `queue_arrays` takes for the styles: one (pixels, name) pair as before, one
# StyleInput, or a sequence of either.
Styles = tuple | StyleInput | Sequence[StyleInput | tuple]


def style_inputs(style: Styles) -> list[StyleInput]:
    """`queue_arrays`'s `style` argument as a list of `StyleInput`s."""
    if isinstance(style, StyleInput):
        return [style]
    if isinstance(style, tuple) and len(style) == 2 and isinstance(style[0], np.ndarray):
        return [StyleInput(np.asarray(style[0]), style[1])]  # the one-style (pixels, name) pair
    out = [s if isinstance(s, StyleInput) else StyleInput(np.asarray(s[0]), s[1]) for s in style]
    if not out:
        raise ConfigError("a run needs at least one style image")
    return out


def resolve_inputs(cfg: TransferConfig, styles: Sequence[StyleInput]) -> TransferConfig:
    """`cfg` with explicit blend weights for `styles` (from the config, or from each
    input's `weight`); `ConfigError` / `ImageError` in one line for anything that does
    not fit (weights, mask count, a mask that is not an image). Writes nothing."""
    given = [s.weight for s in styles]
    if any(w is not None for w in given):
        if any(w is None for w in given):
            raise ConfigError("give a blend weight for every style image, or for none")
        weights = tuple(float(w) for w in given)
        if cfg.style_blend_weights is not None and tuple(cfg.style_blend_weights) != weights:
            raise ConfigError(
                f"the style images' weights ({', '.join(f'{w:g}' for w in weights)}) differ from the config's "
                f"style blend weights ({', '.join(f'{w:g}' for w in cfg.style_blend_weights)})"
            )
        cfg = dataclasses.replace(cfg, style_blend_weights=weights)
    masks = [s for s in styles if s.mask is not None]
    cfg = resolve_styles(cfg, len(styles), len(masks))
    for i, s in enumerate(masks):
        mask_array(s.mask, s.mask_name or f"mask of style {i + 1}")  # ImageError if not an image
    return cfg


def _mask_pixels(mask: np.ndarray) -> np.ndarray:
    """A mask as stored: its own pixels when they are uint8 grey or RGB, else grey 0-255."""
    arr = np.asarray(mask)
    if arr.dtype == np.uint8 and (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        return arr
    return np.round(mask_array(arr) * 255).astype(np.uint8)


def queue_runs(
    db: Any,
    configs: Sequence[TransferConfig],
    content_image: str,
    style_image: str | Sequence[str],
    masks: Sequence[str] | None = None,
    images: Sequence[tuple[store_images.ImageBlob, str | None]] = (),
) -> list[int]:
    """One queued run per *validated* config on input images given by id: one style
    image, or several in blend-weight order, with optionally one mask image each.
    `images`: new images (blob, display name) among them, stored with each run in its
    transaction. Every config is checked first (styles, masks and whether it fits in this
    machine's memory: `engine.memory.check_fits`), so bad input writes nothing. Each
    stored config gets its blend weights; the `run_styles` rows the sizes the styles go
    to the network at. Returns the run ids."""
    style_ids = [style_image] if isinstance(style_image, str) else list(style_image)
    mask_ids = list(masks or [])
    shapes = {blob.id: (blob.height, blob.width) for blob, _ in images}
    shapes |= store_images.get_shapes(db, [i for i in [content_image, *style_ids] if i not in shapes])
    resolved = [resolve_styles(c, len(style_ids), len(mask_ids)) for c in configs]  # all checked first
    for cfg in resolved:
        if content_image in shapes:
            check_fits(cfg, shapes[content_image])
    ids = []
    for cfg in resolved:
        rows = []
        for i, (sid, weight) in enumerate(zip(style_ids, blend_weights(cfg, len(style_ids)), strict=True)):
            h, w = style_shape(cfg, shapes[sid]) if sid in shapes else (None, None)
            rows.append(store_runs.StyleRow(sid, weight, mask_ids[i] if mask_ids else None, h, w))
        run = store_runs.create_run(
            db, cfg.to_dict(), content_image, style_ids[0], formulas(cfg), images=images, styles=rows
        )
        ids.append(run)
    log.info("queued runs %s", ids)
    return ids


def queue_arrays(db: Any, cfg: TransferConfig, content: tuple[np.ndarray, str | None], style: Styles) -> int:
    """Store the input images (pixels, display name) and queue one run on them, in one
    transaction (a run that cannot be queued leaves no image behind). `style` is one
    (pixels, name) pair, a `StyleInput`, or a sequence of them (several styles, with
    masks); everything is checked (`resolve_inputs`) before anything is written, and the
    stored config has explicit blend weights."""
    styles = style_inputs(style)
    cfg = resolve_inputs(cfg, styles)
    photo = store_images.make_blob(content[0])
    images = [(photo, content[1])]
    paintings, masks = [], []
    for s in styles:
        painting = store_images.make_blob(s.rgb)
        images.append((painting, s.name))
        paintings.append(painting.id)
        if s.mask is not None:
            mask = store_images.make_blob(_mask_pixels(s.mask))
            images.append((mask, s.mask_name))
            masks.append(mask.id)
    return queue_runs(db, [cfg], photo.id, paintings, masks or None, images=images)[0]


@dataclass(frozen=True)
class StudyLaunch:
    """What launching (or re-launching) a study did."""

    study_id: int
    resumed: bool
    cells: int
    counts: dict[str, int]


@dataclass(frozen=True)
class StudyInputs:
    """Everything a study launch is made of; `paired`: the i-th content image with the
    i-th style image only (explicit pairs, stored in the spec), not every combination."""

    preset: StudyPreset
    overrides: dict[str, Any]
    seeds: list[int]
    contents: list[tuple[np.ndarray, str | None]]
    styles: list[tuple[np.ndarray, str | None]]
    weights: dict[str, str] | None = None
    name: str | None = None
    paired: bool = False


def launch_study(db: Any, req: StudyInputs) -> StudyLaunch:
    """Create the study (or find it again: same name, preset, settings, seeds and images)
    and queue its cells that have not finished. Every cell is validated first."""
    content_blobs = [(store_images.make_blob(rgb), n) for rgb, n in req.contents]
    style_blobs = [(store_images.make_blob(rgb), n) for rgb, n in req.styles]
    content_ids = list(dict.fromkeys(b.id for b, _ in content_blobs))
    style_ids = list(dict.fromkeys(b.id for b, _ in style_blobs))
    pairs = studies.image_pairs([b.id for b, _ in content_blobs], [b.id for b, _ in style_blobs], req.paired)
    cells = studies.build_cells(req.preset, req.overrides, req.seeds, pairs, req.weights)
    spec = studies.study_spec(
        req.preset, req.overrides, req.seeds, content_ids, style_ids, req.weights, pairs if req.paired else None
    )
    name = req.name or req.preset.name
    shapes = {b.id: rgb.shape for (b, _), (rgb, _) in zip(style_blobs, req.styles, strict=True)}
    rows = [_cell_row(c, shapes[c.style_image]) for c in cells]  # checks each cell's blend weights
    # A cell whose worker died still says `running`: reclaim it first, so it is re-queued
    # rather than counted as active and never run.
    store_runs.mark_stale_runs(db)
    study = store_studies.StudyRows(name, req.preset.name, spec, studies.spec_key(name, spec), rows)
    study_id, resumed, counts = store_studies.launch(db, study, [*content_blobs, *style_blobs])
    return StudyLaunch(study_id, resumed, len(cells), counts)


def _cell_row(cell: studies.Cell, style_shape_hw: tuple[int, ...]) -> dict[str, Any]:
    """A study cell as the store queues it (see `store.studies.StudyRows`): one style image
    per cell, its `run_styles` row with the size it goes to the network at. The config is
    stored as the cell has it (its key is made from it); `ConfigError` when its blend
    weights do not fit one style."""
    cfg = resolve_styles(cell.config, 1)
    h, w = style_shape(cfg, style_shape_hw)
    return {
        "config": cell.config.to_dict(),
        "content_image": cell.content_image,
        "style_image": cell.style_image,
        "cell": cell.key,
        "variant": cell.variant,
        "gram_convention": formulas(cell.config),
        "styles": [store_runs.StyleRow(cell.style_image, 1.0, None, h, w)],
    }


def worker_disabled() -> bool:
    """True when $NST_NO_WORKER asks launches not to start a worker."""
    return os.environ.get(NO_WORKER_ENV, "").strip() not in ("", "0")


def _spawn(what: str, args: list[str], db_path: Path) -> subprocess.Popen | None:
    """Start `python -m workbench <args>` in its own session (it outlives the dashboard's
    script run), its output appended to PATH.<what>.log; None when $NST_NO_WORKER is set
    (tests: nothing is spawned)."""
    if worker_disabled():
        log.info("%s is set: not starting a %s process", NO_WORKER_ENV, what)
        return None
    log_path = Path(f"{db_path}.{what}.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workbench", *args],
            cwd=PROJECT_ROOT,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    # Reap it when it exits, so a long-lived parent (the dashboard) keeps no zombie whose
    # pid would still look alive; `poll()` still answers.
    threading.Thread(target=proc.wait, name=f"reap-{what}-{proc.pid}", daemon=True).start()
    log.info("started %s pid %s: %s", what, proc.pid, " ".join(args))
    return proc


def start_worker(db_path: Path, executor: str = "local", address: str | None = None) -> subprocess.Popen | None:
    """Start `python -m workbench worker --db PATH [--executor ray [--ray-address A]]`
    (see `_spawn`; log PATH.worker.log). Starting one while another runs is harmless: it
    exits at once when every worker slot is taken."""
    args = ["worker", "--db", str(db_path)]
    if executor != "local":
        args += ["--executor", executor]
    if address:
        args += ["--ray-address", address]
    return _spawn("worker", args, db_path)


def start_metrics(
    db_path: Path, run_id: int, weights_by_backbone: dict[str, str] | None = None
) -> subprocess.Popen | None:
    """Start `python -m workbench metrics RUN_ID --db PATH [--weights-<name> FILE ...]`
    (see `_spawn`; log PATH.metrics.log). `weights_by_backbone` names a weights file per
    judge (a backbone, or a neutral judge such as vgg19); empty values are left out. The
    caller polls the process (or the store's `run_metrics` rows)."""
    args = ["metrics", str(int(run_id)), "--db", str(db_path)]
    for name, path in sorted((weights_by_backbone or {}).items()):
        if str(path).strip():
            args += [f"--weights-{name}", str(path).strip()]
    return _spawn("metrics", args, db_path)
