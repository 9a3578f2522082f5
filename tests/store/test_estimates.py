"""store/estimates.py on a fresh store with hand-inserted runs and iterations."""

from __future__ import annotations

import numpy as np
import pytest

from store import estimates
from store import images as store_images
from store import runs as store_runs
from store.db import connect
from tests.store.test_queries import config_for


def _images(db) -> tuple[str, str]:
    rgb = np.zeros((8, 8, 3), np.uint8)
    return store_images.put_image(db, rgb, "c.png"), store_images.put_image(db, rgb + 1, "s.png")


def add_run(db, backbone="vgg16", size=32, steps=100, status="queued", wall=None, done=None) -> int:
    """One run row; a finished one with `wall` seconds over `done` (default: all) steps."""
    content, style = _images(db)
    cfg = {**config_for(backbone, 5.0, steps), "size": size}
    run_id = store_runs.create_run(db, cfg, content, style, "f")
    with connect(db) as con:
        if status != "queued":
            con.execute(
                "UPDATE runs SET status = ?, started_at = now(), finished_at = now(), wall_seconds = ?, "
                "steps_done = ? WHERE id = ?",
                [status, wall, steps if done is None else done, run_id],
            )
    return run_id


def log_steps(db, run_id: int, steps: int, seconds: list[float]) -> None:
    """Exactly `steps` iteration rows whose step times are `seconds` (cycled); marks it running."""
    with connect(db) as con:
        con.execute("DELETE FROM iterations WHERE run_id = ?", [run_id])
        elapsed = 0.0
        for step in range(1, steps + 1):
            took = seconds[(step - 1) % len(seconds)]
            elapsed += took
            con.execute(
                "INSERT INTO iterations (run_id, step, total_loss, content_loss, style_loss, tv_loss, "
                "step_seconds, elapsed_seconds) VALUES (?, ?, 1, 1, 1, 1, ?, ?)",
                [run_id, step, took, elapsed],
            )
        con.execute(
            "UPDATE runs SET status = 'running', started_at = now(), steps_done = ? WHERE id = ?", [steps, run_id]
        )


def test_step_rates_take_the_median_of_finished_runs_per_backbone_and_size(db):
    for wall in (10.0, 20.0, 90.0):  # 0.1, 0.2, 0.9 s per step over 100 steps: median 0.2
        add_run(db, "resnet50", 256, 100, "finished", wall)
    add_run(db, "resnet50", 256, 100, "failed", 1.0)  # not finished: ignored
    add_run(db, "resnet50", 512, 50, "finished", 50.0)  # 1 s per step at another size
    add_run(db, "vgg16", 256, 100, "finished", 5.0)
    rates = estimates.step_rates(db)
    assert rates[("resnet50", 256)] == estimates.StepRate("resnet50", 256, pytest.approx(0.2), 3)
    assert rates[("resnet50", 512)].seconds_per_step == pytest.approx(1.0)
    assert rates[("vgg16", 256)].runs == 1
    assert ("vgg16", 512) not in rates


def test_queued_runs_get_their_position_and_the_runs_ahead_count(db):
    add_run(db, "vgg16", 64, 100, "finished", 20.0)  # 0.2 s/step
    add_run(db, "resnet50", 64, 100, "finished", 50.0)  # 0.5 s/step
    running = add_run(db, "vgg16", 64, 200)
    log_steps(db, running, 50, [0.2])  # 25 % done: its own pace (0.2 s) -> 150 steps = 30 s left
    first = add_run(db, "resnet50", 64, 100)  # 50 s
    second = add_run(db, "vgg16", 64, 10)  # 2 s
    est = estimates.queue_estimates(db)
    assert est[running].position is None and est[running].own_pace
    assert est[running].seconds_left == pytest.approx(30.0)
    assert (est[first].position, est[first].ahead, est[first].running_ahead) == (1, (running,), (running,))
    assert est[first].seconds_left == pytest.approx(30.0 + 50.0)
    assert est[first].basis == estimates.StepRate("resnet50", 64, pytest.approx(0.5), 1)
    assert (est[second].position, est[second].ahead) == (2, (running, first))
    assert est[second].seconds_left == pytest.approx(30.0 + 50.0 + 2.0)


def test_no_history_means_no_estimate_for_that_run_and_those_behind_it(db):
    add_run(db, "vgg16", 64, 100, "finished", 20.0)
    unknown = add_run(db, "resnet50", 128, 100)  # no finished resnet50 run at 128 px
    behind = add_run(db, "vgg16", 64, 100)
    est = estimates.queue_estimates(db)
    assert est[unknown].seconds_left is None and est[unknown].missing == (("resnet50", 128),)
    assert est[behind].own_seconds == pytest.approx(20.0)
    assert est[behind].seconds_left is None and est[behind].missing == (("resnet50", 128),)


def test_a_young_running_run_is_timed_by_history_not_by_its_compile_heavy_first_steps(db):
    add_run(db, "vgg16", 64, 100, "finished", 10.0)  # 0.1 s per step
    running = add_run(db, "vgg16", 64, 100)
    log_steps(db, running, 2, [12.0, 0.1])  # step 1 compiles: 12 s
    est = estimates.queue_estimates(db)[running]
    assert not est.own_pace and est.basis.runs == 1
    assert est.seconds_left == pytest.approx(98 * 0.1)  # not 98 * 6.05 s
    log_steps(db, running, 20, [0.1])  # past 10 %: its own pace
    est = estimates.queue_estimates(db)[running]
    assert est.own_pace and est.seconds_left == pytest.approx(80 * 0.1)


def test_a_young_running_run_without_history_has_no_estimate(db):
    running = add_run(db, "resnet50", 64, 100)
    log_steps(db, running, 3, [9.0, 0.2, 0.2])
    assert estimates.queue_estimates(db)[running].seconds_left is None
