"""Compare: several runs' curves, the study's tables, their fair metrics and verdicts, and
their outputs side by side (with a contact sheet and a comparison slider). Opens with the
runs of `?runs=1,3` when the URL names them, and writes the selection back to the URL."""

import streamlit as st

from dashboard import common, compare
from dashboard.text import md_escape


def main() -> None:
    """Render the Compare page."""
    st.title("Compare runs")
    db = common.db_path()
    selection = compare.select_runs(db)
    if selection is None:
        common.empty_state("No runs with logged iterations yet.")
        return
    if not selection.ids:
        st.info("Pick at least one run (by hand, or choose a grouping and its groups).", icon=":material/touch_app:")
        return
    params = compare.params_of(db, selection.ids)
    if selection.grouped:
        params = params.assign(group=params["id"].map(selection.groups))
        sizes = ", ".join(f"{md_escape(g)} (n = {n})" for g, n in selection.sizes.items())
        runs = f"{len(params)} run{'s' if len(params) != 1 else ''}"
        st.caption(f"{runs} selected in {len(selection.sizes)} groups: {sizes}.")
    else:
        st.caption(f"{len(params)} run{'s' if len(params) != 1 else ''} selected.")
    compare.curves_section(db, params, selection)
    compare.tables_section(db, selection.ids, selection)
    compare.fair_section(db, params, selection)
    compare.outputs_section(db, params, selection)


common.run_page(main)
