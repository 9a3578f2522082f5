"""store/gallery.py: the Gallery's and Home's queries against real stores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from store import gallery
from store import images as store_images
from store import runs as store_runs
from store.db import connect
from store.metrics import put_metrics

LAYERS = {
    "vgg16": ("block5_conv2", ["block1_conv1", "block2_conv1"]),
    "resnet50": ("conv3_block4_out", ["conv1_relu", "conv2_block1_out"]),
}

# Raw output losses on very different scales per backbone (as "5.489e+09 next to 120.8").
SCALE = {"vgg16": 1e9, "resnet50": 100.0}


def config_for(backbone: str, lr: float, steps: int) -> dict:
    """A resolved-looking config dict (the store does not validate layer names)."""
    content_layer, layers = LAYERS[backbone]
    return {
        "backbone": backbone, "content_layer": content_layer, "style_layers": layers,
        "style_layer_weights": [1.0] * len(layers), "content_weight": 1.0, "style_weight": 1.0, "tv_weight": 0.0,
        "learning_rate": lr, "iterations": steps, "size": 32, "init": "content", "seed": 0,
        "snapshot_every": steps, "weights": "none",
    }  # fmt: skip


def add_runs(db, specs: list[dict]) -> list[int]:
    """Runs from specs: backbone, first (loss at step 1, in units of the backbone's scale),
    output (output loss, same units), status, weights, tags, study, convention."""
    ids = []
    with connect(db) as con:
        for n, spec in enumerate(specs):
            backbone = spec.get("backbone", "vgg16")
            img = np.full((8, 8, 3), n, np.uint8)
            blobs = [store_images.make_blob(img), store_images.make_blob(img + 100), store_images.make_blob(img + 50)]
            store_images.insert_blobs(con, blobs)
            config = config_for(backbone, spec.get("lr", 10.0), 4)
            config |= {"weights": spec.get("weights", "none"), "loss_convention": spec.get("convention", "portable")}
            study = {"study_id": spec["study"]} if "study" in spec else None
            run_id = store_runs.insert_run(con, config, blobs[0].id, blobs[1].id, "test", study=study)
            status = spec.get("status", "finished")
            scale = SCALE[backbone]
            if status != "queued":
                first = spec.get("first", 1.0) * scale
                con.execute(
                    "INSERT INTO iterations SELECT ?, s, ? / s, 0, 0, 0, 0.01, 0.01 * s, 32 FROM range(1, 5) t(s)",
                    [run_id, first],
                )
            output = spec.get("output")
            con.execute(
                "UPDATE runs SET status = ?, steps_done = 4, total_loss = ?, output_image = ?, tags = ? WHERE id = ?",
                [
                    status,
                    None if output is None else output * scale,
                    blobs[2].id if status == "finished" else None,
                    list(spec.get("tags", [])),
                    run_id,
                ],
            )
            ids.append(run_id)
    return ids


def add_study(db, name: str) -> int:
    with connect(db) as con:
        return con.execute(
            "INSERT INTO studies (name, preset, spec, spec_key, cells, created_at, launched_at) "
            "VALUES (?, 'backbones', ?, ?, 1, now(), now()) RETURNING id",
            [name, json.dumps({}), name],
        ).fetchone()[0]


def ids(page: gallery.GalleryPage) -> list[int]:
    return [int(i) for i in page.rows["id"]]


def test_filters_by_weights_study_tag_status_and_convention(db):
    study = add_study(db, "my study")
    a, b, c, d, e = add_runs(
        db,
        [
            {"weights": "imagenet", "tags": ["keep", "blue"], "output": 0.5},
            {"weights": "/w/vgg16_notop.h5", "study": study, "output": 0.4},
            {"backbone": "resnet50", "weights": "/w/resnet50_notop.h5", "study": study, "tags": ["keep"]},
            {"backbone": "resnet50", "status": "failed", "convention": "gatys"},
            {"status": "queued"},
        ],
    )

    def found(**kw) -> list[int]:
        return sorted(ids(gallery.gallery_page(db, gallery.GalleryFilter(**kw), limit=50)))

    assert found() == [a, b, c, d, e]
    assert found(weights=("imagenet",)) == [a]
    assert found(weights=(gallery.ANY_FILE,)) == [b, c]
    assert found(weights=("/w/resnet50_notop.h5",)) == [c]
    assert found(weights=("none", "imagenet")) == [a, d, e]
    assert found(studies=(study,)) == [b, c]
    assert found(studies=(gallery.NOT_IN_STUDY,)) == [a, d, e]
    assert found(tags=("keep",)) == [a, c] and found(tags=("blue", "nope")) == [a]
    assert found(statuses=("failed", "queued")) == [d, e]
    assert found(conventions=("gatys",)) == [d]
    assert found(backbones=("resnet50",), tags=("keep",)) == [c]
    assert found(tags=("x' OR 1=1 --",), weights=("none'; DROP TABLE runs; --",)) == []
    assert gallery.count_runs(db, gallery.GalleryFilter()) == 5
    options = gallery.filter_options(db)
    assert options["weights"] == ["/w/resnet50_notop.h5", "/w/vgg16_notop.h5", "imagenet", "none"]
    assert options["studies"] == [(study, "my study")] and options["has_one_offs"]
    assert options["tags"] == ["blue", "keep"] and options["conventions"] == ["gatys", "portable"]
    row = gallery.gallery_page(db, gallery.GalleryFilter(studies=(study,)), limit=1).rows.iloc[0]
    assert row["study_name"] == "my study" and row["variant"] == "resnet50"


def test_sorting_across_backbones_uses_the_normalised_loss_never_raw(db):
    # Normalised losses (output / step 1): v1 0.5, r1 0.2, v2 0.1, r2 0.4; raw losses of
    # vgg16 are ~1e7 times those of resnet50.
    v1, r1, v2, r2 = add_runs(
        db,
        [
            {"backbone": "vgg16", "first": 1.0, "output": 0.5},
            {"backbone": "resnet50", "first": 1.0, "output": 0.2},
            {"backbone": "vgg16", "first": 2.0, "output": 0.2},
            {"backbone": "resnet50", "first": 0.5, "output": 0.2},
        ],
    )
    everything = gallery.GalleryFilter()
    page = gallery.gallery_page(db, everything, gallery.NORMALISED, limit=10)
    assert ids(page) == [v2, r1, r2, v1]
    assert list(page.rows["norm_loss"]) == pytest.approx([0.1, 0.2, 0.4, 0.5])
    assert page.missing == 0

    found = gallery.summary(db, everything)
    assert found == gallery.Summary(total=4, groups=2)
    assert not gallery.raw_loss_sortable(everything, found)
    assert gallery.RAW_LOSS not in gallery.sort_keys(everything, found, [])
    with pytest.raises(ValueError, match="one backbone"):
        gallery.gallery_page(db, everything, gallery.RAW_LOSS)

    vgg = gallery.GalleryFilter(backbones=("vgg16",))
    assert gallery.raw_loss_sortable(vgg, gallery.summary(db, vgg))
    assert gallery.RAW_LOSS in gallery.sort_keys(vgg, gallery.summary(db, vgg), [])
    assert ids(gallery.gallery_page(db, vgg, gallery.RAW_LOSS)) == [v2, v1]
    assert ids(gallery.gallery_page(db, vgg, gallery.RAW_LOSS_DESC)) == [v1, v2]
    with pytest.raises(KeyError):
        gallery.gallery_page(db, everything, "id; DROP TABLE runs")


def test_one_backbone_with_two_loss_conventions_does_not_sort_by_raw_loss(db):
    add_runs(db, [{"convention": "portable", "output": 0.5}, {"convention": "gatys", "output": 0.2}])
    vgg = gallery.GalleryFilter(backbones=("vgg16",))
    assert not gallery.raw_loss_sortable(vgg, gallery.summary(db, vgg))
    one = gallery.GalleryFilter(backbones=("vgg16",), conventions=("gatys",))
    assert gallery.raw_loss_sortable(one, gallery.summary(db, one))


def test_sorting_by_a_fair_metric_puts_runs_without_it_last(db):
    a, b, c, d = add_runs(db, [{"output": 0.5}, {"backbone": "resnet50", "output": 0.2}, {"output": 0.3}, {}])
    put_metrics(db, a, [("ssim", "", 0.3, ""), ("texture_ratio", "", 0.9, "")])
    put_metrics(db, b, [("ssim", "", 0.8, ""), ("texture_ratio", "", 0.5, "")])
    put_metrics(db, c, [("ssim", "", float("nan"), "could not compute"), ("judge_total_loss", "vgg16", 1.0, "")])
    everything = gallery.GalleryFilter()
    page = gallery.gallery_page(db, everything, gallery.metric_sort("ssim"), limit=10)
    assert ids(page)[:2] == [b, a] and sorted(ids(page)[2:]) == [c, d]  # higher SSIM is better
    assert list(page.rows["sort_value"])[:2] == pytest.approx([0.8, 0.3])
    assert page.missing == 2 and page.total == 4
    texture = gallery.gallery_page(db, everything, gallery.metric_sort("texture_ratio"), limit=10)
    assert ids(texture)[:2] == [b, a]  # lower is better
    # Only fair metrics present in the store are offered; cross-evaluation never sorts.
    options = gallery.filter_options(db)
    assert options["metrics"] == [("ssim", ""), ("texture_ratio", "")]
    keys = gallery.sort_keys(everything, gallery.summary(db, everything), options["metrics"])
    assert gallery.metric_sort("ssim") in keys and not any("judge_" in k for k in keys)
    with pytest.raises(KeyError):
        gallery.gallery_page(db, everything, gallery.metric_sort("judge_total_loss", "vgg16"))


def test_counts_latest_outputs_and_comparable_figures_per_backbone(db):
    a, b, _ = add_runs(
        db,
        [
            {"backbone": "vgg16", "first": 1.0, "output": 0.25},
            {"backbone": "resnet50", "first": 1.0, "output": 0.5},
            {"status": "queued"},
        ],
    )
    put_metrics(db, b, [("ssim", "", 0.7, "")])
    counts = gallery.overview_counts(db)
    assert counts.to_dict("records") == [
        {"backbone": "resnet50", "status": "finished", "runs": 1},
        {"backbone": "vgg16", "status": "finished", "runs": 1},
        {"backbone": "vgg16", "status": "queued", "runs": 1},
    ]
    latest = gallery.latest_outputs(db, limit=5)
    assert list(latest["id"]) == [b, a]
    assert list(latest["norm_loss"]) == pytest.approx([0.5, 0.25])
    assert latest["ssim"].iloc[0] == pytest.approx(0.7) and np.isnan(latest["ssim"].iloc[1])
    thumbs = store_images.get_thumbs(db, list(latest["output_image"]))
    assert all(t.startswith(b"\x89PNG") for t in thumbs.values()) and len(thumbs) == 2
    summary = gallery.backbone_summary(db).set_index("variant")
    assert summary.loc["vgg16", "finished"] == 1 and summary.loc["vgg16", "norm_loss"] == pytest.approx(0.25)
    assert summary.loc["resnet50", "ssim"] == pytest.approx(0.7)
