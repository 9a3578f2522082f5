"""`TransferConfig` is the one schema of a run: the store's `runs` table has a column for
each field and none other, old rows read as each field's `legacy` value, and the
engine's TensorFlow-free catalog names exactly the implementations it has."""

from __future__ import annotations

import dataclasses

import pytest

from engine import catalog, losses, optimizers
from engine.config import FIELDS, TransferConfig, legacy_values, validate
from store import runs as store_runs
from store.db import connect


def test_every_config_field_has_a_runs_column_and_every_config_column_a_field(db):
    with connect(db) as con:
        columns = store_runs.config_columns(con)
    assert sorted(columns) == sorted(FIELDS)


def test_legacy_values_are_the_column_defaults_old_rows_read_as(db):
    with connect(db) as con:
        defaults = dict(
            con.execute("SELECT column_name, column_default FROM duckdb_columns() WHERE table_name = 'runs'").fetchall()
        )
        # A column without a default reads NULL: legacy None.
        read = {
            name: None if defaults[name] is None else con.execute(f"SELECT {defaults[name]}").fetchone()[0]
            for name in legacy_values()
        }
    assert read == legacy_values()


def test_a_config_round_trips_through_the_store(db):
    cfg = validate(TransferConfig(backbone="resnet50", size=64, weights="none", keep_best=True, scales=2))
    run_id = store_runs.create_run(db, cfg.to_dict(), "c", "s", "formulas")
    assert TransferConfig.from_dict(store_runs.get_run(db, run_id)["config"]) == cfg


def test_every_field_says_what_it_is():
    for f in dataclasses.fields(TransferConfig):
        assert f.metadata["help"], f.name
        if f.metadata["limits"] is not None:
            assert FIELDS[f.name].type in ("int", "float", "int | None", "float | None", "tuple[float, ...] | None")


@pytest.mark.parametrize(
    "names, implementations",
    [(catalog.CONVENTIONS, losses.CONVENTIONS), (catalog.OPTIMIZERS, optimizers.OPTIMIZERS)],
)
def test_the_catalog_names_exactly_the_implementations(names, implementations):
    assert list(names) == list(implementations)
