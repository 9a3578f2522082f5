"""Run detail: one run (`?run=ID`) in full: output, snapshots, curves, config, notes,
re-run and delete."""

import streamlit as st

from dashboard import common, detail
from store import runs as store_runs


def main() -> None:
    """Render the Run detail page."""
    st.title("Run detail")
    db = common.db_path()
    detail.show_notice()
    run_id = detail.pick_run(db)
    if run_id is None:
        common.empty_state()
        return
    run = store_runs.get_run(db, run_id)
    if run is None:
        st.warning(f"Run #{run_id} no longer exists.")
        return
    detail.header(run)
    detail.images_section(db, run)
    detail.snapshots_section(db, run_id)
    detail.curves_section(db, run_id)
    detail.config_section(run)
    detail.notes_section(db, run)
    detail.actions_section(db, run)


common.run_page(main)
