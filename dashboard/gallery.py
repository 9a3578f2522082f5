"""The gallery: filters in the sidebar (keys `gallery_*`), a page of run cards (filtered,
sorted and paginated in SQL, `store.gallery`), each linking to Run detail (`/run?run=ID`)
and with a checkbox (`gallery_pick_<id>`) that picks it for Compare.

The picked runs live in session state (`SELECTED_KEY`), so they survive paging, filtering
and visiting other pages; "Compare selected" (`gallery_compare`) opens
`/compare?runs=ID,ID`. Sorting offers only comparable figures across backbones: the
normalised loss (output ÷ step 1) and fair metrics; the raw output loss only when the
filter keeps one backbone and loss convention.

Store reads are cached on `common.store_token()` (they change only when the store
commits) and thumbnails by image id (images are content-addressed: an id's bytes never
change), so a rerun of an unchanged page does not touch the database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import date
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard import nav
from dashboard.common import OUTPUT_LOSS, OUTPUT_LOSS_HELP, fmt_loss, present, status_badge, store_token, thumb
from dashboard.text import md_escape
from engine.weights import is_random
from store import gallery as store_gallery
from store.images import get_thumbs
from store.metrics import METRICS
from workbench.verdicts import display, metric_label

PAGE_SIZES = (12, 24, 48)
COLUMNS = 3
PAGE_KEY = "gallery_page"
SORT_KEY = "gallery_sort"
SELECTED_KEY = "gallery_selected"  # the picked run ids, in the order picked
PICK_PREFIX = "gallery_pick_"
THUMB_CACHE_SIZE = 2000

WEIGHT_KINDS = {
    store_gallery.IMAGENET: "ImageNet",
    store_gallery.RANDOM: "random (none)",
    store_gallery.ANY_FILE: "any local file",
}


# --- cached store reads ------------------------------------------------------------------


@st.cache_data(max_entries=8, show_spinner=False)
def _options(db: str, token: tuple) -> dict[str, Any]:
    return store_gallery.filter_options(db)


@st.cache_data(max_entries=64, show_spinner=False)
def _summary(db: str, token: tuple, filters: store_gallery.GalleryFilter) -> store_gallery.Summary:
    return store_gallery.summary(db, filters)


@st.cache_data(max_entries=64, show_spinner=False)
def _page(
    db: str, token: tuple, filters: store_gallery.GalleryFilter, sort: str, limit: int, offset: int
) -> store_gallery.GalleryPage:
    return store_gallery.gallery_page(db, filters, sort, limit=limit, offset=offset)


def options(db: Path) -> dict[str, Any]:
    """`store.gallery.filter_options`, cached until the store changes."""
    return _options(str(db), store_token())


def summary(db: Path, filters: store_gallery.GalleryFilter) -> store_gallery.Summary:
    """`store.gallery.summary`, cached until the store changes."""
    return _summary(str(db), store_token(), filters)


def page_rows(
    db: Path, filters: store_gallery.GalleryFilter, sort: str, limit: int, offset: int
) -> store_gallery.GalleryPage:
    """`store.gallery.gallery_page`, cached until the store changes."""
    return _page(str(db), store_token(), filters, sort, limit, offset)


@st.cache_resource(show_spinner=False)
def _thumb_cache() -> tuple[threading.Lock, OrderedDict]:
    return threading.Lock(), OrderedDict()


def thumbs(db: Path, image_ids: list[Any]) -> dict[str, bytes]:
    """Thumbnail bytes by image id: those not seen before in one query, the rest from a
    process-wide cache (least recently used dropped beyond `THUMB_CACHE_SIZE`)."""
    wanted = [i for i in dict.fromkeys(image_ids) if isinstance(i, str) and i]
    lock, cache = _thumb_cache()
    with lock:
        missing = [i for i in wanted if i not in cache]
    fetched = get_thumbs(db, missing) if missing else {}
    with lock:
        cache.update(fetched)
        found = {}
        for i in wanted:
            if i in cache:
                cache.move_to_end(i)
                found[i] = cache[i]
        while len(cache) > THUMB_CACHE_SIZE:
            cache.popitem(last=False)
    return found


# --- filters and sorting -------------------------------------------------------------------


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


def weights_label(value: str) -> str:
    """A weights filter option as plain text: a kind, or a file's name."""
    return WEIGHT_KINDS.get(value) or f"file: {Path(value).name}"


