"""The live view says whether a worker is really running, from the workers' slot locks."""

from __future__ import annotations

from store import runs as store_runs
from tests.dashboard.conftest import page
from workbench.slots import worker_slot


def _queue_one(db):
    run = store_runs.get_run(db, 1)
    return store_runs.create_run(db, run["config"], run["content_image"], run["style_image"], "f")


def _captions(at) -> str:
    return "\n".join(str(c.value) for c in at.caption)


def test_a_queued_run_without_a_worker_offers_to_start_one(populated):
    _queue_one(populated)
    at = page("launch.py").run()
    assert not at.exception
    assert "no worker is running" in _captions(at)
    assert any(b.key == "live_start_worker" for b in at.button)


def test_a_running_worker_is_named_and_not_started_twice(populated):
    _queue_one(populated)
    with worker_slot(populated, 1) as slot:  # a worker holds the database's slot
        assert slot == 0
        at = page("launch.py").run()
    assert not at.exception
    assert "the worker (pid" in _captions(at)
    assert not any(b.key == "live_start_worker" for b in at.button)
