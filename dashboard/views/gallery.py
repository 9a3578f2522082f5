"""Gallery: every run as a card, filtered, sorted and paginated in SQL; pick runs to compare."""

import streamlit as st

from dashboard import common, gallery
from store import gallery as store_gallery


def main() -> None:
    """Render the Gallery page."""
    st.title("Gallery")
    db = common.db_path()
    options = gallery.options(db)
    if not options["backbones"]:
        common.empty_state()
        return
    chosen = gallery.filters(options)
    found = gallery.summary(db, chosen)
    top = st.columns([3, 1, 3], vertical_alignment="bottom")
    note = st.container()
    sort = gallery.sort_choice(top[0], store_gallery.sort_keys(chosen, found, options["metrics"]))
    page_size = top[1].selectbox("Per page", gallery.PAGE_SIZES, key="gallery_page_size")
    with top[2]:
        page = gallery.page_number(found.total, page_size, (chosen, sort, page_size))
    result = gallery.page_rows(db, chosen, sort, limit=page_size, offset=(page - 1) * page_size)
    pages = max(1, -(-result.total // page_size))
    note.caption(f"{result.total} run{'s' if result.total != 1 else ''} match · page {page} of {pages}")
    if result.missing:
        label = gallery.sort_label(sort).rsplit(",", 1)[0]
        note.caption(
            f"{result.missing} of them have no {label} yet: they come last. Fair metrics are computed when a run "
            "finishes (`python -m workbench metrics --missing` for older runs)."
        )
    gallery.selection_bar()
    if result.rows.empty:
        st.info("No runs match these filters. Clear some filters in the sidebar.", icon=":material/search:")
        return
    gallery.grid(db, result.rows, sort)


common.run_page(main)
