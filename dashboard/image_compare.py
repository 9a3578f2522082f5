"""An image comparison slider: two images of one size stacked, a handle to drag
between them (output vs photo, or two outputs). Plain HTML and a few lines of
JavaScript in an `st.iframe`: no extra package for one widget.

`compare_html` is pure (and tested); `image_compare` draws it."""

from __future__ import annotations

import base64
import html
import io

import streamlit as st
from PIL import Image

MAX_SIDE = 768  # px: the slider shows images at most this large (the page is not wider)


def _fitted(data: bytes, size: tuple[int, int] | None) -> tuple[Image.Image, tuple[int, int]]:
    """The image decoded, resized to `size` (the first image's), else shrunk to MAX_SIDE."""
    with Image.open(io.BytesIO(data)) as img:
        rgb = img.convert("RGB")
    if size is None:
        rgb.thumbnail((MAX_SIDE, MAX_SIDE))
        size = rgb.size
    return (rgb if rgb.size == size else rgb.resize(size, Image.Resampling.LANCZOS)), size


def _data_url(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def compare_html(left: bytes, right: bytes, left_label: str, right_label: str) -> tuple[str, int]:
    """(HTML, height in px) of a slider showing `left` on the left of the handle and
    `right` on its right; `right` is resized to `left`'s size (a photo and its output
    can differ by a pixel or two). Labels are escaped."""
    a, size = _fitted(left, None)
    b, _ = _fitted(right, size)
    w, h = size
    la, lb = html.escape(left_label), html.escape(right_label)
    page = f"""<div class="cmp" style="position:relative;width:{w}px;max-width:100%;font:12px sans-serif">
<img src="{_data_url(b)}" style="display:block;width:100%" alt="{lb}">
<img class="top" src="{_data_url(a)}" alt="{la}"
 style="position:absolute;top:0;left:0;width:100%;clip-path:inset(0 50% 0 0)">
<span style="position:absolute;top:4px;left:4px;background:#000a;color:#fff;padding:1px 4px">{la}</span>
<span style="position:absolute;top:4px;right:4px;background:#000a;color:#fff;padding:1px 4px">{lb}</span>
<input type="range" min="0" max="100" value="50" aria-label="split between {la} and {lb}"
 style="position:absolute;bottom:4px;left:2%;width:96%"
 oninput="this.parentNode.querySelector('.top').style.clipPath='inset(0 '+(100-this.value)+'% 0 0)'">
</div>"""
    return page, h + 8


def image_compare(left: bytes, right: bytes, left_label: str, right_label: str) -> None:
    """Draw the slider (see `compare_html`)."""
    page, height = compare_html(left, right, left_label, right_label)
    st.iframe(page, height=height)  # an HTML string is shown as the frame's document
