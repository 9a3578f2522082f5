"""Executing queued runs: claim one, run the transfer, record every step, close it.

`work_queue` is the worker (`python -m workbench worker`, which the dashboard starts in
the background and `run` and `study --wait` call in-process). After a run finishes its
fair metrics are computed (`workbench.judging`).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from engine.config import TransferConfig
from engine.errors import DivergedError, WeightsError
from engine.styles import mask_array
from engine.transfer import StepEvent, run_transfer
from store import images as store_images
from store import runs as store_runs
from store.db import retry_while_locked
from store.recorder import ITERATION_COLUMNS, RunRecorder
from workbench.judging import record_metrics
from workbench.models import ModelCache
from workbench.slots import worker_slot

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


class StopRequest:
    """SIGTERM or Ctrl-C for the life of a worker (or of one `run`): the current run stops
    after its step and is stored `cancelled`, and a worker claims no further run; the
    queue is left as it is. A second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.received: str | None = None  # the signal's name once one came

    @contextmanager
    def listening(self) -> Iterator[StopRequest]:
        """Handle SIGTERM and SIGINT inside the block (main thread only)."""

        def handler(signum: int, frame: object) -> None:
            if self.received and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.received = signal.Signals(signum).name

        old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


@dataclass(frozen=True)
class RunHooks:
    """How a caller follows a run: `progress(event)` after each step, `on_wait(message)`
    while another process holds the database, `stop` (a worker's, shared by its runs)."""

    progress: Callable[[StepEvent], None] | None = None
    on_wait: Callable[[str], None] | None = None
    stop: StopRequest | None = None


def _on_step(recorder: RunRecorder, progress: Callable[[StepEvent], None] | None):
    def on_step(ev: StepEvent) -> None:
        recorder.add_iteration(tuple(getattr(ev, column) for column in ITERATION_COLUMNS))
        if ev.image is not None:
            recorder.add_snapshot(ev.step, ev.image)
        if progress is not None:
            progress(ev)

    return on_step


def execute_run(db, run_id: int, models: ModelCache, hooks: RunHooks = RunHooks(), metrics: bool = True) -> RunOutcome:
    """Claim queued run `run_id`, run it, and record everything. Never leaves it `running`.

    The backbone comes from `models` (built there on first use). A finished run then gets
    its fair metrics (`record_metrics`) unless `metrics` is False; a failure there is
    logged and does not change the run's status."""
    if store_runs.claim_run(db, run_id, tf.__version__, device_name()) is None:
        raise RuntimeError(f"run {run_id} is not queued")
    recorder = RunRecorder(db, run_id, on_wait=hooks.on_wait)
    stop = hooks.stop or StopRequest()
    try:
        with stop.listening() if hooks.stop is None else nullcontext(stop):
            outcome = _execute(db, run_id, recorder, hooks, models, stop)
    except KeyboardInterrupt:
        close_run(db, run_id, recorder, "cancelled", error="interrupted by the user")
        raise
    except BaseException as exc:
        # Anything unexpected: keep what was logged, then mark the run failed.
        message = f"{exc.__class__.__name__}: {exc}".splitlines()[0][:500]
        close_run(db, run_id, recorder, "failed", error=message)
        raise
    if metrics and outcome.status == "finished":
        try:
            record_metrics(db, run_id, models)
        except Exception:
            log.exception("fair metrics of run %s failed", run_id)
    return outcome


def load_styles(db, run_id: int, style_image: str) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """A run's style images (RGB uint8) in blend-weight order and their masks (float32
    0-1, `engine.styles.mask_array`), or None when the run has no masks. A run without
    `run_styles` rows has its one `style_image`."""
    rows = store_runs.get_styles(db, run_id) or [{"image_id": style_image, "mask_image": None}]
    styles = [store_images.get_array(db, r["image_id"]) for r in rows]
    if not any(r["mask_image"] for r in rows):
        return styles, None
    masks = [
        mask_array(store_images.get_array(db, r["mask_image"]), f"mask of style {r['position'] + 1}") for r in rows
    ]
    return styles, masks


