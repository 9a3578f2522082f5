"""dashboard/contact_sheet.py: one labelled PNG of compared outputs (pure, no Streamlit)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dashboard.contact_sheet import Tile, contact_sheet, run_lines


def png(color: tuple[int, int, int], size: tuple[int, int] = (40, 32)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def test_outputs_side_by_side_after_the_shared_inputs():
    outputs = [Tile(png((255, 0, 0)), ("#1 · vgg16", "lr=15")), Tile(png((0, 0, 255)), ("#2 · resnet50", "lr=20"))]
    inputs = [Tile(png((0, 255, 0), (64, 64)), ("content image", "photo.jpg"))]
    data = contact_sheet(outputs, inputs, title="Compared runs #1, #2", tile_px=100)
    sheet = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    assert sheet.shape[1] == 12 + 3 * 112  # three tiles in one row
    row = sheet[sheet.shape[0] // 3]  # through the pictures, below the title

    def near(c):
        return (np.abs(row - c).sum(axis=1) < 30).nonzero()[0]

    green, red, blue = (near(c) for c in ((0, 255, 0), (255, 0, 0), (0, 0, 255)))
    assert len(green) and len(red) and len(blue)
    assert green.max() < red.min() and red.max() < blue.min()  # inputs first, then outputs in order
    # small outputs are enlarged to the tile (a 40 px test output fills ~100 px)
    assert 90 <= len(red) <= 100
    # labels are drawn below each picture: dark text pixels under the red tile
    below = sheet[int(sheet.shape[0] * 0.8) :, red.min() : red.max()]
    assert (below.sum(axis=2) < 300).any()


def test_grid_wraps_and_an_empty_sheet_is_refused():
    tiles = [Tile(png((i * 40, 0, 0)), (f"#{i}",)) for i in range(5)]
    img = Image.open(io.BytesIO(contact_sheet(tiles, tile_px=64, columns=2)))
    assert img.size[0] == 12 + 2 * 76 and img.size[1] > 3 * 64  # 3 rows of 2
    with pytest.raises(ValueError):
        contact_sheet([])


def test_labels_name_the_run_the_differing_parameters_and_computed_metrics():
    row = {"id": 7, "backbone": "resnet50", "learning_rate": 20.0, "content_name": "**bold**.png", "seed": 3}
    metrics = {"ssim": 0.81234, "color_ratio": 0.5, "texture_ratio": float("nan"), "loss_ratio_final": 0.05}
    lines = run_lines(row, ["backbone", "learning_rate", "content_name"], metrics)
    assert lines[0] == "#7 · resnet50"
    assert lines[1:3] == ("learning_rate=20", "content_name=**bold**.png")  # plain text in a picture
    assert lines[3] == "SSIM 0.812 · colour × 0.5" and lines[4] == "output ÷ step-1 loss 0.05"  # NaN left out
    assert run_lines(row, ["seed"]) == ("#7 · resnet50", "seed=3")  # no metrics computed: none shown
