"""Executing stored runs and studies: the one place where the engine meets the store.

Used by the command line (`python -m engine run|worker|study|metrics`); the dashboard
only queues (single runs through the store, studies through `launch_study`) and starts
`python -m engine worker` as a subprocess, which executes them here. After a run
finishes, its fair metrics (`engine.metrics`) are computed and stored here too.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from engine import judges, studies
from engine import metrics as fair
from engine.backbones import BACKBONES, get_backbone
from engine.config import TransferConfig, formulas
from engine.studies import StudyPreset
from engine.transfer import DivergedError, FeatureExtractor, StepEvent, run_transfer
from engine.weights import WeightsError, keras_cache_path, load_backbone
from store import images as store_images
from store import metrics as store_metrics
from store import runs as store_runs
from store import studies as store_studies
from store.db import PROJECT_ROOT
from store.recorder import ITERATION_COLUMNS, RunRecorder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended, for the caller to report."""

    run_id: int
    status: str
    error: str | None = None
    total_loss: float | None = None
    content_loss: float | None = None
    style_loss: float | None = None
    steps_done: int = 0
    wall_seconds: float | None = None
    best_loss: float | None = None
    best_step: int | None = None


def device_name() -> str:
    """ "GPU:<name>" when TensorFlow sees a GPU, else "CPU"."""
    gpus = tf.config.list_physical_devices("GPU")
    return f"GPU:{gpus[0].name}" if gpus else "CPU"


def queue_run(db, cfg: TransferConfig, content_rgb, style_rgb, content_name=None, style_name=None) -> int:
    """Store both input images and a queued run row for a *validated* config."""
    content_id = store_images.put_image(db, content_rgb, content_name)
    style_id = store_images.put_image(db, style_rgb, style_name)
    return store_runs.create_run(db, cfg.to_dict(), content_id, style_id, formulas(cfg))


@dataclass(frozen=True)
class StudyLaunch:
    """What launching (or re-launching) a study did."""

    study_id: int
    resumed: bool
    cells: int
    counts: dict[str, int]


def launch_study(
    db,
    preset: StudyPreset,
    overrides: dict,
    seeds: list[int],
    contents: list[tuple[np.ndarray, str | None]],
    styles: list[tuple[np.ndarray, str | None]],
    weights: dict[str, str] | None = None,
    name: str | None = None,
    paired: bool = False,
) -> StudyLaunch:
    """Create the study (or find it again: same name, preset, settings, seeds and images)
    and queue its cells that have not finished. Every cell is validated before anything
    is written, so bad input leaves no row behind. `paired`: the i-th content image with
    the i-th style image only (explicit pairs, stored in the spec), not every combination."""
    content_blobs = [(store_images.make_blob(rgb), n) for rgb, n in contents]
    style_blobs = [(store_images.make_blob(rgb), n) for rgb, n in styles]
    content_ids = list(dict.fromkeys(b.id for b, _ in content_blobs))
    style_ids = list(dict.fromkeys(b.id for b, _ in style_blobs))
    pairs = studies.image_pairs([b.id for b, _ in content_blobs], [b.id for b, _ in style_blobs], paired)
    cells = studies.build_cells(preset, overrides, seeds, pairs, weights)
    for blob, image_name in [*content_blobs, *style_blobs]:
        store_images.put_blob(db, blob, image_name)
    spec = studies.study_spec(preset, overrides, seeds, content_ids, style_ids, weights, pairs if paired else None)
    name = name or preset.name
    study_id, resumed = store_studies.create_or_resume(
        db, name, preset.name, spec, studies.spec_key(name, spec), len(cells)
    )
    rows = [
        {
            "config": c.config.to_dict(),
            "content_image": c.content_image,
            "style_image": c.style_image,
            "cell": c.key,
            "variant": c.variant,
            "gram_convention": formulas(c.config),
        }
        for c in cells
    ]
    counts = store_studies.queue_cells(db, study_id, rows)
    return StudyLaunch(study_id, resumed, len(cells), counts)


