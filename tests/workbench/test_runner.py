"""Executing stored runs: the worker queue, failures, cancellation and signals."""

import os
import signal
import subprocess
import sys
import time

from engine.config import TransferConfig, validate
from store import runs as store_runs
from store.db import resolve_db_path
from tests.conftest import ROOT
from workbench.queue import queue_arrays
from workbench.runner import execute_run, work_queue


def queue_run(db, cfg, content, style):
    return queue_arrays(db, cfg, (content, None), (style, None))


def _cfg(**kw):
    return validate(TransferConfig(**{"size": 32, "iterations": 6, "weights": "none", "snapshot_every": 3, **kw}))


def test_worker_runs_the_queue_oldest_first(db, content_rgb, style_rgb, models):
    ids = [queue_run(db, _cfg(backbone=b), content_rgb, style_rgb) for b in ("vgg16", "resnet50")]
    assert work_queue(db, resolve_db_path(db), models) == 2
    runs = [store_runs.get_run(db, i) for i in ids]
    assert [r["status"] for r in runs] == ["finished", "finished"]
    assert runs[0]["started_at"] < runs[1]["started_at"]
    assert all(r["output_image"] and r["steps_done"] == 6 for r in runs)
    assert len(store_runs.get_iterations(db, ids[1])) == 6


def test_diverged_run_is_failed_with_its_step(db, content_rgb, style_rgb, models):
    run_id = queue_run(db, _cfg(style_weight=1e38, loss_convention="gatys"), content_rgb, style_rgb)
    outcome = execute_run(db, run_id, models)
    run = store_runs.get_run(db, run_id)
    assert outcome.status == run["status"] == "failed"
    assert "diverged at step 1" in run["error"]
    assert run["output_image"] is None


def test_cancel_request_stops_a_running_run(db, content_rgb, style_rgb, models):
    run_id = queue_run(db, _cfg(iterations=500), content_rgb, style_rgb)

    def cancel_at_step_5(ev):
        if ev.step == 5:
            store_runs.request_cancel(db, run_id)

    outcome = execute_run(db, run_id, models, progress=cancel_at_step_5)
    run = store_runs.get_run(db, run_id)
    assert outcome.status == run["status"] == "cancelled"
    # The request is seen at the next flush (every 50 steps or 2 s), never later.
    assert 5 <= run["steps_done"] < 500
    assert len(store_runs.get_iterations(db, run_id)) == run["steps_done"]


def _start_cli_run(db, image_files):
    content, style = image_files
    cmd = [sys.executable, "-m", "workbench", "run", "--content", str(content), "--style", str(style)]
    cmd += ["--size", "32", "--iterations", "100000", "--weights", "none", "--db", str(db)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = store_runs.get_run(db, 1) if db.exists() else None
        if run and run["steps_done"] > 0:
            return proc
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the run did not start logging in time")


def test_sigterm_flushes_and_marks_cancelled(db, image_files):
    proc = _start_cli_run(db, image_files)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    run = store_runs.get_run(db, 1)
    assert run["status"] == "cancelled"
    assert len(store_runs.get_iterations(db, 1)) == run["steps_done"] > 0


def test_sigkill_leaves_an_interrupted_run_with_its_iterations(db, image_files):
    proc = _start_cli_run(db, image_files)
    proc.kill()
    proc.wait(timeout=30)
    assert store_runs.mark_stale_runs(db) == [1]
    run = store_runs.get_run(db, 1)
    assert run["status"] == "interrupted"
    assert len(store_runs.get_iterations(db, 1)) > 0


def test_disk_full_fails_the_run_clearly_and_keeps_the_file_valid(db, content_rgb, style_rgb):
    import resource

    run_id = queue_run(db, _cfg(iterations=100000, snapshot_every=1, size=48), content_rgb, style_rgb)
    limit = db.stat().st_size + 150_000  # room for a few dozen snapshots, then "disk full"

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed

    cmd = [sys.executable, "-m", "workbench", "worker", "--db", str(db)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, preexec_fn=limit_file_size, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr  # the worker survives a failed run
    store_runs.mark_stale_runs(db)
    run = store_runs.get_run(db, run_id)  # the file still opens and reads
    assert run["status"] in ("failed", "interrupted")
    assert run["status"] == "interrupted" or "cannot write database" in run["error"]
    steps = list(store_runs.get_iterations(db, run_id)["step"])
    assert steps and steps == list(range(1, len(steps) + 1))
