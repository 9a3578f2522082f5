"""Helpers every page uses: dead runs are reclaimed before any page shows runs."""

from __future__ import annotations

import pytest

from store import runs as store_runs
from store.db import connect
from tests.dashboard.conftest import page


@pytest.mark.parametrize("script", ["gallery.py", "run_detail.py", "compare.py"])
def test_a_page_shows_a_run_whose_process_died_as_interrupted(populated, script):
    run = store_runs.get_run(populated, 1)
    run_id = store_runs.create_run(populated, run["config"], run["content_image"], run["style_image"], "f")
    store_runs.claim_run(populated, run_id, "tf", "CPU")
    with connect(populated) as con:  # its worker was SIGKILLed: the pid is gone
        con.execute("UPDATE runs SET pid = 2147483647 WHERE id = ?", [run_id])
    at = page(script).run()
    assert not at.exception, [e.value for e in at.exception]  # Run detail shows the run's error: expected
    assert store_runs.get_run(populated, run_id)["status"] == "interrupted"


CALLS: list[tuple] = []


def counted_read(db, *args):
    """A store read that counts its calls (for the store_read cache test)."""
    CALLS.append(args)
    with connect(db) as con:
        return con.execute("SELECT count(*) FROM runs").fetchone()[0]


def test_store_read_queries_again_only_after_the_store_commits(db):
    from dashboard.common import store_read

    with connect(db):
        pass  # a fresh store exists before the first read
    CALLS.clear()
    assert store_read(counted_read, db, 1) == store_read(counted_read, db, 1) == 0
    assert len(CALLS) == 1  # the second read came from the cache
    with connect(db) as con:
        con.execute("CREATE TABLE touched (i INTEGER)")  # any commit moves the change token
    store_read(counted_read, db, 1)
    store_read(counted_read, db, 2)  # other arguments: another entry
    assert len(CALLS) == 3
