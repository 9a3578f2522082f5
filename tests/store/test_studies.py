"""Studies and fair metrics in the store, on fabricated runs (no network needed): resuming,
progress, the report tables' shapes, and computed verdicts."""

import math

import duckdb
import numpy as np
import pytest

from store import images as store_images
from store import metrics as store_metrics
from store import runs as store_runs
from store import studies as store_studies
from store.db import connect
from store.schema import MIGRATIONS
from tests.store.test_store import CONFIG

VARIANTS = [("VGG16 lr 1", "vgg16", 1.0), ("VGG16 lr 10", "vgg16", 10.0), ("ResNet50 lr 1", "resnet50", 1.0)]
TABLES = [
    {
        "id": "table3",
        "title": "loss",
        "kind": "by_iteration",
        "measure": "total_loss",
        "variants": [v[0] for v in VARIANTS],
        "headers": [f"{v[0]} loss" for v in VARIANTS],
    },
    {
        "id": "table5",
        "title": "lr",
        "kind": "by_learning_rate",
        "backbones": [["vgg16", "VGG16"], ["resnet50", "ResNet50"]],
    },
    {
        "id": "table6",
        "title": "layers",
        "kind": "layer_sets",
        "backbone": "vgg16",
        "variants": ["VGG16 lr 1", "VGG16 lr 10"],
        "headers": ["1", "2"],
    },
    {"id": "final", "title": "final", "kind": "final"},
]


def _spec(seeds):
    settings = {"content_layer": "block5_conv2", "style_layers": ["block1_conv1", "block2_conv1"]}
    return {
        "preset": "test",
        "description": "test",
        "shared": {},
        "seeds": seeds,
        "content_images": [],
        "style_images": [],
        "weights_by_backbone": {},
        "variants": [
            {"label": label, "settings": {"backbone": b, "learning_rate": lr, **settings}} for label, b, lr in VARIANTS
        ],
        "tables": TABLES,
    }


def _cells(db, seeds, iterations=50):
    img = np.zeros((8, 8, 3), np.uint8)
    cid, sid = store_images.put_image(db, img), store_images.put_image(db, img + 9)
    return [
        {
            "config": {**CONFIG, "backbone": b, "learning_rate": lr, "seed": seed, "iterations": iterations},
            "content_image": cid,
            "style_image": sid,
            "cell": f"{label}/{seed}",
            "variant": label,
            "gram_convention": "g",
        }
        for label, b, lr in VARIANTS
        for seed in seeds
    ]


def _rows(seeds, cells, key="key", spec=None):
    return store_studies.StudyRows("s", "test", spec or _spec(list(seeds)), key, cells)


def _study(db, seeds=(0,), iterations=50):
    cells = _cells(db, list(seeds), iterations)
    study_id, resumed, counts = store_studies.launch(db, _rows(seeds, cells), [])
    assert not resumed and counts["queued"] == len(cells)
    return study_id, cells


