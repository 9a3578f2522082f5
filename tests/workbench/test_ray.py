"""The Ray executor (`workbench.ray_executor`) on a local Ray instance started here (2 CPUs,
no dashboard, no network), against the local executor on identical stores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from engine.config import TransferConfig, validate  # noqa: E402
from store import metrics as store_metrics  # noqa: E402
from store import runs as store_runs  # noqa: E402
from store import studies as store_studies  # noqa: E402
from store.db import connect  # noqa: E402
from tests.conftest import ROOT, synthetic_image  # noqa: E402
from workbench import queue, ray_executor  # noqa: E402
from workbench.executors import EXECUTORS, ExecutorOptions, get_executor  # noqa: E402
from workbench.studies import get_preset  # noqa: E402

TINY = {"size": 32, "iterations": 4, "weights": "none", "snapshot_every": 2}


@pytest.fixture(scope="module")
def ray_local():
    """A Ray instance for the module; its workers import this project from PYTHONPATH."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}},
    )
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def no_worker(monkeypatch) -> None:
    monkeypatch.setenv(queue.NO_WORKER_ENV, "1")


def _study(db, seeds=(0, 1), overrides=TINY) -> queue.StudyLaunch:
    """A 2-backbone x 1-pair x len(seeds) study launched (or launched again) on `db`."""
    contents = [(synthetic_image(32, 40, seed=1), "photo.png")]
    styles = [(synthetic_image(32, 32, seed=2), "painting.png")]
    inputs = queue.StudyInputs(get_preset("backbones"), dict(overrides), list(seeds), contents, styles)
    return queue.launch_study(db, inputs)


def _one_run(db, **settings) -> int:
    """One queued VGG16 run at 32 px with random weights; its id."""
    cfg = validate(TransferConfig(**{**TINY, **settings}))
    photo, painting = (synthetic_image(32, 40, seed=1), "photo.png"), (synthetic_image(32, 32, seed=2), "painting.png")
    return queue.queue_arrays(db, cfg, photo, painting)


def _cells(db) -> dict[str, dict]:
    """Every run of the store by study cell: its row and its iteration rows."""
    with connect(db) as con:
        ids = [r[0] for r in con.execute("SELECT id FROM runs ORDER BY id").fetchall()]
    out = {}
    for run_id in ids:
        row = store_runs.get_run(db, run_id)
        out[row["study_cell"]] = {"row": row, "iters": store_runs.get_iterations(db, run_id)}
    return out


def _options(**kw) -> ExecutorOptions:
    return ExecutorOptions(**{"metrics": False, "batch_steps": 2, **kw})


def test_a_study_drained_through_ray_stores_what_a_local_drain_stores(ray_local, tmp_path, models):
    ray_db, local_db = tmp_path / "ray.duckdb", tmp_path / "local.duckdb"
    _study(ray_db)
    _study(local_db)
    events = []
    t0 = time.perf_counter()
    options = _options(metrics=True, on_event=lambda *e: events.append(e))
    ran = get_executor("ray").drain(ray_db, ray_db, models, options)
    ray_s = time.perf_counter() - t0
    assert ran == 4
    assert EXECUTORS["local"].drain(local_db, local_db, models, _options()) == 4
    by_ray, by_local = _cells(ray_db), _cells(local_db)
    assert set(by_ray) == set(by_local) and len(by_ray) == 4
    for cell, got in by_ray.items():
        want = by_local[cell]
        row = got["row"]
        assert row["status"] == "finished", row["error"]
        assert row["steps_done"] == want["row"]["steps_done"] == TINY["iterations"]
        assert row["device"] == "CPU" and row["tf_version"] and row["pid"] == os.getpid()
        assert row["output_image"] and row["wall_seconds"] > 0
        for name in ("total_loss", "content_loss", "style_loss", "best_loss"):
            assert row[name] == pytest.approx(want["row"][name], rel=1e-3), (cell, name)
        assert list(got["iters"]["step"]) == list(want["iters"]["step"]) == [1, 2, 3, 4]
        np.testing.assert_allclose(got["iters"]["total_loss"], want["iters"]["total_loss"], rtol=1e-3)
        steps = list(store_runs.get_snapshots(ray_db, row["id"])["step"])
        assert steps == list(store_runs.get_snapshots(local_db, want["row"]["id"])["step"]) == [0, 2, 4]
    started = {e[0] for e in events if e[1] == "started"}
    assert started == {c["row"]["id"] for c in by_ray.values()}
    assert not store_metrics.get_metrics(ray_db, sorted(started)).empty  # fair metrics, computed by the driver
    print(f"ray drain of 4 cells: {ray_s:.1f} s")


