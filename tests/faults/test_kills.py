"""Fault injection: SIGKILL at seeded random points of a flush, a run and a study.

After every kill the store opens, and its invariants hold once a reader has reclaimed
dead runs (as every read path does): no run `running` without a live owner, iterations
contiguous from step 1 and counted in `steps_done`, every referenced image present, no
image that nothing references, every finished run with its output. At the end a resume
completes the study. README ("Reliability") reports the counts.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from store import runs as store_runs
from store import studies as store_studies
from store.db import connect
from tests.conftest import ROOT

pytestmark = pytest.mark.faults

POINTS = 10  # kills per scenario
SEED = 2026
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "NST_NO_WORKER": "1"}

FLUSHING_CHILD = """
import sys, time
import numpy as np
from engine.config import TransferConfig
from store import runs as store_runs
from store.images import make_blob
from store.recorder import RunRecorder

db = sys.argv[1]
photo, painting = (make_blob(np.full((16, 16, 3), v, np.uint8)) for v in (10, 200))
config = TransferConfig(size=32, iterations=10**5, weights="none").resolve().to_dict()
run_id = store_runs.create_run(db, config, photo.id, painting.id, "f", images=[(photo, "p"), (painting, "s")])
store_runs.claim_run(db, run_id, "tf", "CPU")
recorder = RunRecorder(db, run_id, every_steps=7, every_s=0.05)
print("ready", flush=True)
step = 0
while True:
    step += 1
    recorder.add_iteration((step, 1.0 / step, 0.5, 0.5, 0.0, 0.01, step * 0.01, 32))
    if step % 5 == 0:
        recorder.add_snapshot(step, np.full((16, 16, 3), step % 251, np.uint8))
    time.sleep(0.002)
"""


def assert_invariants(db: Path) -> None:
    """The store's invariants, checked as a reader sees them (dead runs reclaimed first)."""
    store_runs.mark_stale_runs(db)
    with connect(db) as con:
        running = con.execute("SELECT id, pid FROM runs WHERE status = 'running'").fetchall()
        assert [r for r in running if not store_runs.pid_alive(r[1])] == [], "running without a live owner"
        broken = con.execute(
            "SELECT r.id FROM runs r LEFT JOIN (SELECT run_id, min(step) lo, max(step) hi, count(*) n "
            "FROM iterations GROUP BY run_id) i ON i.run_id = r.id "
            "WHERE coalesce(i.n, 0) <> r.steps_done OR (i.n > 0 AND (i.lo <> 1 OR i.hi <> i.n))"
        ).fetchall()
        assert broken == [], "iterations not contiguous from 1, or not what steps_done says"
        refs = (
            "SELECT content_image AS ref FROM runs UNION ALL SELECT style_image FROM runs "
            "UNION ALL SELECT output_image FROM runs WHERE output_image IS NOT NULL "
            "UNION ALL SELECT image_id FROM snapshots"
        )
        assert con.execute(f"SELECT ref FROM ({refs}) WHERE ref NOT IN (SELECT id FROM images)").fetchall() == []
        assert con.execute(f"SELECT id FROM images WHERE id NOT IN ({refs})").fetchall() == [], "orphan images"
        no_output = "SELECT id FROM runs WHERE status = 'finished' AND output_image IS NULL"
        assert con.execute(no_output).fetchall() == []


def _kill_after(proc: subprocess.Popen, started, delay: float) -> None:
    """SIGKILL `proc` `delay` seconds after `started()` first holds (or when it exits)."""
    deadline = time.monotonic() + 180
    while not started() and proc.poll() is None:
        assert time.monotonic() < deadline, "the child never started working"
        time.sleep(0.05)
    time.sleep(delay)
    proc.kill()
    proc.wait(timeout=60)


def _logged(db: Path) -> int:
    """Iteration rows in the store so far."""
    if not db.exists():
        return 0
    with connect(db) as con:
        return con.execute("SELECT count(*) FROM iterations").fetchone()[0]


def _spawn_and_kill(cmd: list[str], db: Path, delay: float) -> None:
    """Start `cmd`, and kill it `delay` s after it has logged its first new step."""
    before = _logged(db)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _kill_after(proc, lambda: _logged(db) > before, delay)


def test_sigkill_during_flushes(tmp_path):
    rng, db = random.Random(SEED), tmp_path / "flush.duckdb"
    for _ in range(POINTS):
        proc = subprocess.Popen(
            [sys.executable, "-c", FLUSHING_CHILD, str(db)], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "ready"
        _kill_after(proc, lambda: True, rng.uniform(0.0, 0.6))
        assert_invariants(db)
    assert len(store_runs.list_runs(db)) == POINTS


def test_sigkill_during_runs(tmp_path, image_files):
    rng, db = random.Random(SEED + 1), tmp_path / "run.duckdb"
    content, style = image_files
    cmd = [sys.executable, "-m", "workbench", "run", "--content", str(content), "--style", str(style), "--db", str(db)]
    cmd += ["--size", "32", "--iterations", "100000", "--snapshot-every", "7", "--weights", "none"]
    for _ in range(POINTS):
        _spawn_and_kill(cmd, db, rng.uniform(0.0, 1.0))
        assert_invariants(db)
    runs = store_runs.list_runs(db)
    assert len(runs) == POINTS and set(runs["status"]) == {"interrupted"}


def test_sigkill_during_a_study_then_resume_completes_it(tmp_path, image_files, models):
    from workbench.__main__ import main

    rng, db = random.Random(SEED + 2), tmp_path / "study.duckdb"
    content, style = image_files
    args = ["study", "--preset", "backbones", "--content", str(content), "--style", str(style), "--seeds", "0,1"]
    args += ["--size", "32", "--iterations", "20", "--snapshot-every", "5", "--weights", "none", "--db", str(db)]
    cmd = [sys.executable, "-m", "workbench", *args, "--wait"]
    for _ in range(POINTS):
        _spawn_and_kill(cmd, db, rng.uniform(0.0, 1.0))
        assert_invariants(db)
    assert main([*args, "--wait"], models) == 0  # the resume runs what is left
    assert_invariants(db)
    progress = store_studies.study_progress(db, 1)
    assert progress["finished"] == progress["cells"] == 4