def _finish(db, run_id, scale, iterations=50):
    """Claim a run and log a falling loss curve `scale / step`."""
    store_runs.claim_run(db, run_id, "tf", "CPU")
    rows = [(run_id, s, scale / s, 0.0, 0.0, 0.0, 0.01, 0.01 * s, 32) for s in range(1, iterations + 1)]
    with connect(db) as con:
        con.executemany("INSERT INTO iterations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    output = store_images.put_image(db, np.full((8, 8, 3), run_id, np.uint8))
    store_runs.finish_run(db, run_id, "finished", total_loss=scale / iterations, output_image=output, wall_seconds=1.0)


def _run_ids(db, study_id):
    return list(store_studies.study_runs(db, study_id)["id"])


def test_relaunch_skips_finished_and_active_cells_and_requeues_the_rest(db):
    study_id, cells = _study(db, seeds=(0, 1))  # 6 cells
    ids = _run_ids(db, study_id)
    _finish(db, ids[0], 1.0)
    for run_id, status in zip(ids[1:4], ("failed", "interrupted", "cancelled"), strict=True):
        store_runs.finish_run(db, run_id, status)
    store_runs.claim_run(db, ids[4], "tf", "CPU")  # running; ids[5] stays queued
    again, resumed, counts = store_studies.launch(db, _rows((0, 1), cells), [])
    assert (again, resumed) == (study_id, True)
    assert counts == {"queued": 0, "requeued": 3, "finished": 1, "active": 2}
    progress = store_studies.study_progress(db, study_id)
    assert (progress["cells"], progress["finished"], progress["queued"], progress["running"]) == (6, 1, 4, 1)
    assert store_studies.launch(db, _rows((0, 1), cells), [])[2]["requeued"] == 0  # nothing to do twice
    runs = store_studies.study_runs(db, study_id)
    assert len(runs) == 6 and set(runs["variant"]) == {v[0] for v in VARIANTS}


def test_cancelling_a_study_stops_its_active_runs_only(db):
    study_id, cells = _study(db, seeds=(0, 1))  # 6 cells
    other_id = store_studies.launch(db, _rows((0,), _cells(db, [0]), key="other"), [])[0]
    ids = _run_ids(db, study_id)
    _finish(db, ids[0], 1.0)
    store_runs.claim_run(db, ids[1], "tf", "CPU")  # running; ids[2:] queued
    assert store_studies.cancel_study(db, study_id) == {"cancelled": 4, "stopping": 1}
    runs = {r["id"]: r for r in (store_runs.get_run(db, i) for i in ids)}
    assert [runs[i]["status"] for i in ids] == ["finished", "running", *["cancelled"] * 4]
    assert runs[ids[1]]["cancel_requested"] and not runs[ids[0]]["cancel_requested"]
    assert set(store_studies.study_runs(db, other_id)["status"]) == {"queued"}  # another study is untouched
    # a relaunch queues the cancelled cells again (the finished one and the running one are kept)
    assert store_studies.launch(db, _rows((0, 1), cells), [])[2] == {
        "queued": 0,
        "requeued": 4,
        "finished": 1,
        "active": 1,
    }


@pytest.mark.parametrize("iterations, steps", [(1000, list(range(100, 1001, 100))), (50, list(range(5, 51, 5)))])
def test_tables_have_the_study_shape(db, iterations, steps):
    study_id, _ = _study(db, iterations=iterations)
    for run_id in _run_ids(db, study_id):
        _finish(db, run_id, 100.0 * run_id, iterations)
    t3, t5, t6, final = store_studies.study_tables(db, study_id)
    assert list(t3.frame.columns) == ["iteration", "VGG16 lr 1 loss", "VGG16 lr 10 loss", "ResNet50 lr 1 loss"]
    assert list(t3.frame["iteration"]) == steps
    assert t3.frame.iloc[0, 1] == pytest.approx(100.0 / steps[0])
    assert list(t5.frame.columns) == ["learning rate", "VGG16", "ResNet50"]
    assert list(t5.frame["learning rate"]) == [1.0, 10.0] and math.isnan(t5.frame.iloc[1, 2])
    assert list(t6.frame.columns) == ["Layer Type", "1", "2"]
    assert list(t6.frame["Layer Type"]) == ["Content Layer", "Style Layer 1", "Style Layer 2", "Total Loss"]
    assert t6.frame.iloc[0, 1] == "block5_conv2" and t6.frame.iloc[3, 2] == pytest.approx(200.0 / iterations)
    assert list(final.frame["variant"]) == [v[0] for v in VARIANTS]


def test_spread_columns_appear_with_more_than_one_run_per_value(db):
    study_id, _ = _study(db, seeds=(0, 1))
    for i, run_id in enumerate(_run_ids(db, study_id)):
        _finish(db, run_id, 10.0 + i % 2)
    t3, t5, t6, _ = store_studies.study_tables(db, study_id)
    assert "VGG16 lr 1 loss std" in t3.frame.columns
    assert list(t5.frame.columns) == ["learning rate", "VGG16", "VGG16 std", "ResNet50", "ResNet50 std"]
    assert t6.frame["Layer Type"].iloc[-1] == "Total Loss std"
    assert "2 run(s) per value" in t3.note


def test_every_table_kind_has_one_builder_and_an_unknown_kind_is_refused(db):
    assert set(store_studies.TABLE_BUILDERS) == {t["kind"] for t in TABLES}
    assert store_studies.table_builder("final") is store_studies.final_table
    with pytest.raises(ValueError, match="unknown table kind 'pie'; known kinds: by_iteration, "):
        store_studies.table_builder("pie")
    spec = {**_spec([0]), "tables": [*TABLES, {"id": "x", "title": "x", "kind": "pie"}]}
    study_id, _, _ = store_studies.launch(db, _rows((0,), [], key="pie", spec=spec), [])
    with pytest.raises(ValueError, match="unknown table kind 'pie'"):
        store_studies.study_tables(db, study_id)


def test_a_report_of_a_study_without_runs_still_has_its_shape(db):
    study_id, _ = _study(db)
    t3, t5, t6, final = store_studies.study_tables(db, study_id)
    assert t3.frame.empty and t3.note == "no finished runs yet"
    assert list(t6.frame["1"])[:3] == ["block5_conv2", "block1_conv1", "block2_conv1"]


def _producers(db, values, extra=()):
    """Two finished runs per image pair: vgg16 and resnet50, with metric values given."""
    img = np.zeros((8, 8, 3), np.uint8)
    ids = []
    for pair, (vgg, resnet) in enumerate(values):
        cid = store_images.put_image(db, img + pair)
        for backbone, value in (("vgg16", vgg), ("resnet50", resnet)):
            run_id = store_runs.create_run(db, {**CONFIG, "backbone": backbone}, cid, cid, "g", status="finished")
            rows = [
                ("ssim", "", value, ""),
                ("judge_style_loss", "vgg16", value, ""),
                ("judge_style_loss", "resnet50", 2 * value, ""),
                ("neutral_style_distance", "vgg19", value, ""),
                *extra,
            ]
            store_metrics.put_metrics(db, run_id, rows)
            ids.append(run_id)
    return ids


def test_comparisons_never_use_a_producing_backbone_as_judge(db):
    extra = [("neutral_content_distance", "vgg16", 0.5, ""), ("loss_ratio_final", "", 0.5, "")]
    ids = _producers(db, [(0.8, 0.4), (0.7, 0.4)], extra)
    metrics = set(store_metrics.compare_producers(store_metrics.paired_values(db, run_ids=ids))["metric"])
    assert metrics == {"ssim", "neutral_style_distance"}  # no cross-evaluation, own judge or own loss


def test_each_feature_transform_is_its_own_producer(db):
    img = store_images.put_image(db, np.zeros((8, 8, 3), np.uint8))
    for transform, value in (("none", 0.5), ("softmax-std", 0.7), ("softmax", 0.6)):
        config = {**CONFIG, "backbone": "resnet50", "feature_transform": transform}
        run_id = store_runs.create_run(db, config, img, img, "g", status="finished")
        store_metrics.put_metrics(db, run_id, [("ssim", "", value, "")])
    values = store_metrics.paired_values(db)
    assert sorted(values["producer"]) == ["resnet50", "resnet50+softmax", "resnet50+softmax-std"]


def test_metrics_are_replaced_and_nan_stored_as_null_and_deleted_with_the_run(db):
    ids = _producers(db, [(0.5, 0.6)])
    store_metrics.put_metrics(db, ids[0], [("ssim", "", float("nan"), "why"), ("edge_corr", "", 0.3, "")])
    long = store_metrics.get_metrics(db, [ids[0]])
    assert list(long["metric"]) == ["edge_corr", "ssim"] and math.isnan(long["value"].iloc[1])
    wide = store_metrics.metrics_wide(db, ids)
    assert {"ssim", "judge_style_loss [vgg16]", "judge_style_loss [resnet50]"} <= set(wide.columns)
    store_runs.delete_run(db, ids[0])
    assert store_metrics.get_metrics(db, [ids[0]]).empty


def test_a_v1_file_is_migrated_with_runs_kept(db):
    db.parent.mkdir(parents=True)
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
    for sql in MIGRATIONS[0][2]:
        con.execute(sql)
    con.execute("INSERT INTO schema_migrations VALUES (1, 'initial schema', now()::TIMESTAMP)")
    con.close()
    run_id = store_runs.create_run(db, CONFIG, "c", "s", "g")  # opens the file: migrates to v2
    run = store_runs.get_run(db, run_id)
    assert run["feature_transform"] == "none" and run["transform_layers"] == [] and run["study_id"] is None


def test_a_launch_that_fails_leaves_no_study_and_no_image(db):
    blob = store_images.make_blob(np.full((8, 8, 3), 7, np.uint8))
    bad = [{**_cells(db, [0], 50)[0], "config": {"brush_size": 3}}]  # no such column: refused in the transaction
    with pytest.raises(ValueError, match="brush_size"):
        store_studies.launch(db, _rows((0,), bad), [(blob, "orphan?")])
    assert store_studies.list_studies(db).empty
    assert store_images.get_png(db, blob.id) is None
