"""A file written by an older version of the project is migrated on open, data kept."""

import duckdb
import pytest

from store import runs as store_runs
from store.db import StoreError, connect
from store.schema import MIGRATIONS, SCHEMA_VERSION, current_version


def _apply_first(path, count: int) -> None:
    """Make a file as the project did when it had only the first `count` migrations."""
    con = duckdb.connect(str(path))
    current_version(con)  # creates schema_migrations
    for number, name, statements in MIGRATIONS[:count]:
        for sql in statements:
            con.execute(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now()::TIMESTAMP)", [number, name])
    json_col, json_val = (", config", ", '{}'") if count < 5 else ("", "")  # the JSON copy v5 dropped
    con.execute(
        "INSERT INTO runs (created_at, status, backbone, content_layer, style_layers, style_layer_weights, "
        "content_weight, style_weight, tv_weight, learning_rate, iterations, size, init, seed, snapshot_every, "
        f"weights, gram_convention, content_image, style_image{json_col}) VALUES "
        "(now()::TIMESTAMP, 'finished', 'vgg16', 'block5_conv2', ['block1_conv1'], [1.0], 1, 1, 0, 15, 10, 32, "
        f"'content', 0, 5, 'none', 'g', 'c', 's'{json_val})"
    )
    con.execute(
        "INSERT INTO iterations (run_id, step, total_loss, content_loss, style_loss, tv_loss, step_seconds, "
        "elapsed_seconds) VALUES (1, 1, 1.0, 0.5, 0.5, 0.0, 0.1, 0.1)"
    )
    con.close()


def test_every_older_schema_is_migrated_and_keeps_its_rows(tmp_path):
    for count in range(1, len(MIGRATIONS) + 1):
        path = tmp_path / f"v{count}.duckdb"
        _apply_first(path, count)
        with connect(path) as con:
            assert current_version(con) == SCHEMA_VERSION
        run = store_runs.get_run(path, 1)
        assert run["status"] == "finished" and run["backbone"] == "vgg16"
        assert list(store_runs.get_iterations(path, 1)["step"]) == [1]
        assert run["optimizer"] == "adam" and run["scales"] == 1 and run["steps_per_call"] == 1
        # The config is read from the columns, fields added later at their legacy values.
        assert run["config"]["learning_rate"] == 15 and run["config"]["style_layers"] == ["block1_conv1"]
        if count < 4:
            assert run["config"]["loss_convention"] == "gatys" and run["config"]["keep_best"] is False
        if count < 3:  # rows from before v3 were single-scale: they get the run's size
            assert store_runs.get_iterations(path, 1)["size"].tolist() == [32]


def test_a_newer_schema_is_refused_not_changed(tmp_path):
    path = tmp_path / "future.duckdb"
    con = duckdb.connect(str(path))
    current_version(con)
    con.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', now()::TIMESTAMP)", [SCHEMA_VERSION + 1])
    con.close()
    with pytest.raises(StoreError, match="newer"), connect(path):
        pass


def test_a_v6_store_reads_as_one_style_of_weight_1(tmp_path):
    """Migration 7: every older run gets its one `run_styles` row (its style image, weight 1,
    no mask, size unknown) and the new config columns at their legacy values."""
    path = tmp_path / "v6.duckdb"
    _apply_first(path, 6)
    with connect(path) as con:
        assert current_version(con) == SCHEMA_VERSION
    run = store_runs.get_run(path, 1)
    assert run["style_blend_weights"] is None and run["style_scale"] == 1.0 and run["max_tile_px"] == 0
    styles = store_runs.get_styles(path, 1)
    assert [(s["position"], s["image_id"], s["weight"], s["mask_image"]) for s in styles] == [(0, "s", 1.0, None)]
    assert (styles[0]["height"], styles[0]["width"]) == (None, None)
