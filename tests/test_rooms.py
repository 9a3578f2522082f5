"""The rooms' one-way doors: `engine` computes and imports no store, database or UI;
`store` owns the SQL and imports no engine; the application (`workbench`) imports no UI;
and the dashboard's pages that do not compute load without TensorFlow.

Checked twice: every import statement in the source (including ones inside functions),
and what a fresh interpreter has loaded after importing each module.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

# room -> top-level packages its source may never import
FORBIDDEN = {
    "engine": {"store", "workbench", "dashboard", "duckdb", "streamlit"},
    "store": {"engine", "workbench", "dashboard", "streamlit", "tensorflow", "keras"},
    "workbench": {"dashboard", "streamlit"},
}
# Dashboard pages that only read the store; the Launch and Studies pages validate configs
# against the networks' layer graphs, which needs Keras.
NON_COMPUTE_PAGES = ("home.py", "gallery.py", "run_detail.py", "compare.py")
HEAVY = ("tensorflow", "keras")


def _modules(room: str) -> list[str]:
    return sorted(f"{room}.{p.stem}" for p in (ROOT / room).glob("*.py") if p.stem != "__init__") + [room]


def _imported_packages(path: Path) -> set[str]:
    """Top-level package of every import statement in a file, nested ones included."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_no_source_file_of_a_room_imports_through_a_closed_door(room):
    breaches = {p.name: sorted(_imported_packages(p) & FORBIDDEN[room]) for p in sorted((ROOT / room).glob("*.py"))}
    assert {name: found for name, found in breaches.items() if found} == {}


def _loaded_after_import(modules: list[str]) -> set[str]:
    """Top-level packages loaded by importing `modules` in a fresh interpreter."""
    code = "import importlib, json, sys\n"
    code += f"for m in {modules!r}: importlib.import_module(m)\n"
    code += "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_importing_every_module_of_a_room_loads_nothing_behind_a_closed_door(room):
    assert _loaded_after_import(_modules(room)) & FORBIDDEN[room] == set()


def test_the_engines_schema_and_registries_import_without_tensorflow():
    """Forms, labels and Compare read `TransferConfig` and the registries: no TensorFlow."""
    light = ["engine.config", "engine.backbones", "engine.weights", "engine.errors", "engine.catalog"]
    assert _loaded_after_import(light) & set(HEAVY) == set()


def test_non_compute_dashboard_pages_load_without_tensorflow(tmp_path):
    code = f"""
import json, os, sys
os.environ["NST_DB"] = {str(tmp_path / "nst.duckdb")!r}
from streamlit.testing.v1 import AppTest
loaded = {{}}
for page in {NON_COMPUTE_PAGES!r}:
    at = AppTest.from_file({str(ROOT / "dashboard" / "views")!r} + "/" + page, default_timeout=60).run()
    assert not at.exception, (page, [e.value for e in at.exception])
    loaded[page] = sorted(m for m in {HEAVY!r} if m in sys.modules)
print(json.dumps(loaded))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == {page: [] for page in NON_COMPUTE_PAGES}
