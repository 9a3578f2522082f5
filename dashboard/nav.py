"""The page registry: one list of pages feeds `st.navigation` in Home.py and every
`st.page_link`, so URL paths are defined once.

URL paths: "/" (Home), "/launch" ("/launch?from_run=ID" fills the form from a run),
"/gallery", "/run?run=ID" (Run detail), "/compare?runs=ID,ID,..." (those runs
compared), "/studies?study=ID" (Studies: launch, follow and report).
"""

from __future__ import annotations

from collections.abc import Iterable
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


def params(
    run_id: int | None = None,
    study_id: int | None = None,
    runs: Iterable[int] | None = None,
    from_run: int | None = None,
) -> dict[str, str]:
    """The query parameters of a link: `run`, `study`, `runs` (comma-separated ids, in
    the order given, duplicates dropped) and `from_run`; absent ones are left out."""
    out = {"run": run_id, "study": study_id, "from_run": from_run}
    found = {k: str(v) for k, v in out.items() if v is not None}
    if runs is not None:
        found["runs"] = ",".join(str(int(r)) for r in dict.fromkeys(runs))
    return found


def parse_ids(raw: str | None) -> list[int]:
    """The ids of a `runs=1,3,7` query value, in order, without duplicates; anything
    that is not a positive integer is skipped (a hand-edited URL must not crash a page)."""
    if not raw:
        return []
    ids = (part.strip() for part in str(raw).split(","))
    return list(dict.fromkeys(int(part) for part in ids if part.isdigit() and int(part) > 0))


def link(
    name: str,
    label: str | None = None,
    run_id: int | None = None,
    icon: str | None = None,
    study_id: int | None = None,
    runs: Iterable[int] | None = None,
    from_run: int | None = None,
) -> None:
    """A link to page `name`, optionally with query parameters (see `params`)."""
    query = params(run_id, study_id, runs, from_run)
    st.page_link(page(name), label=label, icon=icon, query_params=query or None)


def go(name: str, **query: Any) -> None:
    """Switch to page `name` now (from a button), with query parameters as in `params`."""
    st.switch_page(page(name), query_params=params(**query) or None)
