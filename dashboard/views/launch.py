"""Launch: the run form in the sidebar, the live view of queued and running runs in
the main area. `?run=ID` adds that run to the live view."""

import streamlit as st

from dashboard import common, launch_form, live


def main() -> None:
    """Render the Launch page."""
    st.title("Launch")
    st.caption("Choose images and settings in the sidebar. Runs are queued and executed by a background worker.")
    db = common.db_path()
    launch_form.render(db)
    watch = list(st.session_state.get(launch_form.WATCH_KEY, []))
    run_id = common.query_run_id()
    if run_id is not None and run_id not in watch:
        watch.insert(0, run_id)
    live.render(db, watch)


common.run_page(main)
