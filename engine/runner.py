"""Executing a stored run: the one place where the engine meets the store.

Used only by the command line (`python -m engine run` and `python -m engine worker`);
the dashboard starts runs by queueing a row and launching a worker subprocess.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from engine.backbones import get_backbone
from engine.config import GRAM_CONVENTION, TransferConfig
from engine.transfer import DivergedError, StepEvent, run_transfer
from engine.weights import WeightsError, load_backbone
from store import images as store_images
from store import runs as store_runs
from store.recorder import RunRecorder

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


def device_name() -> str:
    """ "GPU:<name>" when TensorFlow sees a GPU, else "CPU"."""
    gpus = tf.config.list_physical_devices("GPU")
    return f"GPU:{gpus[0].name}" if gpus else "CPU"


def queue_run(db, cfg: TransferConfig, content_rgb, style_rgb, content_name=None, style_name=None) -> int:
    """Store both input images and a queued run row for a *validated* config."""
    content_id = store_images.put_image(db, content_rgb, content_name)
    style_id = store_images.put_image(db, style_rgb, style_name)
    return store_runs.create_run(db, cfg.to_dict(), content_id, style_id, GRAM_CONVENTION)


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
        recorder.add_iteration(
            (ev.step, ev.total_loss, ev.content_loss, ev.style_loss, ev.tv_loss, ev.step_seconds, ev.elapsed_seconds)
        )
        if ev.image is not None:
            recorder.add_snapshot(ev.step, store_images.make_blob(ev.image))
        if progress is not None:
            progress(ev)

    return on_step


def execute_run(
    db, run_id: int, progress: Callable[[StepEvent], None] | None = None, model: keras.Model | None = None
) -> RunOutcome:
    """Claim queued run `run_id`, run it, and record everything. Never leaves it `running`."""
    if store_runs.claim_run(db, run_id, tf.__version__, device_name()) is None:
        raise RuntimeError(f"run {run_id} is not queued")
    recorder = RunRecorder(db, run_id)
    try:
        return _execute(db, run_id, recorder, progress, model)
    except KeyboardInterrupt:
        _close(db, run_id, recorder, "cancelled", error="interrupted by the user")
        raise
    except BaseException as exc:
        # Anything unexpected: keep what was logged, then mark the run failed.
        message = f"{exc.__class__.__name__}: {exc}".splitlines()[0][:500]
        _close(db, run_id, recorder, "failed", error=message)
        raise


def _execute(db, run_id, recorder, progress, model) -> RunOutcome:
    row = store_runs.get_run(db, run_id)
    cfg = TransferConfig.from_dict(row["config"])
    content = store_images.get_array(db, row["content_image"])
    style = store_images.get_array(db, row["style_image"])
    stop = _StopFlag(recorder)
    try:
        if model is None:
            model = load_backbone(get_backbone(cfg.backbone), cfg.weights)
        with _signals_set(stop):
            result = run_transfer(cfg, content, style, _on_step(recorder, progress), stop, model)
    except (DivergedError, WeightsError) as exc:
        _close(db, run_id, recorder, "failed", error=str(exc))
        return RunOutcome(run_id, "failed", error=str(exc), steps_done=recorder.steps_logged)
    output = store_images.put_image(db, result.image)
    status = "cancelled" if result.cancelled else "finished"
    losses = dict(
        total_loss=result.total_loss,
        content_loss=result.content_loss,
        style_loss=result.style_loss,
    )
    _close(
        db,
        run_id,
        recorder,
        status,
        output_image=output,
        tv_loss=result.tv_loss,
        wall_seconds=result.wall_seconds,
        **losses,
    )
    return RunOutcome(run_id, status, steps_done=result.steps_done, wall_seconds=result.wall_seconds, **losses)


def _close(db, run_id: int, recorder: RunRecorder, status: str, **fields) -> None:
    """Flush what is buffered, then write the run's final state."""
    try:
        recorder.flush()
    finally:
        store_runs.finish_run(db, run_id, status, steps_done=recorder.steps_logged, **fields)


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


def work_queue(db, db_path: Path, slots: int = 1) -> int:
    """Run queued runs oldest first until none is left; returns how many ran.

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
        if store_runs.next_queued(db) is None:
            return done
