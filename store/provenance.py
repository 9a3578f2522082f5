"""What a study actually ran, read from its runs' stored configs (not from its preset's
description, which may say "1000 iterations" when the launch overrode that).

`ran_summary` is pure; `study_configs` is the one query.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from store.db import connect
from store.runs import config_columns
from store.studies import CELL_RUNS_SQL

# Settings a report header states: (config key, how the header names it, unit).
RAN_SETTINGS = (
    ("iterations", "iterations", ""),
    ("size", "size", " px"),
    ("loss_convention", "loss convention", ""),
    ("optimizer", "optimizer", ""),
)


def study_configs(db: Any, study_id: int) -> list[dict[str, Any]]:
    """The resolved configs of the study's finished cells (latest run of each)."""
    with connect(db) as con:
        columns = config_columns(con)
        rows = con.execute(f"SELECT {', '.join(columns)} FROM ({CELL_RUNS_SQL}) ORDER BY id", [study_id]).fetchall()
    return [dict(zip(columns, r, strict=True)) for r in rows]


def _values(configs: Iterable[dict[str, Any]], key: str) -> list[Any]:
    """Distinct values of `key`, sorted."""
    values = {c.get(key) for c in configs} - {None}
    try:
        return sorted(values)
    except TypeError:  # mixed types: keep them as text
        return sorted(values, key=str)


def ran_summary(configs: list[dict[str, Any]]) -> dict[str, str]:
    """{header name: value} for each setting in `RAN_SETTINGS`: one value, or
    'mixed: a, b' when the cells differ."""
    out = {}
    for key, name, unit in RAN_SETTINGS:
        values = [f"{v}{unit}" for v in _values(configs, key)]
        if values:
            out[name] = values[0] if len(values) == 1 else "mixed: " + ", ".join(values)
    return out


def ran_line(configs: list[dict[str, Any]]) -> str:
    """'What ran (from the 4 finished runs): iterations 300, size 256 px, loss convention
    gatys, optimizer adam.' (or that nothing has finished yet)."""
    if not configs:
        return "What ran: no finished runs yet."
    settings = ", ".join(f"{name} {value}" for name, value in ran_summary(configs).items())
    return f"What ran (from the {len(configs)} finished run(s)): {settings}."
