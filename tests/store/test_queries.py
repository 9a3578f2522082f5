"""store/queries.py against real stores filled through the store's own functions."""

from __future__ import annotations

import numpy as np
import pytest

from store import images as store_images
from store import queries
from store import runs as store_runs
from store.db import connect
from store.recorder import RunRecorder

LAYERS = {
    "vgg16": ("block5_conv2", ["block1_conv1", "block2_conv1"]),
    "resnet50": ("conv3_block4_out", ["conv1_relu", "conv2_block1_out"]),
}


def config_for(backbone: str, lr: float, steps: int, style_layers: list[str] | None = None) -> dict:
    """A resolved-looking config dict (the store does not validate layer names)."""
    content_layer, layers = LAYERS[backbone]
    layers = style_layers or layers
    return {
        "backbone": backbone,
        "content_layer": content_layer,
        "style_layers": layers,
        "style_layer_weights": [1.0] * len(layers),
        "content_weight": 1.0,
        "style_weight": 1.0,
        "tv_weight": 0.0,
        "learning_rate": lr,
        "iterations": steps,
        "size": 32,
        "init": "content",
        "seed": 0,
        "snapshot_every": steps,
        "weights": "none",
    }


def bulk_finished_runs(db, specs: list[tuple[str, float, float, int]], steps: int = 10) -> list[int]:
    """Finished runs (backbone, lr, final loss, image seed) in one transaction: images,
    run rows and `steps` iterations each (for tests that need many runs)."""
    ids = []
    with connect(db) as con:
        for backbone, lr, final_loss, seed in specs:
            img = np.full((8, 8, 3), seed, np.uint8)
            blobs = [store_images.make_blob(img), store_images.make_blob(img + 100), store_images.make_blob(img + 50)]
            store_images.insert_blobs(con, blobs)
            run_id = store_runs.insert_run(con, config_for(backbone, lr, steps), blobs[0].id, blobs[1].id, "test")
            con.execute(
                "INSERT INTO iterations SELECT ?, s, ? * ? / s, 0, 0, 0, 0.01, 0.01 * s, 32 FROM range(1, ? + 1) t(s)",
                [run_id, final_loss, steps, steps],
            )
            con.execute(
                "UPDATE runs SET status = 'finished', steps_done = ?, total_loss = ?, output_image = ? WHERE id = ?",
                [steps, final_loss, blobs[2].id, run_id],
            )
            ids.append(run_id)
    return ids


def make_run(
    db,
    backbone: str = "vgg16",
    lr: float = 10.0,
    steps: int = 10,
    status: str = "finished",
    start_loss: float = 100.0,
    image_seed: int = 0,
    style_layers: list[str] | None = None,
    extra: dict | None = None,
) -> int:
    """A run through the store's own path (create, claim, recorder, finish) with `steps`
    logged iterations (loss start_loss / step), a snapshot at the last step and, when
    finished, an output image."""
    config = config_for(backbone, lr, steps, style_layers) | (extra or {})
    img = np.full((8, 8, 3), image_seed, np.uint8)
    cid = store_images.put_image(db, img, f"content{image_seed}.png")
    sid = store_images.put_image(db, img + 100, f"style{image_seed}.png")
    run_id = store_runs.create_run(db, config, cid, sid, "test")
    if status == "queued":
        return run_id
    store_runs.claim_run(db, run_id, "tf", "CPU")
    rec = RunRecorder(db, run_id, every_steps=100_000, every_s=1e9)
    for step in range(1, steps + 1):
        loss = start_loss / step
        rec.add_iteration((step, loss, loss * 0.25, loss * 0.75, 0.0, 0.01 * step, 0.005 * step * (step + 1), 64))
    out = np.full((8, 8, 3), (run_id * 7) % 255, np.uint8)
    rec.add_snapshot(steps, out)
    rec.close()
    if status != "running":
        output = store_images.put_image(db, out) if status == "finished" else None
        store_runs.finish_run(db, run_id, status, steps_done=steps, total_loss=start_loss / steps, output_image=output)
    return run_id


def test_live_runs_lists_active_and_requested_runs(db):
    done = make_run(db)
    running = make_run(db, steps=4, status="running")
    queued = make_run(db, status="queued")
    live = queries.live_runs(db)
    assert list(live["id"]) == [queued, running]
    row = live.set_index("id").loc[running]
    assert row["elapsed"] == pytest.approx(0.005 * 4 * 5) and row["last_loss"] == pytest.approx(25.0)
    assert row["snapshot_step"] == 4 and isinstance(row["snapshot_id"], str)
    assert list(queries.live_runs(db, [done])["id"]) == [queued, running, done]


