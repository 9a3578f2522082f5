"""Run detail: one run (`?run=ID`) in full: output at its own size, image comparison,
snapshots, curves, fair metrics (computed in the background on request), config, notes,
compare with other runs, re-run, edit and re-run, and delete."""

import streamlit as st

from dashboard import common, detail


def main() -> None:
    """Render the Run detail page."""
    st.title("Run detail")
    db = common.db_path()
    detail.show_notice()
    run_id = detail.pick_run(db)
    if run_id is None:
        common.empty_state()
        return
    run = detail.load_run(db, run_id)
    if run is None:
        st.warning(f"Run #{run_id} no longer exists.")
        return
    detail.header(run)
    detail.images_section(db, run)
    detail.compare_images_section(db, run)
    detail.snapshots_section(db, run_id)
    detail.curves_section(db, run_id)
    detail.fair_section(db, run)
    detail.compare_section(db, run)
    detail.config_section(run)
    detail.notes_section(db, run)
    detail.actions_section(db, run)


common.run_page(main)