def weight_choices(values: list[str]) -> list[str]:
    """The weights filter's options: the kinds present (any file, when there is one),
    then every file path."""
    files = [v for v in values if v not in (store_gallery.IMAGENET, store_gallery.RANDOM)]
    kinds = [v for v in (store_gallery.IMAGENET, store_gallery.RANDOM) if v in values]
    return kinds + ([store_gallery.ANY_FILE] if files else []) + files


def filters(opts: dict[str, Any]) -> store_gallery.GalleryFilter:
    """The sidebar filter widgets; returns the chosen filter."""
    studies = dict(opts["studies"])
    study_choices = [*studies] + ([store_gallery.NOT_IN_STUDY] if studies and opts["has_one_offs"] else [])
    with st.sidebar:
        st.header("Filters")
        backbones = st.multiselect("Backbone", opts["backbones"], key="gallery_backbones")
        statuses = st.multiselect("Status", opts["statuses"], key="gallery_statuses")
        weights = st.multiselect(
            "Weights", weight_choices(opts["weights"]), format_func=weights_label, key="gallery_weights"
        )
        chosen_studies = st.multiselect(
            "Study",
            study_choices,
            format_func=lambda s: (
                "no study (one-off runs)" if s == store_gallery.NOT_IN_STUDY else f"#{s} {studies[s]}"
            ),
            key="gallery_studies",
        )
        tags = st.multiselect("Tag (any of)", opts["tags"], key="gallery_tags")
        conventions = st.multiselect("Loss convention", opts["conventions"], key="gallery_conventions")
        rates = st.multiselect("Learning rate", opts["learning_rates"], format_func="{:g}".format, key="gallery_lrs")
        layer_sets = st.multiselect("Layer set (content | style)", opts["layer_sets"], key="gallery_layer_sets")
        content = _image_filter("Content image", opts["content_images"], "gallery_content")
        style = _image_filter("Style image", opts["style_images"], "gallery_style")
        days = st.date_input(
            "Created between (UTC)",
            value=(),
            min_value=opts["first_date"],
            max_value=opts["last_date"],
            key="gallery_dates",
        )
    start, end = _date_range(days)
    return store_gallery.GalleryFilter(
        backbones=tuple(backbones),
        statuses=tuple(statuses),
        learning_rates=tuple(rates),
        layer_sets=tuple(layer_sets),
        content_image=content,
        style_image=style,
        date_from=start,
        date_to=end,
        weights=tuple(weights),
        studies=tuple(chosen_studies),
        tags=tuple(tags),
        conventions=tuple(conventions),
    )


def sort_label(key: str) -> str:
    """A sort key in words: fixed keys are their own label; a fair metric says which
    direction comes first."""
    parsed = store_gallery.parse_metric_sort(key)
    if parsed is None:
        return key
    metric, judge = parsed
    column = f"{metric} [{judge}]" if judge else metric
    first = "highest" if METRICS[metric].better == "higher" else "lowest"
    return f"{metric_label(column)}, {first} (best) first"


def sort_choice(where: Any, keys: list[str]) -> str:
    """The sort selectbox; a sort no longer allowed (raw loss after the filter widened to
    several backbones) falls back to the default, with a note."""
    previous = st.session_state.get(SORT_KEY)
    if previous is not None and previous not in keys:
        st.session_state.pop(SORT_KEY)
        why = (
            "needs runs of one backbone and loss convention (raw losses of different backbones are on different scales)"
            if previous in store_gallery.RAW_SORTS
            else "is not available for these runs"
        )
        where.caption(f"Sorting by “{sort_label(previous)}” {why}: back to newest first.")
    return where.selectbox(
        "Sort by",
        keys,
        format_func=sort_label,
        key=SORT_KEY,
        help="Across backbones only comparable figures sort runs: the normalised loss (output ÷ step 1) and fair "
        "metrics. Filter to one backbone (and loss convention) to sort by the raw output loss.",
    )


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


# --- picking runs to compare ------------------------------------------------------------------


def selected() -> list[int]:
    """The picked run ids, in the order they were picked."""
    return list(st.session_state.get(SELECTED_KEY, []))


def _toggle(run_id: int) -> None:
    picked = [i for i in selected() if i != run_id]
    if st.session_state.get(f"{PICK_PREFIX}{run_id}"):
        picked.append(run_id)
    st.session_state[SELECTED_KEY] = picked