def spawn_worker(db_path: Path) -> subprocess.Popen:
    """Start `python -m engine worker` in the background, detached from this terminal
    (as the dashboard does); its log goes next to the database."""
    log_file = open(f"{db_path}.worker.log", "a")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "engine", "worker", "--db", str(db_path)],
            cwd=PROJECT_ROOT,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
        )
    finally:
        log_file.close()  # the child has its own copy


class _StopFlag:
    """Set by SIGTERM/SIGINT or a cancel request seen at a flush; checked between steps."""

    def __init__(self, recorder: RunRecorder) -> None:
        self.recorder, self.signalled = recorder, False

    def __call__(self) -> bool:
        return self.signalled or self.recorder.cancel_requested


@contextmanager
def _signals_set(flag: _StopFlag) -> Iterator[None]:
    """SIGTERM and the first Ctrl-C ask the loop to stop after the current step."""

    def handler(signum, frame):
        flag.signalled = True

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _on_step(recorder: RunRecorder, progress: Callable[[StepEvent], None] | None):
    def on_step(ev: StepEvent) -> None:
        recorder.add_iteration(tuple(getattr(ev, column) for column in ITERATION_COLUMNS))
        if ev.image is not None:
            recorder.add_snapshot(ev.step, ev.image)
        if progress is not None:
            progress(ev)

    return on_step


def execute_run(
    db,
    run_id: int,
    progress: Callable[[StepEvent], None] | None = None,
    model: keras.Model | None = None,
    metrics: bool = True,
) -> RunOutcome:
    """Claim queued run `run_id`, run it, and record everything. Never leaves it `running`.

    A finished run then gets its fair metrics (`record_metrics`) unless `metrics` is
    False; a failure there is logged and does not change the run's status."""
    if store_runs.claim_run(db, run_id, tf.__version__, device_name()) is None:
        raise RuntimeError(f"run {run_id} is not queued")
    recorder = RunRecorder(db, run_id)
    try:
        outcome = _execute(db, run_id, recorder, progress, model)
    except KeyboardInterrupt:
        _close(db, run_id, recorder, "cancelled", error="interrupted by the user")
        raise
    except BaseException as exc:
        # Anything unexpected: keep what was logged, then mark the run failed.
        message = f"{exc.__class__.__name__}: {exc}".splitlines()[0][:500]
        _close(db, run_id, recorder, "failed", error=message)
        raise
    if metrics and outcome.status == "finished":
        try:
            record_metrics(db, run_id)
        except Exception:
            log.exception("fair metrics of run %s failed", run_id)
    return outcome