def test_curves_are_downsampled_in_sql_and_normalised(db):
    run_id = make_run(db, steps=1000, start_loss=500.0)
    full = store_runs.get_iterations(db, run_id).set_index("step")
    curve = queries.curves(db, [run_id], max_points=50)
    assert 40 <= len(curve) <= 52
    steps = list(curve["step"])
    assert steps[0] == 1 and steps[-1] == 1000 and steps == sorted(steps)
    assert curve["total_norm"].iloc[0] == pytest.approx(1.0)
    for _, row in curve.iterrows():
        exact = full.loc[row["step"]]
        assert row["total_loss"] == pytest.approx(exact["total_loss"])
        assert row["elapsed_seconds"] == pytest.approx(exact["elapsed_seconds"])
        assert row["total_norm"] == pytest.approx(exact["total_loss"] / 500.0)
    # a short run keeps every step
    short = make_run(db, steps=5)
    assert list(queries.curves(db, [short], max_points=50)["step"]) == [1, 2, 3, 4, 5]
    assert queries.curves(db, []).empty


def test_loss_time_table_has_a_row_every_n_iterations_per_backbone(db):
    vgg = make_run(db, "vgg16", steps=300, start_loss=300.0)
    resnet = make_run(db, "resnet50", steps=250, start_loss=1000.0)
    long = queries.compare_tables(db, [vgg, resnet], every=100)["every_n"]
    table = long.pivot(index="iteration", columns="backbone", values="total_loss")
    assert list(table.index) == [100, 200, 300] and list(table.columns) == ["resnet50", "vgg16"]
    assert table.loc[100, "vgg16"] == pytest.approx(3.0) and np.isnan(table.loc[300, "resnet50"])
    norm = long.pivot(index="iteration", columns="backbone", values="total_norm")
    assert norm.loc[200, "resnet50"] == pytest.approx(1 / 200)
    elapsed = long.pivot(index="iteration", columns="backbone", values="elapsed_seconds")
    assert elapsed.loc[200, "vgg16"] == pytest.approx(0.005 * 200 * 201)


def test_lr_and_layer_tables(db):
    ids = [make_run(db, "vgg16", lr=lr, start_loss=100.0 * lr) for lr in (1.0, 1.0, 5.0)]
    ids.append(make_run(db, "resnet50", lr=5.0))
    ids.append(make_run(db, "vgg16", lr=5.0, style_layers=["block1_conv1"]))
    ids.append(make_run(db, "vgg16", lr=9.0, status="running"))  # no final loss: left out
    tables = queries.compare_tables(db, ids)
    lr = tables["lr"]
    assert lr[["backbone", "learning_rate", "runs"]].values.tolist() == [
        ["resnet50", 5.0, 1],
        ["vgg16", 1.0, 2],
        ["vgg16", 5.0, 2],
    ]
    assert lr["output_norm"].tolist() == pytest.approx([0.1, 0.1, 0.1])  # output loss ÷ loss at step 1
    assert set(lr["group"]) == {""}  # no grouping: one empty group
    layers = tables["layers"]
    vgg = layers[layers["backbone"] == "vgg16"]
    assert sorted(vgg["style_layers"]) == ["block1_conv1", "block1_conv1, block2_conv1"]
    assert vgg["runs"].sum() == 4


def test_groups_pick_finished_runs(db):
    a = make_run(db, "vgg16", lr=1.0, image_seed=0)
    b = make_run(db, "resnet50", lr=1.0, image_seed=1)
    make_run(db, "vgg16", lr=1.0, status="queued")
    by_lr = queries.group_values(db, "learning rate")
    assert by_lr[["value", "runs"]].values.tolist() == [["1.0", 2]]
    assert queries.runs_in_group(db, "learning rate", "1.0") == [b, a]
    assert queries.runs_in_group(db, "backbone", "resnet50") == [b]
    pairs = queries.group_values(db, "image pair")
    assert len(pairs) == 2 and pairs["pair"].str.contains(r"content\d\.png \+ style\d\.png").all()
    assert queries.runs_in_group(db, "layer set", "nonsense' OR '1'='1") == []
    assert queries.latest_finished_per_backbone(db) == [a, b]
    with pytest.raises(KeyError):
        queries.group_values(db, "1; DROP TABLE runs")


def test_run_choices_and_params(db):
    done = make_run(db)
    queued = make_run(db, status="queued")
    assert list(queries.run_choices(db)["id"]) == [queued, done]
    assert list(queries.run_choices(db, logged_only=True)["id"]) == [done]
    assert list(queries.run_choices_by_id(db, [done, 999])["id"]) == [done]
    params = queries.run_params(db, [queued, done])
    assert list(params["id"]) == [done, queued] and params["style_layers"].iloc[0] == "block1_conv1, block2_conv1"


def test_the_table_interval_follows_the_runs_so_short_runs_fill_tables_3_and_4(db):
    short = [make_run(db, "vgg16", steps=30), make_run(db, "resnet50", steps=50)]
    assert queries.report_interval(db, short) == 5  # a tenth of the longest run
    every = queries.report_interval(db, short)
    assert not queries.compare_tables(db, short, every=every)["every_n"].empty
    assert queries.compare_tables(db, short, every=100)["every_n"].empty  # the old fixed default: nothing
    assert queries.report_interval(db, [make_run(db, "vgg16", steps=1000)]) == 100


