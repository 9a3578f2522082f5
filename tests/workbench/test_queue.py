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
