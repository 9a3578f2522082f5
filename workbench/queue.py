"""Putting work in the queue and starting the worker that empties it: the one way the
command line and the dashboard queue a run or a study.

A queued run is a `runs` row with its config and input image ids; a worker
(`python -m workbench worker`, see `workbench.runner`) claims and executes it. Every
config is validated before anything is written, so bad input leaves no row behind.
"""

from __future__ import annotations

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
from store import images as store_images
from store import runs as store_runs
from store import studies as store_studies
from store.db import PROJECT_ROOT
from workbench import studies
from workbench.studies import StudyPreset

log = logging.getLogger(__name__)

NO_WORKER_ENV = "NST_NO_WORKER"  # set to 1 to queue runs without starting a worker (tests)


def queue_runs(db: Any, configs: Sequence[TransferConfig], content_image: str, style_image: str) -> list[int]:
    """One queued run per *validated* config on two stored input images; their ids."""
    ids = [store_runs.create_run(db, c.to_dict(), content_image, style_image, formulas(c)) for c in configs]
    log.info("queued runs %s", ids)
    return ids


def queue_arrays(db: Any, cfg: TransferConfig, content: tuple[np.ndarray, str | None], style: tuple) -> int:
    """Store two input images (pixels, display name) and queue one run on them, in one
    transaction (a run that cannot be queued leaves no image behind)."""
    images = [(store_images.make_blob(rgb), name) for rgb, name in (content, style)]
    (photo, _), (painting, _) = images
    return store_runs.create_run(db, cfg.to_dict(), photo.id, painting.id, formulas(cfg), images=images)


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
    rows = [_cell_row(c) for c in cells]
    # A cell whose worker died still says `running`: reclaim it first, so it is re-queued
    # rather than counted as active and never run.
    store_runs.mark_stale_runs(db)
    study = store_studies.StudyRows(name, req.preset.name, spec, studies.spec_key(name, spec), rows)
    study_id, resumed, counts = store_studies.launch(db, study, [*content_blobs, *style_blobs])
    return StudyLaunch(study_id, resumed, len(cells), counts)


def _cell_row(cell: studies.Cell) -> dict[str, Any]:
    """A study cell as the store queues it (see `store.studies.StudyRows`)."""
    return {
        "config": cell.config.to_dict(),
        "content_image": cell.content_image,
        "style_image": cell.style_image,
        "cell": cell.key,
        "variant": cell.variant,
        "gram_convention": formulas(cell.config),
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


def start_worker(db_path: Path) -> subprocess.Popen | None:
    """Start `python -m workbench worker --db PATH` (see `_spawn`; log PATH.worker.log).
    Starting one while another runs is harmless: it exits at once when every worker slot
    is taken."""
    return _spawn("worker", ["worker", "--db", str(db_path)], db_path)


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