def test_group_by_any_config_column_and_filter_by_others(db):
    a = make_run(db, "vgg16", lr=1.0, extra={"optimizer": "adam", "seed": 1})
    b = make_run(db, "resnet50", lr=1.0, extra={"optimizer": "adam", "seed": 2})
    c = make_run(db, "vgg16", lr=5.0, extra={"optimizer": "lbfgs", "seed": 1})
    d = make_run(db, "resnet50", lr=5.0, style_layers=["conv1_relu"], extra={"seed": 1})
    make_run(db, "vgg16", lr=5.0, status="queued")  # only finished runs are grouped
    by_backbone = queries.runs_by_group(db, "backbone")
    assert by_backbone.values.tolist() == [[d, "resnet50"], [c, "vgg16"], [b, "resnet50"], [a, "vgg16"]]
    # any TransferConfig field groups, filtered by the others
    assert queries.runs_by_group(db, "optimizer", where={"backbone": ["vgg16"]}).values.tolist() == [
        [c, "lbfgs"],
        [a, "adam"],
    ]
    assert queries.runs_by_group(db, "seed", groups=["1"], where={"learning rate": ["5.0"]})["id"].tolist() == [d, c]
    assert queries.runs_by_group(db, "style_layers", groups=["conv1_relu"])["id"].tolist() == [d]  # lists as text
    assert queries.group_values(db, "optimizer")[["value", "runs"]].values.tolist() == [["adam", 3], ["lbfgs", 1]]
    assert queries.group_values(db, "optimizer", where={"backbone": ["resnet50"]})["runs"].tolist() == [2]
    options = queries.grouping_options(db, ["backbone", "optimizer", "learning_rate"])
    assert options["backbone"] == [("resnet50", 2), ("vgg16", 2)] and options["learning_rate"] == [
        ("1.0", 2),
        ("5.0", 2),
    ]
    # names that are neither a grouping nor a column never reach SQL
    for bad in ("status", "1; DROP TABLE runs", 'optimizer" OR 1=1 --'):
        with pytest.raises(KeyError):
            queries.runs_by_group(db, bad)
    with pytest.raises(KeyError):
        queries.runs_by_group(db, "backbone", where={"nonsense": ["x"]})
    assert queries.runs_by_group(db, "optimizer", groups=["adam' OR '1'='1"]).empty


def test_tables_split_by_group(db):
    ids = [make_run(db, "vgg16", lr=1.0, steps=20, start_loss=s) for s in (100.0, 300.0)]
    ids.append(make_run(db, "resnet50", lr=1.0, steps=20, start_loss=50.0))
    groups = {ids[0]: "adam", ids[1]: "lbfgs", ids[2]: "adam"}
    tables = queries.compare_tables(db, ids, every=10, groups=groups)
    lr = tables["lr"]
    assert lr[["group", "backbone", "runs"]].values.tolist() == [
        ["adam", "resnet50", 1],
        ["adam", "vgg16", 1],
        ["lbfgs", "vgg16", 1],
    ]
    assert lr["output_loss"].tolist() == pytest.approx([2.5, 5.0, 15.0])  # runs.total_loss, never averaged across
    every = tables["every_n"]
    assert set(every["group"]) == {"adam", "lbfgs"} and every["runs"].max() == 1
    assert set(tables["layers"]["group"]) == {"adam", "lbfgs"}


def test_group_curves_give_means_spreads_and_counts(db):
    a = make_run(db, "vgg16", steps=100, start_loss=100.0)
    b = make_run(db, "vgg16", steps=100, start_loss=400.0)
    c = make_run(db, "resnet50", steps=60, start_loss=10.0)
    curve = queries.group_curves(db, {a: "vgg16", b: "vgg16", c: "resnet50"}, max_points=20)
    vgg = curve[curve["group"] == "vgg16"].set_index("step")
    assert 15 <= len(vgg) <= 22 and vgg.index[0] == 1 and vgg.index[-1] == 100
    assert (vgg["total_norm_n"] == 2).all()
    assert vgg.loc[1, "total_norm_mean"] == pytest.approx(1.0) and vgg.loc[1, "total_norm_std"] == pytest.approx(0)
    assert vgg.loc[100, "total_loss_mean"] == pytest.approx((1.0 + 4.0) / 2)
    assert vgg.loc[100, "total_loss_std"] == pytest.approx(np.std([1.0, 4.0], ddof=1))
    resnet = curve[curve["group"] == "resnet50"]
    assert resnet["step"].max() == 60 and (resnet["total_norm_n"] == 1).all() and resnet["total_norm_std"].isna().all()
    assert queries.group_curves(db, {}).empty