def test_a_task_whose_worker_is_killed_is_retried_without_duplicate_rows(ray_local, db, models):
    run_id = _one_run(db, iterations=40, snapshot_every=10)
    pids, killed = {}, []

    def kill_once(run_id, kind, info):
        if kind == "started":
            pids[run_id] = info["pid"]
        elif kind == "steps" and info["step"] >= 6 and not killed:
            killed.append(pids[run_id])
            os.kill(pids[run_id], signal.SIGKILL)  # the task's worker process, mid-run

    assert get_executor("ray").drain(db, db, models, _options(on_event=kill_once)) == 1
    assert killed and not store_runs.pid_alive(killed[0])  # its first worker is gone: a retry finished it
    run, iters = store_runs.get_run(db, run_id), store_runs.get_iterations(db, run_id)
    assert run["status"] == "finished", run["error"]
    assert run["steps_done"] == 40
    assert list(iters["step"]) == list(range(1, 41))  # every step once: none lost, none twice
    assert np.isfinite(iters["total_loss"]).all()
    assert list(store_runs.get_snapshots(db, run_id)["step"]) == [0, 10, 20, 30, 40]


def test_cancelling_a_run_cancels_its_task(ray_local, db, models):
    run_id = _one_run(db, iterations=20_000, snapshot_every=0)
    asked, ended = [], []

    def cancel(run_id, kind, info):
        if kind == "steps" and not asked:
            asked.append(time.monotonic())
            assert store_runs.request_cancel(db, run_id) == "running"  # as the dashboard's Cancel does

    options = _options(on_event=cancel, on_done=lambda run_id: ended.append(time.monotonic()))
    assert get_executor("ray").drain(db, db, models, options) == 1
    run = store_runs.get_run(db, run_id)
    assert run["status"] == "cancelled", run["error"]
    assert 0 < run["steps_done"] < 20_000
    assert len(store_runs.get_iterations(db, run_id)) == run["steps_done"]
    # its task stopped when cancelled, not when the driver gave up waiting and killed it
    assert ended[0] - asked[0] < ray_executor.CANCEL_GRACE_S


