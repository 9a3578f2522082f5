"""Queueing runs and starting the background worker (`workbench.queue`)."""

import pytest

from dashboard import launch
from store import runs as store_runs
from workbench import queue

TINY = {"size": 32, "iterations": 3, "weights": "none", "snapshot_every": 0}


@pytest.fixture(autouse=True)
def no_worker(monkeypatch) -> None:
    monkeypatch.setenv("NST_NO_WORKER", "1")


def test_worker_env_switch(monkeypatch, db):
    assert queue.worker_disabled() and queue.start_worker(db) is None
    monkeypatch.setenv(queue.NO_WORKER_ENV, "0")
    assert not queue.worker_disabled()


def test_start_worker_runs_the_queue_in_the_background(db, image_files, monkeypatch):
    """The real spawn path: a detached `python -m workbench worker` executes a queued run."""
    monkeypatch.delenv(queue.NO_WORKER_ENV)
    content, style = image_files
    cfg = launch.build_config({"backbone": "vgg16", **TINY})
    inputs = [launch.ImageInput(data=p.read_bytes(), name=p.name) for p in (content, style)]
    (run_id,) = launch.queue_runs(db, [cfg], *inputs)
    proc = queue.start_worker(db)
    assert proc is not None
    assert proc.wait(timeout=240) == 0
    run = store_runs.get_run(db, run_id)
    assert run["status"] == "finished", run["error"]
    assert run["steps_done"] == 3 and run["output_image"]
    assert "worker done: 1 run(s)" in (db.parent / f"{db.name}.worker.log").read_text()


def test_start_metrics_honours_the_no_worker_switch(db):
    assert queue.start_metrics(db, 1, {"resnet50": "/x.h5"}) is None
    assert not (db.parent / f"{db.name}.metrics.log").exists()


def test_start_metrics_computes_a_runs_metrics_in_the_background(db, image_files, models, monkeypatch, tmp_path):
    """The real spawn path: a detached `python -m workbench metrics RUN` fills the run's
    `run_metrics` rows, with a weights flag per judge named (empty ones left out)."""
    from store import metrics as store_metrics
    from workbench.__main__ import main

    content, style = image_files
    args = ["run", "--content", str(content), "--style", str(style), "--size", "32", "--iterations", "3"]
    assert main([*args, "--snapshot-every", "0", "--weights", "none", "--db", str(db)], models) == 0
    store_metrics.put_metrics(db, 1, [])  # as a run from before fair metrics existed
    assert store_metrics.get_metrics(db, [1]).empty
    monkeypatch.delenv(queue.NO_WORKER_ENV)
    missing = tmp_path / "vgg19 weights.h5"  # a neutral judge's file that is not there: that judge is skipped
    proc = queue.start_metrics(db, 1, {"vgg19": str(missing), "resnet50": "  "})
    assert proc is not None
    assert proc.args[3:] == ["metrics", "1", "--db", str(db), "--weights-vgg19", str(missing)]
    assert proc.wait(timeout=240) == 0, (db.parent / f"{db.name}.metrics.log").read_text()
    rows = store_metrics.get_metrics(db, [1])
    assert {"ssim", "judge_total_loss"} <= set(rows["metric"])
    vgg19 = rows[rows["judge"] == "vgg19"]
    assert not vgg19.empty and vgg19["value"].isna().all()
    assert "1: " in (db.parent / f"{db.name}.metrics.log").read_text()
