"""Every flag of `run`, fed random and edge values from a seeded generator: each case
ends in exit 0 (the run finished), 1 (it ran and is stored failed, e.g. diverged) or 2
with exactly one `error:` line and nothing written — never a traceback."""

from __future__ import annotations

import random

import pytest

from engine.config import FIELDS, field_type, item_type
from store import runs as store_runs
from workbench.__main__ import main

SEED, CASES = 7, 120
# Values any flag may get: empty, blank, signs, non-finite, overflow, text, lists,
# injection and Markdown strings, a real layer name. Big *valid* step counts are left
# out so that a case that passes stays quick.
EDGES = ["", " ", ",,", "-1", "0", "nan", "inf", "-inf", "1e308", "2147483648", "99999999999", "abc", "1,2"]
EDGES += ["true", "no", "'; DROP TABLE runs; --", "**x**", "🙂", "block1_conv1", "conv1_relu", "2.5", "-0"]
SMALL = {"iterations": ["1", "3"], "size": ["32", "40"], "scales": ["1", "2"], "steps_per_call": ["1", "2"]}
FIXED = ["--size", "32", "--iterations", "2", "--snapshot-every", "0", "--weights", "none"]


def _value(rng: random.Random, name: str) -> str:
    """An edge value, a value of the field's own kind, or one of its choices."""
    pool = list(EDGES) + SMALL.get(name, [])
    if FIELDS[name].metadata["choices"]:
        pool += list(FIELDS[name].metadata["choices"])
    kind = item_type(name)
    if kind in (int, float):
        pool += [str(rng.choice([-3, 0, 1, 2])), f"{rng.uniform(-10, 10):.3g}"]
    if field_type(name) is tuple:
        pool += [",".join(rng.choice(EDGES) for _ in range(rng.randint(1, 5)))]
    return rng.choice(pool)


def _cases() -> list[tuple[str, str]]:
    rng = random.Random(SEED)
    names = [n for n in FIELDS if n != "weights"]  # a random weights path is one more "no such file"
    return [(name, _value(rng, name)) for name in (rng.choice(names) for _ in range(CASES))]


@pytest.mark.parametrize("name, value", _cases())
def test_a_flag_with_any_value_ends_cleanly(name, value, db, image_files, models, capsys):
    content, style = map(str, image_files)
    flag = f"--{name.replace('_', '-')}"
    argv = ["run", "--content", content, "--style", style, *FIXED, f"{flag}={value}", "--db", str(db)]
    try:
        code = main(argv, models)
    except SystemExit as exit_:  # argparse: a value outside a flag's choices
        code = exit_.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("\r")]
    assert "Traceback" not in err
    assert code in (0, 1, 2), err
    if code == 2:
        assert len([line for line in lines if "error:" in line]) == 1 and "error:" in lines[-1], err
        assert not db.exists() or store_runs.list_runs(db).empty, "a refused input left a row behind"
    else:
        assert store_runs.get_run(db, 1)["status"] == ("finished" if code == 0 else "failed")
