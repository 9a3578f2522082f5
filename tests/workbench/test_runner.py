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
from workbench.runner import RunHooks, execute_run, work_queue


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
    # snapshot_every=3: the initial image as step 0, then steps 3 and 6
    assert store_runs.get_snapshots(db, ids[0])["step"].tolist() == [0, 3, 6]


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

    outcome = execute_run(db, run_id, models, RunHooks(progress=cancel_at_step_5))
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


HOLD_READ_LOCK = """
import sys, time, duckdb
while True:
    try:
        con = duckdb.connect(sys.argv[1], read_only=True)
        break
    except duckdb.IOException:
        time.sleep(0.01)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def test_a_reader_holding_the_file_delays_a_finished_run_but_never_fails_it(db, content_rgb, style_rgb, models):
    """A process holding the file read-only at the end of a run: the run waits, says by
    whom it is held, and is stored finished with its output once the file is free."""
    import store.db

    run_id = queue_run(db, _cfg(iterations=8, snapshot_every=4), content_rgb, style_rgb)
    messages, holder = [], {}

    def hold_at_the_last_step(ev):
        if ev.step == 8:
            cmd = [sys.executable, "-c", HOLD_READ_LOCK, str(db), "4"]
            holder["proc"] = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            assert holder["proc"].stdout.readline().strip() == "held"

    original = store.db.LOCK_TIMEOUT_S
    store.db.LOCK_TIMEOUT_S = 0.5  # give up each try soon, so the waiting shows
    try:
        outcome = execute_run(db, run_id, models, RunHooks(progress=hold_at_the_last_step, on_wait=messages.append))
    finally:
        store.db.LOCK_TIMEOUT_S = original
        holder["proc"].wait(timeout=30)
    run = store_runs.get_run(db, run_id)
    assert outcome.status == run["status"] == "finished" and run["output_image"]
    assert run["steps_done"] == 8 == len(store_runs.get_iterations(db, run_id))
    assert messages and f"waiting for the database (held by PID {holder['proc'].pid})" in messages[0]


def test_sigterm_stops_a_worker_after_the_current_step_and_leaves_the_queue(db, content_rgb, style_rgb):
    ids = [queue_run(db, _cfg(iterations=100000), content_rgb, style_rgb) for _ in range(3)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-m", "workbench", "worker", "--db", str(db)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while store_runs.get_run(db, ids[0])["steps_done"] == 0:
        assert time.monotonic() < deadline and proc.poll() is None, "the worker did not start its first run"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    first = store_runs.get_run(db, ids[0])
    assert first["status"] == "cancelled" and first["error"] == "stopped by SIGTERM"
    assert [store_runs.get_run(db, i)["status"] for i in ids[1:]] == ["queued", "queued"]
    assert "stopped by SIGTERM after 1 run(s); the queue is left as it is" in out


def _kill_its_owner(db, run_id):
    """Make a claimed run look like its process died (a pid that cannot be alive)."""
    from store.db import connect

    store_runs.claim_run(db, run_id, "tf", "CPU")
    with connect(db) as con:
        con.execute("UPDATE runs SET pid = 2147483647 WHERE id = ?", [run_id])


def test_show_studies_and_report_reclaim_a_dead_run_first(db, content_rgb, style_rgb, capsys):
    from workbench.__main__ import main

    run_id = queue_run(db, _cfg(), content_rgb, style_rgb)
    _kill_its_owner(db, run_id)
    assert main(["show", str(run_id), "--db", str(db)]) == 0
    assert "status: interrupted" in capsys.readouterr().out
