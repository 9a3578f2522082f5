"""The gallery: filters in the sidebar (keys `gallery_*`), a page of run cards
(filtered, sorted and paginated in SQL), each linking to Run detail (`/run?run=ID`)."""

from __future__ import annotations

from datetime import date
from typing import Any

import streamlit as st

from dashboard import nav
from dashboard.common import fmt_loss, present, status_label, thumb
from dashboard.text import md_escape
from engine.weights import is_random
from store import queries

PAGE_SIZES = (12, 24, 48)
COLUMNS = 3
PAGE_KEY = "gallery_page"


def _image_filter(label: str, images: list[tuple[str, str | None]], key: str) -> str | None:
    names = dict(images)
    return st.selectbox(
        label,
        [None, *names],
        format_func=lambda i: "any" if i is None else f"{names[i] or 'image'} · {i[:8]}",
        key=key,
    )


def _date_range(value: Any) -> tuple[date | None, date | None]:
    days = list(value or ())
    if not days:
        return None, None
    return days[0], days[-1] if len(days) > 1 else days[0]


def filters(options: dict[str, Any]) -> queries.GalleryFilter:
    """The sidebar filter widgets; returns the chosen filter."""
    with st.sidebar:
        st.header("Filters")
        backbones = st.multiselect("Backbone", options["backbones"], key="gallery_backbones")
        statuses = st.multiselect("Status", options["statuses"], key="gallery_statuses")
        rates = st.multiselect("Learning rate", options["learning_rates"], format_func="{:g}".format, key="gallery_lrs")
        layer_sets = st.multiselect("Layer set (content | style)", options["layer_sets"], key="gallery_layer_sets")
        content = _image_filter("Content image", options["content_images"], "gallery_content")
        style = _image_filter("Style image", options["style_images"], "gallery_style")
        days = st.date_input(
            "Created between (UTC)",
            value=(),
            min_value=options["first_date"],
            max_value=options["last_date"],
            key="gallery_dates",
        )
    start, end = _date_range(days)
    return queries.GalleryFilter(
        tuple(backbones), tuple(statuses), tuple(rates), tuple(layer_sets), content, style, start, end
    )


def card(row: Any) -> None:
    """One run: content | style | output thumbnails, key facts, a link to its detail."""
    with st.container(border=True):
        cols = st.columns(3)
        for col, role in zip(cols, ("content", "style", "output"), strict=True):
            with col:
                thumb(row[f"{role}_thumb"], role)
        st.markdown(
            f"**#{row['id']}** · {row['backbone']} · lr {row['learning_rate']:g} · {status_label(row['status'])}"
        )
        random = " · random weights" if is_random(row["weights"]) else ""
        st.caption(
            f"final loss {fmt_loss(row['total_loss'])} · {row['steps_done']}/{row['iterations']} steps · "
            f"{row['size']} px{random} · {row['created_at']:%Y-%m-%d %H:%M} UTC"
        )
        st.caption(f"layers: {md_escape(row['layer_set'])}")
        if present(row["tags"]) and len(row["tags"]):
            st.caption("tags: " + ", ".join(md_escape(t) for t in row["tags"]))  # typed by users
        nav.link("run", label="Open run detail", run_id=int(row["id"]), icon=":material/description:")


def page_number(total: int, page_size: int, signature: tuple) -> int:
    """The current page (1-based); back to page 1 whenever the filters change."""
    pages = max(1, -(-total // page_size))
    changed = st.session_state.get("_gallery_signature") != signature
    st.session_state["_gallery_signature"] = signature
    if changed or st.session_state.get(PAGE_KEY, 1) > pages:
        st.session_state.pop(PAGE_KEY, None)  # the widget starts again at its default, page 1
    if pages == 1:
        return 1
    return st.pagination(pages, key=PAGE_KEY)


def grid(rows: Any) -> None:
    """Cards in rows of `COLUMNS`."""
    items = list(rows.iterrows())
    for start in range(0, len(items), COLUMNS):
        cols = st.columns(COLUMNS)
        for col, (_, row) in zip(cols, items[start : start + COLUMNS], strict=False):
            with col:
                card(row)
