"""Home: what this is, run counts in words, comparable figures per backbone, the newest
outputs and the runs in progress.

Raw losses of different backbones (and loss conventions) live on different scales, so
Home never shows them side by side: it shows the normalised loss (output ÷ step 1) and
SSIM to the content (a fair metric) instead. Store reads are cached on the store's change
token, thumbnails by image id (`dashboard.gallery.thumbs`)."""

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import common, nav
from dashboard.gallery import thumbs
from store import gallery as store_gallery
from store import queries
from store import runs as store_runs
from workbench.verdicts import display

NORM_HELP = (
    "Output ÷ step 1: the output loss divided by the loss of the starting image (step 1). Unlike raw losses, "
    "which live on each backbone's own scale, it is scale-free: how far each run brought its own objective "
    "down, not how good the image is (the fair metrics, e.g. SSIM, judge that)."
)
SSIM_HELP = "SSIM to the content: structural similarity of output and photo in greyscale (1 = identical structure)."


@st.cache_data(max_entries=8, show_spinner=False)
def _counts(db: str, token: tuple) -> pd.DataFrame:
    return store_gallery.overview_counts(db)


@st.cache_data(max_entries=8, show_spinner=False)
def _by_backbone(db: str, token: tuple) -> pd.DataFrame:
    return store_gallery.backbone_summary(db)


@st.cache_data(max_entries=8, show_spinner=False)
def _latest(db: str, token: tuple, limit: int) -> pd.DataFrame:
    return store_gallery.latest_outputs(db, limit=limit)


@st.cache_data(max_entries=8, show_spinner=False)
def _live(db: str, token: tuple) -> pd.DataFrame:
    return queries.live_runs(db, (), limit=20)


def counts(table: pd.DataFrame) -> None:
    """Run counts by status (metrics labelled with the status word, and a line of
    coloured status words) and by backbone x status (table)."""
    by_status = table.groupby("status")["runs"].sum()
    cols = st.columns(len(store_runs.STATUSES) + 1)
    cols[0].metric("All runs", int(table["runs"].sum()))
    for col, status in zip(cols[1:], store_runs.STATUSES, strict=True):
        col.metric(common.status_label(status), int(by_status.get(status, 0)))
    st.markdown(
        " · ".join(f"{common.status_badge(s)} {int(by_status[s])}" for s in store_runs.STATUSES if by_status.get(s, 0))
    )
    wide = table.pivot(index="backbone", columns="status", values="runs").fillna(0).astype(int)
    wide["total"] = wide.sum(axis=1)
    st.dataframe(wide, key="home_counts", column_config={"backbone": st.column_config.TextColumn("backbone")})


def by_backbone(table: pd.DataFrame) -> None:
    """Comparable figures per backbone: median normalised loss and SSIM of finished runs."""
    if table.empty:
        return
    st.subheader("Finished runs per backbone")
    shown = table.assign(variant=table["variant"].map(display))
    if shown["ssim"].isna().all():  # no fair metrics computed yet: no empty column
        shown = shown.drop(columns="ssim")
    st.dataframe(
        shown,
        key="home_by_backbone",
        hide_index=True,
        column_config={
            "variant": st.column_config.TextColumn("backbone"),
            "loss_convention": st.column_config.TextColumn("loss convention"),
            "finished": st.column_config.NumberColumn("finished runs"),
            "norm_loss": st.column_config.NumberColumn("median output ÷ step 1", help=NORM_HELP, format="%.4g"),
            "ssim": st.column_config.NumberColumn("median SSIM to the content", help=SSIM_HELP, format="%.3f"),
        },
    )
    st.caption("Raw output losses are not compared here: each backbone and loss convention has its own scale.")


def in_progress(db: Path) -> None:
    """Queued and running runs with progress bars."""
    rows = _live(str(db), common.store_token())
    st.subheader("In progress")
    if rows.empty:
        st.caption("Nothing queued or running.")
        return
    for _, row in rows.iterrows():
        fraction, text = common.progress_text(row)
        st.progress(fraction, text=f"#{row['id']} {row['backbone']} · {common.status_label(row['status'])} · {text}")
    nav.link("launch", label="Watch them live on the Launch page", icon=":material/monitoring:")


def _figures(row: pd.Series) -> str:
    """A latest output's comparable figures: output ÷ step 1 and SSIM (when computed)."""
    parts = []
    if common.present(row["norm_loss"]):
        parts.append(f"output ÷ step 1 {row['norm_loss']:.3g}")
    if common.present(row["ssim"]):
        parts.append(f"SSIM {row['ssim']:.3f}")
    return " · ".join(parts)


def latest(db: Path) -> None:
    """The newest output images as thumbnails, each with comparable figures and a link to its run."""
    outputs = _latest(str(db), common.store_token(), 8)
    st.subheader("Latest outputs")
    if outputs.empty:
        st.caption("No finished outputs yet.")
        return
    images = thumbs(db, list(outputs["output_image"]))
    cols = st.columns(4)
    for i, (_, row) in enumerate(outputs.iterrows()):
        with cols[i % 4]:
            figures = _figures(row)
            caption = f"#{row['id']} {display(row['variant'])}" + (f" · {figures}" if figures else "")
            common.thumb(images.get(row["output_image"]), caption)
            nav.link("run", label=f"Run #{row['id']}", run_id=int(row["id"]))
    st.caption(NORM_HELP)


def main() -> None:
    """Render the Home page."""
    st.title("Neural style transfer workbench")
    st.markdown(
        "Run Gatys-style neural style transfer on **VGG16** and **ResNet50** backbones, record every "
        "iteration in a local DuckDB store, and compare the runs. Launch runs in the background, browse "
        "them in the gallery, inspect one in detail, or line several up on the Compare page."
    )
    db = common.db_path()
    table = _counts(str(db), common.store_token())
    if table.empty:
        common.empty_state()
        return
    nav.link("launch", label="Start here: launch a new run", icon=":material/rocket_launch:")
    counts(table)
    by_backbone(_by_backbone(str(db), common.store_token()))
    in_progress(db)
    latest(db)


common.run_page(main)
