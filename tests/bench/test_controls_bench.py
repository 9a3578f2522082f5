"""The issue-14 benchmarks run end to end on tiny synthetic images (weights none): the
controls gallery (`bench.controls`) and the large-output measurement (`bench.large`).
Nothing here needs ../shared; no quality or timing is asserted."""

import json
import math
import os
import sys

import numpy as np
import pytest
from PIL import Image

from bench import controls, large

TIME_V = os.access(large.TIME, os.X_OK)


@pytest.fixture
def images(tmp_path):
    """content/tubingen.png and style/{starry_night,great_wave}.png: small, textured."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    (root / "content").mkdir(parents=True)
    (root / "style").mkdir()
    y, x = np.mgrid[0:48, 0:64]
    photo = np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype(np.uint8)
    Image.fromarray(photo).save(root / "content" / "tubingen.png")
    for name in ("starry_night", "great_wave"):
        Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(root / "style" / f"{name}.png")
    return root


def test_controls_rows_write_outputs_sheet_and_results(images, tmp_path, capsys, monkeypatch):
    out = tmp_path / "controls"
    argv = ["--rows", "c,d,e", "--size", "64", "--iterations", "2", "--weights-resnet50", "none"]
    argv += ["--images", str(images), "--out", str(out)]
    assert controls.main(argv) == 0
    printed = capsys.readouterr().out
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["row"], r["value"]) for r in rows] == [
        ("c", "A left, B right"),
        ("c", "A on the sky (top third)"),
        ("d", "0.5"),
        ("d", "1"),
        ("d", "2"),
        ("e", "untiled"),
        ("e", "tiles of 32 px"),
    ]
    for r in rows:
        assert "error" not in r, r
        assert (out / r["image"]).is_file()
        assert Image.open(out / r["image"]).size == (64, 48)
        assert all(math.isfinite(r[m]) for m in controls.METRICS)
        assert r["seconds"] > 0
        assert f"| {r['value']}" in printed
        for mask in r["masks"]:
            assert (out / mask).is_file()
    assert rows[0]["styles"] == ["starry_night", "great_wave"] and len(rows[0]["masks"]) == 2
    left = np.asarray(Image.open(out / rows[0]["masks"][0]))
    assert left[:, :32].min() == 255 and left[:, 32:].max() == 0  # A on the left half
    top = np.asarray(Image.open(out / rows[1]["masks"][0]))
    assert top[:16].min() == 255 and top[16:].max() == 0  # the top third
    # Tiling: both outputs measured over the tiled run's grid (the untiled one is the baseline).
    assert all(math.isfinite(r["seam_ratio"]) and r["seam_ratio"] > 0 for r in rows[5:])
    # Untiled is the same run as style scale 1: run once, its image reused, and said so.
    assert rows[5]["same_as"] == "(d) 1" and rows[5]["image"] == rows[3]["image"]
    assert "the run of (d) 1" in printed
    assert sum("same_as" in r for r in rows) == 1
    assert "seam ratio" in printed
    sheet = Image.open(out / "controls.png")
    assert sheet.width <= controls.SHEET_MAX_WIDTH
    assert sheet.height > 4 * 48  # the inputs' row and three control rows
    assert (out / "controls.png").stat().st_size < controls.SHEET_MAX_BYTES

    # A rerun skips every finished cell: no transfer runs.
    def refuse(*args, **kwargs):
        raise AssertionError("a finished cell ran again")

    monkeypatch.setattr("engine.transfer.run_transfer", refuse)
    assert controls.main(argv) == 0
    assert len((out / "results.jsonl").read_text().splitlines()) == 7


def test_controls_blend_cells_measure_against_the_heavier_painting():
    a = controls.cells("a", 256)
    assert [c.main_style for c in a] == ["A", "B", "A", "B"]
    assert [c.overrides.get("max_tile_px") for c in controls.cells("e", 256)] == [0, 128]


def test_large_measures_one_tiny_tiled_case(images, tmp_path, capsys):
    out = tmp_path / "large"
    argv = ["--case", "vgg16:96", "--max-tile-px", "64", "--scales", "1", "--iterations", "2"]
    argv += ["--weights-vgg16", "none", "--images", str(images), "--out", str(out)]
    assert large.main(argv) == 0
    printed = capsys.readouterr().out
    assert "estimate: ~" in printed  # the child says its estimate first
    (row,) = [json.loads(line) for line in (out / "large.jsonl").read_text().splitlines()]
    assert "error" not in row, row
    assert row["measured_peak_gib"] > 0.05  # TensorFlow alone is hundreds of MiB
    assert row["peak_source"] == ("time -v" if TIME_V else "getrusage")
    assert row["estimate_gib"] > 0 and row["estimate"].startswith("~")
    assert row["tiles"] > 1 and row["tile_px"] == 64
    assert row["steps"] == 2
    assert math.isfinite(row["seam_ratio"])
    assert row["upscaled"] is True and row["content_px"] == 64
    assert row["metrics_px"] is None  # 96 px: measured as it is
    assert all(math.isfinite(row[m]) for m in large.METRICS)
    assert Image.open(out / row["image"]).size == (96, 72)
    assert "| vgg16:96 |" in printed
    # A rerun of the same case is skipped.
    assert large.main(argv) == 0
    assert "measured before" in capsys.readouterr().out
    assert len((out / "large.jsonl").read_text().splitlines()) == 1


ALLOCATE = [sys.executable, "-c", "x = b'x' * (300 * 2**20); print('done')"]


@pytest.mark.skipif(not TIME_V, reason="needs /usr/bin/time")
def test_measure_reads_time_v_peak_and_wall():
    got = large.measure(ALLOCATE, use_time=True)
    assert got["rc"] == 0 and got["lines"] == ["done"]
    assert got["peak_source"] == "time -v"
    assert 300 * 2**20 <= got["peak_bytes"] < 2 * 2**30
    assert 0 < got["wall_s"] < 60


def test_measure_falls_back_to_getrusage():
    got = large.measure(ALLOCATE, use_time=False)
    assert got["rc"] == 0 and got["lines"] == ["done"]
    assert got["peak_source"].startswith("getrusage")
    assert got["peak_bytes"] >= 300 * 2**20


def test_large_reports_a_failed_case_with_its_reason(images, tmp_path, capsys):
    out = tmp_path / "large"
    argv = ["--case", "vgg16:96", "--max-tile-px", "16", "--scales", "1", "--iterations", "2"]
    argv += ["--weights-vgg16", "none", "--images", str(images), "--out", str(out)]
    assert large.main(argv) == 0  # a benchmark: the failure is a result
    (row,) = [json.loads(line) for line in (out / "large.jsonl").read_text().splitlines()]
    assert row["error"].startswith("exit code 1: ")
    assert "max tile px 16 is below vgg16's 32 px minimum" in row["error"]
    assert row["measured_peak_gib"] > 0
    assert "max tile px 16" in capsys.readouterr().out
