"""Ordered schema migrations, recorded in the database itself (`schema_migrations`).

Never edit a migration that has shipped: add a new one. `store/SCHEMA.md` documents the
resulting tables for users who query the file with plain SQL.
"""

from __future__ import annotations

import duckdb

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "initial schema",
        [
            """CREATE TABLE images (
                id VARCHAR PRIMARY KEY,          -- sha256 of the PNG bytes
                width INTEGER NOT NULL,
                height INTEGER NOT NULL,
                png BLOB NOT NULL,
                thumb_png BLOB NOT NULL,         -- longest side 160 px, for galleries
                name VARCHAR,                    -- file name first seen with, display only
                created_at TIMESTAMP NOT NULL
            )""",
            "CREATE SEQUENCE run_ids START 1",
            """CREATE TABLE runs (
                id INTEGER PRIMARY KEY DEFAULT nextval('run_ids'),
                created_at TIMESTAMP NOT NULL,
                started_at TIMESTAMP,
                finished_at TIMESTAMP,
                heartbeat_at TIMESTAMP,
                status VARCHAR NOT NULL,
                backbone VARCHAR NOT NULL,
                content_layer VARCHAR NOT NULL,
                style_layers VARCHAR[] NOT NULL,
                style_layer_weights DOUBLE[] NOT NULL,
                content_weight DOUBLE NOT NULL,
                style_weight DOUBLE NOT NULL,
                tv_weight DOUBLE NOT NULL,
                learning_rate DOUBLE NOT NULL,
                iterations INTEGER NOT NULL,
                size INTEGER NOT NULL,
                init VARCHAR NOT NULL,
                seed INTEGER NOT NULL,
                snapshot_every INTEGER NOT NULL,
                weights VARCHAR NOT NULL,
                gram_convention VARCHAR NOT NULL,
                content_image VARCHAR NOT NULL,
                style_image VARCHAR NOT NULL,
                output_image VARCHAR,
                config JSON NOT NULL,
                error VARCHAR,
                tf_version VARCHAR,
                device VARCHAR,
                host VARCHAR,
                pid INTEGER,
                cancel_requested BOOLEAN NOT NULL DEFAULT false,
                steps_done INTEGER NOT NULL DEFAULT 0,
                wall_seconds DOUBLE,
                total_loss DOUBLE,
                content_loss DOUBLE,
                style_loss DOUBLE,
                tv_loss DOUBLE,
                notes VARCHAR NOT NULL DEFAULT '',
                tags VARCHAR[] NOT NULL DEFAULT []
            )""",
            """CREATE TABLE iterations (
                run_id INTEGER NOT NULL,
                step INTEGER NOT NULL,
                total_loss DOUBLE NOT NULL,
                content_loss DOUBLE NOT NULL,
                style_loss DOUBLE NOT NULL,
                tv_loss DOUBLE NOT NULL,
                step_seconds DOUBLE NOT NULL,
                elapsed_seconds DOUBLE NOT NULL,
                PRIMARY KEY (run_id, step)
            )""",
            """CREATE TABLE snapshots (
                run_id INTEGER NOT NULL,
                step INTEGER NOT NULL,
                image_id VARCHAR NOT NULL,
                PRIMARY KEY (run_id, step)
            )""",
        ],
    ),
    (
        2,
        "studies, fair metrics, feature transform",
        [
            "CREATE SEQUENCE study_ids START 1",
            """CREATE TABLE studies (
                id INTEGER PRIMARY KEY DEFAULT nextval('study_ids'),
                name VARCHAR NOT NULL,
                preset VARCHAR NOT NULL,
                spec JSON NOT NULL,              -- variants, shared settings, seeds, images, tables
                spec_key VARCHAR NOT NULL UNIQUE, -- sha256 of spec: re-launching it resumes
                cells INTEGER NOT NULL,
                created_at TIMESTAMP NOT NULL,
                launched_at TIMESTAMP NOT NULL   -- last (re)launch
            )""",
            "ALTER TABLE runs ADD COLUMN study_id INTEGER",
            "ALTER TABLE runs ADD COLUMN study_cell VARCHAR",
            "ALTER TABLE runs ADD COLUMN study_variant VARCHAR",
            "ALTER TABLE runs ADD COLUMN feature_transform VARCHAR DEFAULT 'none'",
            "ALTER TABLE runs ADD COLUMN transform_layers VARCHAR[] DEFAULT []",
            """CREATE TABLE run_metrics (
                run_id INTEGER NOT NULL,
                metric VARCHAR NOT NULL,
                judge VARCHAR NOT NULL,          -- judging backbone, '' for network-free metrics
                value DOUBLE,                    -- NULL when it could not be computed (see detail)
                detail VARCHAR NOT NULL DEFAULT '',
                computed_at TIMESTAMP NOT NULL,
                PRIMARY KEY (run_id, metric, judge)
            )""",
        ],
    ),
    (
        3,
        "optimiser and speed options, scale of each iteration",
        [
            "ALTER TABLE runs ADD COLUMN optimizer VARCHAR DEFAULT 'adam'",
            "ALTER TABLE runs ADD COLUMN scales INTEGER DEFAULT 1",
            "ALTER TABLE runs ADD COLUMN coarse_iterations INTEGER DEFAULT 0",
            "ALTER TABLE runs ADD COLUMN steps_per_call INTEGER DEFAULT 1",
            "ALTER TABLE runs ADD COLUMN jit_compile BOOLEAN DEFAULT false",
            # Longest image side at the iteration's scale; runs before this were one scale.
            "ALTER TABLE iterations ADD COLUMN size INTEGER",
            "UPDATE iterations SET size = runs.size FROM runs WHERE runs.id = iterations.run_id",
        ],
    ),
    (
        4,
        "loss conventions, best loss, keep-best option, transform temperature",
        [
            # Runs before this used the study's Gatys formulas (their gram_convention says
            # which normalisation): they read as 'gatys'.
            "ALTER TABLE runs ADD COLUMN loss_convention VARCHAR DEFAULT 'gatys'",
            "ALTER TABLE runs ADD COLUMN keep_best BOOLEAN DEFAULT false",
            "ALTER TABLE runs ADD COLUMN transform_temperature DOUBLE DEFAULT 1.0",
            "ALTER TABLE runs ADD COLUMN best_loss DOUBLE",
            "ALTER TABLE runs ADD COLUMN best_step INTEGER",
        ],
    ),
    (
        5,
        "one stored representation of a run's config: its columns",
        [
            # Every config field has had its own column since v4, written from the same
            # dict as this JSON copy; the worker read the copy and SQL the columns. Keep one.
            "ALTER TABLE runs DROP COLUMN config",
        ],
    ),
    (
        6,
        "colour preservation",
        ["ALTER TABLE runs ADD COLUMN preserve_colors VARCHAR DEFAULT 'none'"],  # older runs kept no colours
    ),
    (
        7,
        "several style images with blend weights and masks, style scale, tiling",
        [
            # NULL: a run from before v7, one style image of weight 1 (its run_styles row says so).
            "ALTER TABLE runs ADD COLUMN style_blend_weights DOUBLE[]",
            "ALTER TABLE runs ADD COLUMN style_scale DOUBLE DEFAULT 1.0",
            "ALTER TABLE runs ADD COLUMN max_tile_px INTEGER DEFAULT 0",
            """CREATE TABLE run_styles (
                run_id INTEGER NOT NULL,
                position INTEGER NOT NULL,       -- 0, 1, ...: the order of the blend weights
                image_id VARCHAR NOT NULL,       -- the style image (images.id)
                weight DOUBLE NOT NULL,          -- its blend weight
                mask_image VARCHAR,              -- its region mask (images.id), NULL: everywhere
                height INTEGER,                  -- size it went to the network at, full scale;
                width INTEGER,                   -- NULL for runs from before v7
                PRIMARY KEY (run_id, position)
            )""",
            # Every older run had one style image (runs.style_image), weight 1, no mask.
            "INSERT INTO run_styles (run_id, position, image_id, weight) SELECT id, 0, style_image, 1.0 FROM runs",
        ],
    ),
    (
        8,
        "numeric precision of the backbone",
        ["ALTER TABLE runs ADD COLUMN precision VARCHAR DEFAULT 'float32'"],  # every older run was float32
    ),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest migration applied (0 for a new file)."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    return con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply every pending migration, each in its own transaction; returns the version."""
    version = current_version(con)
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"database schema v{version} is newer than this code (v{SCHEMA_VERSION}); upgrade the project"
        )
    for number, name, statements in MIGRATIONS:
        if number <= version:
            continue
        con.begin()
        for sql in statements:
            con.execute(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now()::TIMESTAMP)", [number, name])
        con.commit()
    return SCHEMA_VERSION