class ModelCache:
    """Built backbones kept for the life of a process (a worker running a study, which
    judges every output with both backbones), the least recently used dropped beyond
    `size`. Keyed by (backbone, weights, seed); the seed only matters for random weights,
    which are drawn from it, so a `weights=none` run is repeatable in any process."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._models: OrderedDict[tuple, keras.Model] = OrderedDict()

    @staticmethod
    def key(backbone: str, weights: str, seed: int) -> tuple:
        return (backbone, weights, seed if weights == "none" else None)

    def put(self, backbone: str, weights: str, seed: int, model: keras.Model) -> None:
        """Add a built model (tests share theirs this way)."""
        self._models[self.key(backbone, weights, seed)] = model
        self._models.move_to_end(self.key(backbone, weights, seed))
        while len(self._models) > self.size:
            self._models.popitem(last=False)

    def get(self, backbone: str, weights: str, seed: int) -> keras.Model:
        """The model, built (seeded) and loaded on first use; raises `WeightsError`."""
        key = self.key(backbone, weights, seed)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        keras.utils.set_random_seed(seed)
        model = load_backbone(get_backbone(backbone), weights)
        self.put(backbone, weights, seed, model)
        return model


MODELS = ModelCache()


def load_model(cfg: TransferConfig) -> keras.Model:
    """The run's backbone with its weights (random ones drawn from the run's seed)."""
    return MODELS.get(cfg.backbone, cfg.weights, cfg.seed)


def _execute(db, run_id, recorder, progress, model) -> RunOutcome:
    row = store_runs.get_run(db, run_id)
    cfg = TransferConfig.from_dict(row["config"])
    content = store_images.get_array(db, row["content_image"])
    style = store_images.get_array(db, row["style_image"])
    stop = _StopFlag(recorder)
    try:
        if model is None:
            model = load_model(cfg)
        with _signals_set(stop):
            result = run_transfer(cfg, content, style, _on_step(recorder, progress), stop, model)
    except (DivergedError, WeightsError) as exc:
        _close(db, run_id, recorder, "failed", error=str(exc))
        return RunOutcome(run_id, "failed", error=str(exc), steps_done=recorder.steps_logged)
    # The last snapshot is this very image: let the writer thread store it first, or two
    # transactions of this process would insert the same image id at once.
    recorder.flush()
    output = store_images.put_image(db, result.image)
    status = "cancelled" if result.cancelled else "finished"
    losses = dict(
        total_loss=result.total_loss,
        content_loss=result.content_loss,
        style_loss=result.style_loss,
    )
    best = dict(best_loss=result.best_loss, best_step=result.best_step)
    _close(
        db,
        run_id,
        recorder,
        status,
        output_image=output,
        tv_loss=result.tv_loss,
        wall_seconds=result.wall_seconds,
        **best,
        **losses,
    )
    return RunOutcome(run_id, status, steps_done=result.steps_done, wall_seconds=result.wall_seconds, **best, **losses)


def _close(db, run_id: int, recorder: RunRecorder, status: str, **fields) -> None:
    """Flush what is buffered, then write the run's final state."""
    try:
        recorder.close()
    finally:
        store_runs.finish_run(db, run_id, status, steps_done=recorder.steps_logged, **fields)


# Judges with random weights are built from this seed, so every output judged by a random
# VGG16 (or ResNet50) meets the same ruler, in any process.
JUDGE_SEED = 0
# Judges whose weights failed to load in this process, with why: not retried for every run
# (an offline ImageNet download waits for its timeout each time).
_JUDGE_FAILURES: dict[tuple[str, str], str] = {}


def judge_weights(run_backbone: str, run_weights: str, judge: str, known: dict[str, str]) -> tuple[str | None, str]:
    """Which weights judge `judge` uses for a run, and a note saying why (or why none).

    Same kind as the run: its own backbone uses the run's weights; `none` and `imagenet`
    carry over; a weights *file* belongs to one backbone, so the other judge needs a file
    named for it (`known`, from the study or `metrics --weights-<backbone>`), else
    Keras's cached ImageNet file, else it is skipped."""
    if judge == run_backbone:
        return run_weights, "the run's own weights"
    if run_weights in ("none", "imagenet"):
        return run_weights, "same kind as the run's"
    if judge in known:
        return known[judge], "weights file given for this judge"
    if keras_cache_path(get_backbone(judge)).is_file():
        return "imagenet", "Keras's cached ImageNet file (no file given for this judge)"
    return None, f"skipped: the run used a weights file and none is known for {judge} (metrics --weights-{judge} PATH)"


def judge_extractor(judge: str, weights: str) -> FeatureExtractor:
    """The judge backbone reading its own default layers, untransformed; the network
    is built once per process (`MODELS`), the cheap reader around it each time."""
    bb = get_backbone(judge)
    return FeatureExtractor(MODELS.get(judge, weights, JUDGE_SEED), bb.content_layer, bb.style_layers)