def _wait_for(what, check, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return found


def test_a_killed_driver_leaves_interrupted_runs_that_a_relaunch_resumes(ray_local, db, models, tmp_path):
    """SIGKILL the driver process (`python -m workbench.ray_executor`, on this module's Ray
    instance) mid-run: its tasks go with it, its runs are `interrupted` by the stale-run
    logic, and launching the study again re-queues them and the Ray executor finishes them."""
    overrides = {**TINY, "iterations": 200, "snapshot_every": 0}
    study_id = _study(db, seeds=(0,), overrides=overrides).study_id
    address = ray.get_runtime_context().gcs_address
    cmd = [sys.executable, "-m", "workbench.ray_executor", "--db", str(db), "--ray-address", address, "--no-metrics"]
    log = tmp_path / "driver.log"
    with open(log, "wb") as out:
        driver = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        running = _wait_for(
            "a run its task started",
            lambda: [r for r in _cells(db).values() if r["row"]["status"] == "running"],
        )
    finally:
        driver.kill()
        driver.wait()
    assert driver.returncode == -signal.SIGKILL, log.read_text()[-2000:]
    assert running[0]["row"]["pid"] == driver.pid
    # Ray ends a dead driver's tasks: their CPUs come back
    _wait_for("the dead driver's tasks to end", lambda: ray.available_resources().get("CPU") == 2, timeout=60)
    stale = store_runs.mark_stale_runs(db)
    assert running[0]["row"]["id"] in stale
    assert store_runs.get_run(db, running[0]["row"]["id"])["status"] == "interrupted"
    relaunch = _study(db, seeds=(0,), overrides=overrides)
    assert relaunch.resumed and relaunch.study_id == study_id
    counts = relaunch.counts  # the other cell: finished, interrupted too, or still queued ("active")
    assert counts["requeued"] >= 1 and counts["requeued"] + counts["finished"] + counts["active"] == 2
    assert get_executor("ray").drain(db, db, models, _options()) == counts["requeued"] + counts["active"]
    latest = {}
    for cell, got in _cells(db).items():
        latest[cell] = got["row"]["status"]
        if got["row"]["status"] == "finished":
            assert list(got["iters"]["step"]) == list(range(1, 201))
    assert set(latest.values()) == {"finished"} and len(latest) == 2


def test_the_local_executor_and_the_executor_list_load_no_ray(tmp_path):
    """Importing runner, queue and executors and draining locally loads no Ray (a fresh
    interpreter: this module has Ray loaded)."""
    db = tmp_path / "nst.duckdb"
    code = f"""
import json, sys
from tests.conftest import synthetic_image
from workbench import executors, queue, runner
from workbench.models import ModelCache
from engine.config import TransferConfig
from engine.config import validate
cfg = validate(TransferConfig(size=32, iterations=2, weights="none", snapshot_every=0))
queue.queue_arrays({str(db)!r}, cfg, (synthetic_image(32, 32, 1), "c"), (synthetic_image(32, 32, 2), "s"))
ran = executors.drain("local", {str(db)!r}, __import__("pathlib").Path({str(db)!r}), ModelCache())
print(json.dumps([ran, [e.name for e in executors.EXECUTORS.values() if e.available()], "ray" in sys.modules]))
"""
    env = {**os.environ, queue.NO_WORKER_ENV: "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    ran, available, loaded = json.loads(out.stdout.splitlines()[-1])
    assert ran == 1 and available == ["local", "ray"] and loaded is False


def test_tasks_ask_for_a_gpu_each_when_the_cluster_has_gpus_else_cpus():
    gpu = ray_executor.task_resources({"CPU": 16.0, "GPU": 2.0})
    assert gpu == ray_executor.TaskResources({"num_gpus": 1, "num_cpus": 1}, 2, 0)
    cpu = ray_executor.task_resources({"CPU": 16.0}, cpus_per_task=4)
    assert cpu == ray_executor.TaskResources({"num_cpus": 4}, 4, 4)
    assert ray_executor.task_resources({"CPU": 16.0}, max_in_flight=3).in_flight == 3
    assert ray_executor.task_resources({"CPU": 1.0}, cpus_per_task=4).in_flight == 1


def _task_items(db, run_id, batch_steps=3) -> list[dict]:
    """The items of a run's task, run in this process as the plain generator it is."""
    return list(ray_executor.run_task(ray_executor.task_inputs(db, run_id, batch_steps=batch_steps)))


def test_a_tasks_batches_end_at_the_same_steps_every_time(db):
    """What a retry relies on: Ray drops the retry's first k items, so item k of every
    attempt must hold the same steps."""
    run_id = _one_run(db, iterations=11, snapshot_every=4)
    shapes = []
    for _ in range(2):
        items = _task_items(db, run_id)
        assert [i["kind"] for i in items][0] == "started" and items[-1]["kind"] == "result", items[-1]
        shapes.append([([r[0] for r in i["rows"]], i["snapshot"] and i["snapshot"][0]) for i in items[1:-1]])
    assert shapes[0] == shapes[1]
    assert shapes[0] == [([], 0), ([1, 2, 3], None), ([4], 4), ([5, 6], None), ([7, 8], 8), ([9], None), ([10, 11], 11)]


def test_a_task_without_imagenet_in_its_keras_cache_fails_the_run_as_a_local_worker_does(db, monkeypatch, tmp_path):
    from engine.errors import WeightsError
    from workbench.models import ModelCache

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty-keras"))
    for proxy in ("https_proxy", "HTTPS_PROXY"):  # no download either, even on a machine online
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")
    monkeypatch.setattr(ray_executor, "_MODELS", None)  # this process's task cache, fresh
    run_id = _one_run(db, weights="imagenet")
    items = _task_items(db, run_id)
    assert [i["kind"] for i in items] == ["started", "failed"]
    with pytest.raises(WeightsError) as local:
        ModelCache().backbone("vgg16", "imagenet", 0)
    assert items[-1]["error"] == str(local.value)
    assert "not cached at" in items[-1]["error"]


def test_cancelling_a_study_cancels_its_tasks(ray_local, db, models):
    """A study's cancel (CLI `cancel --study`, the Studies page's button) while its cells
    run as Ray tasks: every cell ends `cancelled` soon after, none finishes. Iterations
    are enough to outlast the test only if the cancel is missed (then it fails, not hangs)."""
    study_id = _study(db, seeds=(0,), overrides={**TINY, "iterations": 3000, "snapshot_every": 0}).study_id
    asked, ended = [], []

    def cancel(run_id, kind, info):
        if kind == "steps" and not asked:
            asked.append(time.monotonic())
            assert store_studies.cancel_study(db, study_id)["stopping"] >= 1

    options = _options(on_event=cancel, on_done=lambda run_id: ended.append(time.monotonic()))
    get_executor("ray").drain(db, db, models, options)
    cells = store_studies.study_runs(db, study_id)
    assert list(cells["status"]) == ["cancelled", "cancelled"], list(cells["error"])
    assert (cells["steps_done"] < 3000).all()
    assert max(ended) - asked[0] < ray_executor.CANCEL_GRACE_S  # stopped, not killed after the grace
