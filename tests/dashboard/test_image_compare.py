"""The image comparison slider's HTML."""

import io

from PIL import Image

from dashboard.image_compare import MAX_SIDE, compare_html


def _png(size, colour):
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def test_both_images_and_escaped_labels_are_in_the_page():
    page, height = compare_html(_png((40, 30), "red"), _png((41, 30), "blue"), "output <b>", "photo & co")
    assert page.count("data:image/png;base64,") == 2
    assert "output &lt;b&gt;" in page and "photo &amp; co" in page and "<b>" not in page
    assert 'type="range"' in page and height == 30 + 8


def test_large_images_are_shown_at_most_max_side():
    page, height = compare_html(_png((2000, 1000), "red"), _png((100, 50), "blue"), "a", "b")
    assert f"width:{MAX_SIDE}px" in page and height == MAX_SIDE // 2 + 8
