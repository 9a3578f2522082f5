"""Studies: launch a preset grid of runs from the sidebar, follow it live, resume it, and
read its report (the study's tables, fair metrics and verdicts). `?study=ID` selects a
study."""

import streamlit as st

from dashboard import common, study_form, study_report, study_view
from store import studies as store_studies

CLI_HINT = "python -m workbench study --preset lr-sweep --content photo.jpg --style painting.jpg --size 256"


def main() -> None:
    """Render the Studies page."""
    st.title("Studies")
    st.caption(
        "A study is a preset grid of runs (backbones × learning rates × layer sets × images × seeds), "
        "queued for the background worker and resumable."
    )
    db = common.db_path()
    study_form.render(db)
    study_view.show_notice()
    studies = common.store_read(store_studies.list_studies, db)
    if studies.empty:
        st.info(
            f"No studies yet. Launch one from the sidebar, or from a terminal:\n\n`{CLI_HINT}`",
            icon=":material/science:",
        )
        return
    study_id = study_view.pick_study(studies)
    study_view.list_section(studies)
    study = common.store_read(store_studies.get_study, db, study_id)
    if study is None:
        st.warning(f"Study #{study_id} no longer exists.")
        return
    study_view.header(db, study)
    study_view.progress_section(db, study_id)
    study_report.render(db, study)


common.run_page(main)
