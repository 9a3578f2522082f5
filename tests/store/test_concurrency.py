"""Several processes writing one database file at once lose nothing."""

import subprocess
import sys
import textwrap

from store import runs as store_runs
from store.db import connect
from tests.store.test_store import _run

WRITER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from store.recorder import RunRecorder
    db, run_id, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rec = RunRecorder(db, run_id, every_steps=10, every_s=1e9)
    for step in range(1, n + 1):
        rec.add_iteration((step, 1.0, 0.5, 0.5, 0.0, 0.001, step * 0.001))
        time.sleep(0.0005)
    rec.flush()
    """
)


def test_two_processes_append_at_once(db, tmp_path):
    from tests.conftest import ROOT

    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT)))
    ids = [_run(db), _run(db)]
    n = 400
    procs = [subprocess.Popen([sys.executable, str(script), str(db), str(i), str(n)]) for i in ids]
    # A reader polling meanwhile always sees a prefix of each run's steps.
    while any(p.poll() is None for p in procs):
        for run_id in ids:
            steps = list(store_runs.get_iterations(db, run_id)["step"])
            assert steps == list(range(1, len(steps) + 1))
    assert [p.returncode for p in procs] == [0, 0]
    with connect(db) as con:
        counts = con.execute("SELECT run_id, count(*) FROM iterations GROUP BY run_id ORDER BY run_id").fetchall()
    assert counts == [(ids[0], n), (ids[1], n)]
