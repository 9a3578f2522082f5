"""Home: what this is, run counts, the newest outputs and the runs in progress."""

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import common, nav
from store import queries
from store import runs as store_runs


def counts(table: pd.DataFrame) -> None:
    """Run counts by status (metrics) and by backbone x status (table)."""
    by_status = table.groupby("status")["runs"].sum()
    cols = st.columns(len(store_runs.STATUSES) + 1)
    cols[0].metric("All runs", int(table["runs"].sum()))
    for col, status in zip(cols[1:], store_runs.STATUSES, strict=True):
        col.metric(common.status_label(status), int(by_status.get(status, 0)))
    wide = table.pivot(index="backbone", columns="status", values="runs").fillna(0).astype(int)
    wide["total"] = wide.sum(axis=1)
    st.dataframe(wide, key="home_counts", column_config={"backbone": st.column_config.TextColumn("backbone")})


def in_progress(db: Path) -> None:
    """Queued and running runs with progress bars."""
    store_runs.mark_stale_runs(db)
    rows = queries.live_runs(db, (), limit=20)
    st.subheader("In progress")
    if rows.empty:
        st.caption("Nothing queued or running.")
        return
    for _, row in rows.iterrows():
        fraction, text = common.progress_text(row)
        st.progress(fraction, text=f"#{row['id']} {row['backbone']} · {common.status_label(row['status'])} · {text}")
    nav.link("launch", label="Watch them live on the Launch page", icon=":material/monitoring:")


def latest(db: Path) -> None:
    """The newest output images as thumbnails, each linking to its run."""
    outputs = queries.latest_outputs(db, limit=8)
    st.subheader("Latest outputs")
    if outputs.empty:
        st.caption("No finished outputs yet.")
        return
    cols = st.columns(4)
    for i, (_, row) in enumerate(outputs.iterrows()):
        with cols[i % 4]:
            st.image(
                row["thumb"], caption=f"#{row['id']} {row['backbone']} · loss {common.fmt_loss(row['total_loss'])}"
            )
            nav.link("run", label=f"Run #{row['id']}", run_id=int(row["id"]))


def main() -> None:
    """Render the Home page."""
    st.title("Neural style transfer workbench")
    st.markdown(
        "Run Gatys-style neural style transfer on **VGG16** and **ResNet50** backbones, record every "
        "iteration in a local DuckDB store, and compare the runs. Launch runs in the background, browse "
        "them in the gallery, inspect one in detail, or line several up on the Compare page."
    )
    db = common.db_path()
    table = queries.overview_counts(db)
    if table.empty:
        common.empty_state()
        return
    nav.link("launch", label="Start here: launch a new run", icon=":material/rocket_launch:")
    counts(table)
    in_progress(db)
    latest(db)


common.run_page(main)
