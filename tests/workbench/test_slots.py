"""Worker slots: at most N workers per database, and the held lock as the liveness signal."""

import os
import subprocess
import sys

from workbench.slots import running_workers, slot_path, worker_slot

HOLD_A_SLOT = """
import sys, time
from pathlib import Path
from workbench.slots import worker_slot
with worker_slot(Path(sys.argv[1]), 1) as slot:
    print(slot, flush=True)
    time.sleep(60)
"""


def test_slots_are_taken_in_turn_and_a_holders_pid_survives_a_probe(tmp_path):
    db = tmp_path / "nst.duckdb"
    assert running_workers(db) == []
    with worker_slot(db, 2) as first:
        with worker_slot(db, 2) as second, worker_slot(db, 2) as third:
            assert (first, second, third) == (0, 1, None)
            assert running_workers(db) == [os.getpid(), os.getpid()]
        assert slot_path(db, 0).read_text() == str(os.getpid())  # the full third try did not wipe it
        assert running_workers(db) == [os.getpid()]
    assert running_workers(db) == []


def test_a_killed_worker_is_not_running_the_moment_it_dies(tmp_path):
    db = tmp_path / "nst.duckdb"
    proc = subprocess.Popen([sys.executable, "-c", HOLD_A_SLOT, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "0"
        assert running_workers(db) == [proc.pid]
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert running_workers(db) == []
