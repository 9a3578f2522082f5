"""Compare: several runs' curves, the study's tables, their fair metrics and verdicts, and
their outputs side by side."""

import streamlit as st

from dashboard import common, compare
from store import queries


def main() -> None:
    """Render the Compare page."""
    st.title("Compare runs")
    db = common.db_path()
    ids = compare.select_runs(db)
    if ids is None:
        common.empty_state("No runs with logged iterations yet.")
        return
    if not ids:
        st.info("Pick at least one run (by hand, or choose a group).", icon="👆")
        return
    params = queries.run_params(db, ids)
    st.caption(f"{len(params)} run{'s' if len(params) != 1 else ''} selected.")
    compare.curves_section(db, params)
    compare.tables_section(db, ids)
    compare.fair_section(db, params)
    compare.outputs_section(db, params)


common.run_page(main)
