"""A run's style images in `run_styles`: rows in blend order with weights, masks and
sizes, written with the run in one transaction, removed with it, and images other runs'
rows still use kept."""

import numpy as np
import pytest

from store import images as store_images
from store import runs as store_runs
from store.db import connect
from tests.store.test_store import CONFIG


def _images(db, count: int) -> list[str]:
    return [store_images.put_image(db, np.full((8, 8, 3), i * 20, np.uint8), f"img{i}.png") for i in range(count)]


def _image_ids(db) -> set[str]:
    with connect(db) as con:
        return {r[0] for r in con.execute("SELECT id FROM images").fetchall()}


def test_styles_are_stored_in_order_with_weights_masks_and_sizes(db):
    content, a, b, mask_a, mask_b = _images(db, 5)
    rows = [
        store_runs.StyleRow(a, 0.7, mask_a, 64, 48),
        store_runs.StyleRow(b, 0.3, mask_b, 40, 64),
    ]
    run_id = store_runs.create_run(db, {**CONFIG, "style_blend_weights": [0.7, 0.3]}, content, a, "t", styles=rows)
    styles = store_runs.get_styles(db, run_id)
    got = [(s["position"], s["image_id"], s["weight"], s["mask_image"], s["height"], s["width"]) for s in styles]
    assert got == [(0, a, 0.7, mask_a, 64, 48), (1, b, 0.3, mask_b, 40, 64)]
    assert [s["name"] for s in styles] == ["img1.png", "img2.png"]
    assert [s["mask_name"] for s in styles] == ["img3.png", "img4.png"]
    run = store_runs.get_run(db, run_id)
    assert run["style_image"] == a and run["config"]["style_blend_weights"] == [0.7, 0.3]


def test_without_styles_a_run_has_its_style_image_with_weight_1(db):
    content, style = _images(db, 2)
    run_id = store_runs.create_run(db, CONFIG, content, style, "t")
    styles = store_runs.get_styles(db, run_id)
    assert [(s["image_id"], s["weight"], s["mask_image"]) for s in styles] == [(style, 1.0, None)]
    assert store_runs.get_styles(db, run_id + 1) == []


def test_a_first_style_row_that_is_not_the_style_image_writes_nothing(db):
    content, a, b = _images(db, 3)
    with pytest.raises(ValueError, match="first style"):
        store_runs.create_run(db, CONFIG, content, a, "t", styles=[store_runs.StyleRow(b)])
    with connect(db) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM run_styles").fetchone()[0] == 0


def test_deleting_a_run_removes_its_styles_and_keeps_images_other_runs_use(db):
    content, a, b, mask, only_mine = _images(db, 5)
    shared = [store_runs.StyleRow(a, 0.5), store_runs.StyleRow(b, 0.5, mask)]
    keep = store_runs.create_run(db, CONFIG, content, a, "t", status="finished", styles=shared)
    gone = store_runs.create_run(
        db, CONFIG, content, a, "t", status="finished", styles=[store_runs.StyleRow(a), store_runs.StyleRow(only_mine)]
    )
    store_runs.delete_run(db, gone)
    assert store_runs.get_styles(db, gone) == []
    assert [s["image_id"] for s in store_runs.get_styles(db, keep)] == [a, b]
    # b and the mask are only in `keep`'s run_styles rows (not runs.style_image): still there.
    assert _image_ids(db) == {content, a, b, mask}
    store_runs.delete_run(db, keep)
    assert _image_ids(db) == set()


def test_image_shapes_are_read_without_pixels(db):
    wide = store_images.put_image(db, np.zeros((10, 30, 3), np.uint8))
    assert store_images.get_shapes(db, [wide, "missing", wide]) == {wide: (10, 30)}
    assert store_images.get_shapes(db, []) == {}


def test_every_style_of_a_blend_is_offered_as_a_style_image_and_no_mask(db):
    content, a, b, mask = _images(db, 4)
    rows = [store_runs.StyleRow(a, 0.5), store_runs.StyleRow(b, 0.5, mask)]
    store_runs.create_run(db, CONFIG, content, a, "t", styles=rows)
    assert sorted(store_images.list_input_images(db, "style")) == sorted([(a, "img1.png"), (b, "img2.png")])
    assert store_images.list_input_images(db, "content") == [(content, "img0.png")]