def _clear() -> None:
    for run_id in selected():
        st.session_state.pop(f"{PICK_PREFIX}{run_id}", None)  # its checkbox starts unticked
    st.session_state[SELECTED_KEY] = []


def selection_bar() -> None:
    """What is picked ("2 runs selected: #3, #7"), Clear, and Compare selected."""
    picked = selected()
    cols = st.columns([4, 1, 2], vertical_alignment="center")
    if picked:
        n = len(picked)
        cols[0].markdown(f"**{n} run{'s' if n != 1 else ''} selected:** " + ", ".join(f"#{i}" for i in picked))
    else:
        cols[0].caption("Tick runs to compare them; the selection stays while you page and filter.")
    cols[1].button("Clear", key="gallery_clear", on_click=_clear, disabled=not picked)
    if cols[2].button(
        "Compare selected",
        key="gallery_compare",
        type="primary",
        disabled=not picked,
        icon=":material/compare:",
    ):
        nav.go("compare", runs=picked)


# --- cards ----------------------------------------------------------------------------------


def _weights_text(weights: str) -> str:
    if is_random(weights):
        return "random weights"
    if weights == store_gallery.IMAGENET:
        return "ImageNet weights"
    return f"weights {md_escape(Path(weights).name)}"  # a user's file name


def _sort_value_text(sort: str, value: Any) -> str | None:
    parsed = store_gallery.parse_metric_sort(sort)
    if parsed is None:
        return None
    label = sort_label(sort).rsplit(",", 1)[0]
    return f"{label}: {float(value):.3g}" if present(value) else f"{label}: not computed"


def card(row: Any, images: dict[str, bytes], sort: str) -> None:
    """One run: content | style | output thumbnails, status, the normalised loss (and
    the raw output loss labelled with its backbone's scale), a pick box and a link."""
    run_id = int(row["id"])
    with st.container(border=True):
        cols = st.columns(3)
        for col, role in zip(cols, ("content", "style", "output"), strict=True):
            with col:
                image_id = row[f"{role}_image"]
                thumb(images.get(image_id) if isinstance(image_id, str) else None, role, status=row["status"])
        st.markdown(
            f"**#{run_id}** · {display(row['variant'])} · lr {row['learning_rate']:g} · {status_badge(row['status'])}"
        )
        norm = f"{row['norm_loss']:.4g}" if present(row["norm_loss"]) else "–"
        st.caption(
            f"output ÷ step 1 **{norm}** · {OUTPUT_LOSS} {fmt_loss(row['total_loss'])} "
            f"({row['backbone']}, {row['loss_convention']} scale)",
            help="Output ÷ step 1: the output loss divided by the loss of the starting image, comparable across "
            f"backbones. {OUTPUT_LOSS_HELP}",
        )
        metric = _sort_value_text(sort, row["sort_value"])
        if metric:
            st.caption(metric)
        st.caption(
            f"{row['steps_done']}/{row['iterations']} steps · {row['size']} px · {_weights_text(row['weights'])} · "
            f"{row['created_at']:%Y-%m-%d %H:%M} UTC"
        )
        if present(row["study_id"]):
            st.caption(f"study #{int(row['study_id'])} {md_escape(row['study_name'] or '')}")  # typed by users
        st.caption(f"layers: {md_escape(row['layer_set'])}")
        if present(row["tags"]) and len(row["tags"]):
            st.caption("tags: " + ", ".join(md_escape(t) for t in row["tags"]))  # typed by users
        st.checkbox(
            "Pick to compare",
            value=run_id in selected(),
            key=f"{PICK_PREFIX}{run_id}",
            on_change=_toggle,
            args=(run_id,),
        )
        nav.link("run", label="Open run detail", run_id=run_id, icon=":material/description:")


def grid(db: Path, rows: Any, sort: str) -> None:
    """Cards in rows of `COLUMNS`, thumbnails fetched once per image id."""
    ids = [rows[f"{role}_image"] for role in ("content", "style", "output")]
    images = thumbs(db, [i for col in ids for i in col])
    items = list(rows.iterrows())
    for start in range(0, len(items), COLUMNS):
        cols = st.columns(COLUMNS)
        for col, (_, row) in zip(cols, items[start : start + COLUMNS], strict=False):
            with col:
                card(row, images, sort)
