"""Gallery: every run as a card, filtered, sorted and paginated in SQL."""

import streamlit as st

from dashboard import common, gallery
from store import queries


def main() -> None:
    """Render the Gallery page."""
    st.title("Gallery")
    db = common.db_path()
    options = queries.filter_options(db)
    if not options["backbones"]:
        common.empty_state()
        return
    chosen = gallery.filters(options)
    top = st.columns([2, 1, 3], vertical_alignment="bottom")
    sort = top[0].selectbox("Sort by", list(queries.SORTS), key="gallery_sort")
    page_size = top[1].selectbox("Per page", gallery.PAGE_SIZES, key="gallery_page_size")
    total = queries.count_runs(db, chosen)
    with top[2]:
        page = gallery.page_number(total, page_size, (chosen, sort, page_size))
    rows, total = queries.gallery_page(db, chosen, sort, limit=page_size, offset=(page - 1) * page_size)
    pages = max(1, -(-total // page_size))
    st.caption(f"{total} run{'s' if total != 1 else ''} match · page {page} of {pages}")
    if rows.empty:
        st.info("No runs match these filters. Clear some filters in the sidebar.", icon="🔎")
        return
    gallery.grid(rows)


common.run_page(main)
