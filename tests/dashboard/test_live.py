"""The live view: whether a worker is really running (the workers' slot locks), queue
positions and honest ETAs, and every loss named."""

from __future__ import annotations

import os

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


def _markdown(at) -> str:
    return "\n".join(str(m.value) for m in at.markdown)


def _queue_copy(db, size: int | None = None) -> int:
    run = store_runs.get_run(db, 1)  # vgg16, 8 steps at 32 px, finished
    config = {**run["config"], **({"size": size} if size else {})}
    return store_runs.create_run(db, config, run["content_image"], run["style_image"], "f")


def test_queued_runs_say_their_place_and_an_eta_from_past_runs(populated):
    first, second = _queue_copy(populated), _queue_copy(populated)
    at = page("launch.py").run()
    assert not at.exception
    text = _captions(at)
    assert "1st in the queue · ends in ≈" in text
    assert f"2nd in the queue, after run #{first} · ends in ≈" in text
    assert "from 1 earlier VGG16 run at 32 px, including the 1 run ahead" in text
    assert f"**Run #{second}** · vgg16" in _markdown(at) and ":gray-badge[queued]" in _markdown(at)


def test_no_history_no_eta(populated):
    _queue_copy(populated, size=48)  # no finished run at 48 px
    at = page("launch.py").run()
    assert not at.exception
    assert "no time estimate yet: no finished VGG16 at 48 px run to go by" in _captions(at)
    assert "ends in" not in _captions(at)


def test_a_finished_card_names_its_output_loss(populated):
    at = page("launch.py")
    at.query_params["run"] = "1"
    at.run()
    assert not at.exception
    run = store_runs.get_run(populated, 1)
    assert ":green-badge[finished]" in _markdown(at)
    text = _captions(at)
    assert f"output loss: **{run['total_loss']:.4g}**" in text
    assert "the curve's last point, loss at step 8, is" in text
    assert "last total loss" not in text


def test_a_running_card_shows_the_loss_at_its_last_step(populated):
    from store.db import connect

    run_id = _queue_copy(populated)
    with connect(populated) as con:
        con.execute(
            "INSERT INTO iterations (run_id, step, total_loss, content_loss, style_loss, tv_loss, step_seconds, "
            "elapsed_seconds) VALUES (?, 1, 123.0, 0, 1, 1, 9.0, 9.0), (?, 2, 100.0, 1, 1, 1, 0.1, 9.1)",
            [run_id, run_id],
        )
        con.execute("UPDATE runs SET status = 'running', started_at = now(), steps_done = 2 WHERE id = ?", [run_id])
    with connect(populated) as con:  # run by this (live) process, so no page marks it interrupted
        con.execute("UPDATE runs SET pid = ?, heartbeat_at = now() WHERE id = ?", [os.getpid(), run_id])
    at = page("launch.py").run()
    assert not at.exception
    text = _captions(at)
    assert "loss at step 2: 100" in text and ":blue-badge[running]" in _markdown(at)
    # 2 of 8 steps: 25 %, its own pace (9.1 s / 2 steps) counts
    assert "ends in ≈ 27.3s, from this run's pace so far" in text