def _judge_rows(cfg: TransferConfig, known: dict[str, str], images: tuple) -> list[tuple]:
    """Cross-evaluation rows: every judge backbone scores the output (2 x 2 with two
    producers), or records why it could not."""
    rows = []
    for judge in BACKBONES:
        weights, why = judge_weights(cfg.backbone, cfg.weights, judge, known)
        if weights is None:
            rows += [(m, judge, None, why) for m in fair.JUDGED]
            continue
        detail = f"weights={weights}" + (f" (seed {JUDGE_SEED})" if weights == "none" else "") + f"; {why}"
        try:
            if (judge, weights) in _JUDGE_FAILURES:
                raise WeightsError(_JUDGE_FAILURES[(judge, weights)])
            values = fair.judge_losses(judge_extractor(judge, weights), get_backbone(judge), *images)
        except WeightsError as exc:
            _JUDGE_FAILURES[(judge, weights)] = str(exc)
            rows += [(m, judge, None, f"skipped: {exc}"[:500]) for m in fair.JUDGED]
            continue
        rows += [(m, judge, v, detail) for m, v in values.items()]
    return rows


def _study_weights(db, run: dict) -> dict[str, str]:
    """Per-backbone weights the run's study was launched with ({} outside a study)."""
    study = store_studies.get_study(db, run["study_id"]) if run.get("study_id") else None
    return dict(study["spec"].get("weights_by_backbone", {})) if study else {}


def record_metrics(db, run_id: int, judge_weights_by_backbone: dict[str, str] | None = None) -> int:
    """Compute and store a finished run's fair metrics (replacing any); returns how many rows.

    The content image is resized exactly to the output's size, the style image the way
    the run resized it; the loss dynamics come from the stored iterations."""
    run = store_runs.get_run(db, run_id)
    if run is None or run["status"] != "finished" or not run["output_image"]:
        raise ValueError(f"run {run_id} has no finished output to measure")
    cfg = TransferConfig.from_dict(run["config"])
    output = store_images.get_array(db, run["output_image"])
    content, style = fair.reference_images(
        output,
        store_images.get_array(db, run["content_image"]),
        store_images.get_array(db, run["style_image"]),
        cfg.size,
        get_backbone(cfg.backbone).min_size,
    )
    undefined = "undefined here: a flat image, an image under 7 px, or a zero reference (photo) distance"
    rows = [(m, "", v, "" if v == v else undefined) for m, v in fair.fidelity_metrics(output, content, style).items()]
    iters = store_runs.get_iterations(db, run_id)
    for m, v in fair.loss_dynamics(iters["step"], iters["total_loss"]).items():
        why = "no iterations logged" if iters.empty else "the loss did not fall"
        rows.append((m, "", v, "" if v == v else why))  # v != v: NaN
    known = {**_study_weights(db, run), **(judge_weights_by_backbone or {})}
    rows += _judge_rows(cfg, known, (output, content, style))
    rows += judges.neutral_rows((output, content, style), files=known)  # the only judges verdicts use
    store_metrics.put_metrics(db, run_id, rows)
    return len(rows)


@contextmanager
def worker_slot(db_path: Path, slots: int) -> Iterator[int | None]:
    """Hold one of `slots` per-database worker lock files, or yield None if all are
    taken: at most `slots` workers run per database on this machine."""
    for slot in range(slots):
        fh = open(f"{db_path}.worker{slot}.lock", "w")  # noqa: SIM115 - held while working
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            continue
        try:
            fh.write(str(os.getpid()))
            fh.flush()
            yield slot
        finally:
            fh.close()
        return
    yield None


def work_queue(db, db_path: Path, slots: int = 1, on_done: Callable[[int], None] | None = None) -> int:
    """Run queued runs oldest first until none is left; returns how many ran.
    `on_done(run_id)` is called after each (the CLI prints a study's progress with it).

    Re-checks the queue after letting go of the slot, so a run queued at the moment this
    worker is leaving is not stranded (its launcher's own worker may have found the slot
    still taken)."""
    done = 0
    while True:
        with worker_slot(db_path, slots) as slot:
            if slot is None:
                return done
            store_runs.mark_stale_runs(db)
            while (run_id := store_runs.next_queued(db)) is not None:
                try:
                    outcome = execute_run(db, run_id)
                    log.info("run %s %s", run_id, outcome.status)
                except Exception:
                    log.exception("run %s failed", run_id)
                done += 1
                if on_done is not None:
                    on_done(run_id)
        if store_runs.next_queued(db) is None:
            return done
