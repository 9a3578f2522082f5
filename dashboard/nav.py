"""The page registry: one list of pages feeds `st.navigation` in Home.py and every
`st.page_link`, so URL paths are defined once.

URL paths: "/" (Home), "/launch", "/gallery", "/run?run=ID" (Run detail), "/compare",
"/studies?study=ID" (Studies: launch, follow and report).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

VIEWS = Path(__file__).resolve().parent / "views"


@dataclass(frozen=True)
class PageSpec:
    """One page: its script in dashboard/views, title, icon and URL path."""

    script: str
    title: str
    icon: str
    url_path: str


PAGES: dict[str, PageSpec] = {
    "home": PageSpec("home.py", "Home", ":material/home:", "home"),
    "launch": PageSpec("launch.py", "Launch", ":material/rocket_launch:", "launch"),
    "gallery": PageSpec("gallery.py", "Gallery", ":material/photo_library:", "gallery"),
    "run": PageSpec("run_detail.py", "Run detail", ":material/description:", "run"),
    "compare": PageSpec("compare.py", "Compare", ":material/compare:", "compare"),
    "studies": PageSpec("studies.py", "Studies", ":material/science:", "studies"),
}


def page(name: str) -> st.Page:
    """The `st.Page` of page `name` (a key of `PAGES`); Home is the default page."""
    spec = PAGES[name]
    return st.Page(
        VIEWS / spec.script,
        title=spec.title,
        icon=spec.icon,
        url_path=spec.url_path,
        default=name == "home",
    )


def navigation() -> Any:
    """`st.navigation` over all pages, in menu order."""
    return st.navigation([page(name) for name in PAGES])


def link(
    name: str,
    label: str | None = None,
    run_id: int | None = None,
    icon: str | None = None,
    study_id: int | None = None,
) -> None:
    """A link to page `name`, optionally to one run (`?run=ID`) or study (`?study=ID`)."""
    params = {"run": str(run_id)} if run_id is not None else {}
    params |= {"study": str(study_id)} if study_id is not None else {}
    st.page_link(page(name), label=label, icon=icon, query_params=params or None)