def _execute(db, run_id, recorder, hooks: RunHooks, models: ModelCache, stop: StopRequest) -> RunOutcome:
    row = store_runs.get_run(db, run_id)
    cfg = TransferConfig.from_dict(row["config"])
    content = store_images.get_array(db, row["content_image"])
    styles, masks = load_styles(db, run_id, row["style_image"])
    try:
        model = models.backbone(cfg.backbone, cfg.weights, cfg.seed)
        should_stop = lambda: bool(stop.received) or recorder.cancel_requested  # noqa: E731
        on_start = lambda rgb: recorder.add_snapshot(0, rgb)  # noqa: E731 - step 0: the initial image
        on_step = _on_step(recorder, hooks.progress)
        result = run_transfer(cfg, content, styles, on_step, should_stop, model, on_start=on_start, masks=masks)
    except (DivergedError, WeightsError) as exc:
        close_run(db, run_id, recorder, "failed", error=str(exc))
        return RunOutcome(run_id, "failed", error=str(exc), steps_done=recorder.steps_logged)
    # The logged rows first (waiting out any lock): a store that cannot take them fails the
    # run here, before anything calls it finished.
    recorder.flush()
    # From here the result exists only in memory: no lock may lose it (see `close_run`).
    output = store_images.make_blob(result.image)
    status = "cancelled" if result.cancelled else "finished"
    why = f"stopped by {stop.received}" if result.cancelled and stop.received else None
    losses = dict(total_loss=result.total_loss, content_loss=result.content_loss, style_loss=result.style_loss)
    best = dict(best_loss=result.best_loss, best_step=result.best_step)
    fields = dict(output=output, tv_loss=result.tv_loss, wall_seconds=result.wall_seconds, **best, **losses)
    close_run(db, run_id, recorder, status, error=why, **fields)
    return RunOutcome(
        run_id, status, error=why, steps_done=result.steps_done, wall_seconds=result.wall_seconds, **best, **losses
    )


def close_run(db, run_id: int, recorder: RunRecorder, status: str, **fields) -> None:
    """Flush what is buffered, then write the run's final state. Another process holding
    the file is waited out however long it takes, never a reason to mark the run failed:
    its rows, image and losses are in memory until they are written. The recorder goes
    first: its last snapshot may be the output image itself, which the final transaction
    then finds stored."""
    fields = {k: v for k, v in fields.items() if v is not None}
    try:
        recorder.close()
    finally:
        retry_while_locked(
            lambda: store_runs.finish_run(db, run_id, status, steps_done=recorder.steps_logged, **fields),
            recorder.on_wait,
        )


def work_queue(
    db,
    db_path: Path,
    models: ModelCache,
    slots: int = 1,
    on_done: Callable[[int], None] | None = None,
    stop: StopRequest | None = None,
) -> int:
    """Run queued runs oldest first until none is left or a stop is requested (SIGTERM,
    Ctrl-C: the current run ends `cancelled`, the rest stay queued); returns how many ran.
    `on_done(run_id)` is called after each (the CLI prints a study's progress with it).

    Re-checks the queue after letting go of the slot, so a run queued at the moment this
    worker is leaving is not stranded (its launcher's own worker may have found the slot
    still taken)."""
    stop = stop or StopRequest()
    with stop.listening():
        return _drain(db, db_path, models, slots, on_done, stop)


def _drain(db, db_path: Path, models: ModelCache, slots: int, on_done, stop: StopRequest) -> int:
    done = 0
    while True:
        with worker_slot(db_path, slots) as slot:
            if slot is None:
                return done
            store_runs.mark_stale_runs(db)
            while not stop.received and (run_id := store_runs.next_queued(db)) is not None:
                try:
                    outcome = execute_run(db, run_id, models, RunHooks(stop=stop))
                    log.info("run %s %s", run_id, outcome.status)
                except Exception:
                    log.exception("run %s failed", run_id)
                done += 1
                if on_done is not None:
                    on_done(run_id)
        if stop.received:
            log.info("stopped by %s after %d run(s); the queue is left as it is", stop.received, done)
            return done
        if store_runs.next_queued(db) is None:
            return done
