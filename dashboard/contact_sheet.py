"""A comparison as one figure: the compared runs' outputs side by side in a labelled PNG
(the content and style images once, first, when every run shares them), each output
labelled with its run id, backbone, the parameters that differ between the runs and its
fair metrics when they are computed.

Pure functions (bytes in, bytes out; no Streamlit): Compare offers the result as the
download `contact_sheet.png` (button key `compare_contact_sheet`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageFont

# The fair metrics a label shows (when computed), as short text: name, format.
LABEL_METRICS = {
    "ssim": ("SSIM", "{:.3f}"),
    "edge_corr": ("edges r", "{:.3f}"),
    "color_ratio": ("colour ×", "{:.3g}"),
    "texture_ratio": ("texture ×", "{:.3g}"),
    "loss_ratio_final": ("output ÷ step-1 loss", "{:.3g}"),
}
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
MUTED = (90, 90, 90)
PAD = 12  # px between tiles and around the sheet


@dataclass(frozen=True)
class Tile:
    """One picture of the sheet: PNG (or any Pillow-readable) bytes and its label lines
    (the first drawn as the title)."""

    image: bytes
    lines: tuple[str, ...]


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def run_lines(
    row: Mapping[str, Any], differing: Iterable[str], metrics: Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """A run's label: "#12 · vgg16", then "name=value" for each parameter that differs
    (backbone left out: it is in the title), then the fair metrics that are computed
    ("SSIM 0.812 · colour × 0.54"), all as plain text."""
    lines = [f"#{row['id']} · {row['backbone']}"]
    lines += [f"{c}={_text(row[c])}" for c in differing if c != "backbone" and c in row]
    shown = []
    for name, (label, fmt) in LABEL_METRICS.items():
        value = (metrics or {}).get(name)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            shown.append(f"{label} {fmt.format(float(value))}")
    if shown:
        lines.append(" · ".join(shown[:2]))
        if len(shown) > 2:
            lines.append(" · ".join(shown[2:]))
    return tuple(lines)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _fit(text: str, font: Any, width: int, draw: ImageDraw.ImageDraw) -> str:
    """`text` shortened with "…" until it fits `width` px."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _thumb(data: bytes, side: int) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        rgb = img.convert("RGB")
    rgb.thumbnail((side, side), Image.Resampling.LANCZOS)
    if max(rgb.size) < side:  # small outputs (tests, 32 px runs) are enlarged to the tile
        scale = side / max(rgb.size)
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.NEAREST)
    return rgb


def contact_sheet(
    tiles: Sequence[Tile],
    inputs: Sequence[Tile] = (),
    title: str | None = None,
    tile_px: int = 256,
    columns: int | None = None,
) -> bytes:
    """One PNG: `inputs` (e.g. the shared content and style images) then `tiles` (the
    outputs), in a grid of `columns` (default: all in one row up to 4), each image fitted
    into a `tile_px` square with its label lines below; `title` on top. ValueError when
    there is nothing to draw."""
    items = [*inputs, *tiles]
    if not items:
        raise ValueError("a contact sheet needs at least one image")
    cols = max(1, min(columns or 4, len(items)))
    rows = math.ceil(len(items) / cols)
    size = max(11, tile_px // 18)
    head_font, body_font = _font(size + 2), _font(size)
    line_h = size + 5
    label_h = line_h * max(len(t.lines) for t in items) + 4
    title_h = (size + 12) if title else 0
    width = PAD + cols * (tile_px + PAD)
    height = PAD + title_h + rows * (tile_px + label_h + PAD)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((PAD, PAD), _fit(title, head_font, width - 2 * PAD, draw), fill=INK, font=head_font)
    for i, item in enumerate(items):
        r, c = divmod(i, cols)
        x = PAD + c * (tile_px + PAD)
        y = PAD + title_h + r * (tile_px + label_h + PAD)
        img = _thumb(item.image, tile_px)
        sheet.paste(img, (x + (tile_px - img.width) // 2, y + (tile_px - img.height) // 2))
        for k, line in enumerate(item.lines):
            font, fill = (head_font, INK) if k == 0 else (body_font, MUTED)
            draw.text((x, y + tile_px + 4 + k * line_h), _fit(line, font, tile_px, draw), fill=fill, font=font)
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
