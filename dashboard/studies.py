"""Studies from the dashboard: turning the study form into overrides, launching and
resuming studies through `workbench.queue.launch_study`, and how each kind of study
table is shown (`TABLE_VIEWS`: its long form for the chart, the chart, number formats).
No Streamlit here: the form lives in `study_form`, the sections in `study_view` and
`study_report`.

A study is queued exactly as `python -m workbench study` queues it (same spec, same cell
identities, so the CLI and the dashboard resume each other's studies), then
`workbench.queue.start_worker` starts the background worker unless $NST_NO_WORKER is set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from dashboard import charts, launch
from engine.config import TransferConfig
from engine.errors import ConfigError
from engine.images import open_image
from engine.weights import KINDS
from store import images as store_images
from store import studies as store_studies
from workbench import studies as study_design
from workbench.queue import NO_WORKER_ENV, StudyInputs, StudyLaunch, launch_study
from workbench.studies import StudyPreset, get_preset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyRequest:
    """What the study form asks for: a preset, images, seeds and overrides."""

    preset: str
    contents: list[launch.ImageInput]
    styles: list[launch.ImageInput]
    seeds: list[int]
    overrides: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    paired: bool = False  # the i-th content with the i-th style only (explicit pairs)


def preset_default(preset: StudyPreset, name: str) -> Any:
    """The value a study of `preset` uses for config field `name` when not overridden."""
    return preset.shared.get(name, getattr(TransferConfig, name))


def preset_backbones(preset: StudyPreset) -> list[str]:
    """The backbones a preset's variants run, in variant order."""
    return list(dict.fromkeys(v.settings.get("backbone", TransferConfig.backbone) for v in preset.variants))


def build_overrides(preset: StudyPreset, values: dict[str, Any]) -> dict[str, Any]:
    """Form values -> the study's overrides: only what differs from the preset's (or the
    config's) default, so a study launched here has the same identity as the same study
    launched with `python -m workbench study` and no extra flags."""
    return {k: v for k, v in values.items() if v is not None and v != preset_default(preset, k)}


def study_weights(preset: StudyPreset, mode: str, paths: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """(weights override, weights by backbone) for a weights mode of the form.

    "local file" needs a file for every backbone of the preset: a weights file belongs to
    one network, and mixing trained and ImageNet weights in one study is not a fair test."""
    if mode != "local file":
        return ({} if mode == preset_default(preset, "weights") else {"weights": mode}), {}
    given = {b: paths.get(b, "").strip() for b in preset_backbones(preset)}
    missing = [b for b, p in given.items() if not p]
    if missing:
        raise ConfigError(f"give a weights file for {', '.join(missing)}, or choose imagenet or none")
    for backbone, path in given.items():
        launch.check_weights(path, backbone)
    return {}, given


def weights_warnings(preset: StudyPreset, overrides: dict[str, Any], weights: dict[str, str]) -> list[str]:
    """Warnings (e.g. ImageNet weights not cached yet) for the weights the study loads."""
    pairs = study_design.study_weights(preset, overrides, weights)
    notes = [launch.check_weights(w, b) for b, w in sorted(pairs) if w in KINDS]
    return [n for n in notes if n]


def cell_count(preset: StudyPreset, n_contents: int, n_styles: int, n_seeds: int) -> int:
    """How many runs a study launches: variants x content x style images x seeds."""
    return len(preset.variants) * n_contents * n_styles * n_seeds


def load_input(db: Any, image: launch.ImageInput) -> tuple[np.ndarray, str | None]:
    """An input image as (RGB array, display name): a stored image or decoded upload
    bytes (the engine's pixel-limited loader; raises ImageError)."""
    if image.image_id is not None:
        try:
            return store_images.get_array(db, image.image_id), None
        except KeyError:
            raise ConfigError(f"image {image.image_id[:12]}… is no longer in the store") from None
    if image.data is None:
        raise ConfigError("no image given")
    name = launch.display_name(image.name) or "upload"
    return np.asarray(open_image(image.data, name)), name


def start(db: Any, request: StudyRequest) -> StudyLaunch:
    """Validate and queue a study (or resume the identical one)."""
    if not request.contents or not request.styles:
        raise ConfigError("choose or upload at least one content and one style image")
    preset = get_preset(request.preset)
    study_design.check_overrides(preset, request.overrides)
    contents = [load_input(db, i) for i in request.contents]
    styles = [load_input(db, i) for i in request.styles]
    inputs = StudyInputs(
        preset,
        request.overrides,
        request.seeds,
        contents,
        styles,
        request.weights or None,
        request.name or None,
        paired=request.paired,
    )
    result = launch_study(db, inputs)
    log.info("study %s launched: %s", result.study_id, result.counts)
    return result


def resume_request(db: Any, study_id: int) -> StudyRequest:
    """The request that re-launches stored study `study_id` (same spec and name), or a
    ConfigError when its preset has changed since (the cells would not match)."""
    study = store_studies.get_study(db, study_id)
    if study is None:
        raise ConfigError(f"study {study_id} does not exist")
    spec = study["spec"]
    preset = get_preset(spec["preset"])
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["shared"].items()}
    weights = dict(spec.get("weights_by_backbone", {}))
    pairs = study_design.spec_pairs(spec) if "pairs" in spec else None
    again = study_design.study_spec(
        preset, overrides, spec["seeds"], spec["content_images"], spec["style_images"], weights, pairs
    )
    if study_design.spec_key(study["name"], again) != study["spec_key"]:
        raise ConfigError(f"the {preset.name} preset has changed since study {study_id} was launched; launch it anew")
    contents, styles = zip(*pairs, strict=True) if pairs else (spec["content_images"], spec["style_images"])
    return StudyRequest(
        preset.name,
        [launch.ImageInput(image_id=i) for i in contents],
        [launch.ImageInput(image_id=i) for i in styles],
        list(spec["seeds"]),
        overrides,
        weights,
        study["name"],
        paired=pairs is not None,
    )


def has_work(result: StudyLaunch) -> bool:
    """True when the study has cells for a worker to run."""
    c = result.counts
    return c["queued"] + c["requeued"] + c["active"] > 0


def launch_message(result: StudyLaunch, worker_started: bool) -> str:
    """One line saying what launching (or resuming) did."""
    c = result.counts
    verb = "resumed" if result.resumed else "launched"
    text = (
        f"Study #{result.study_id} {verb}: {result.cells} cells: {c['queued']} queued, {c['requeued']} re-queued, "
        f"{c['finished']} already finished, {c['active']} already queued or running"
    )
    if not has_work(result):
        return text + "; nothing left to run."
    started = "a background worker was started" if worker_started else f"no worker started (${NO_WORKER_ENV})"
    return f"{text}; {started}."


def resumable(progress: dict[str, Any]) -> bool:
    """True when re-launching would do something: cells not finished (failed, stopped,
    or queued without a worker)."""
    return bool(progress) and int(progress.get("finished", 0)) < int(progress.get("cells", 0))


def _std_pairs(frame: pd.DataFrame, x: str) -> pd.DataFrame:
    """Wide (x, A, "A std", B, ...) -> long (x, series, mean, std)."""
    series = [c for c in frame.columns if c != x and not str(c).endswith(" std")]
    parts = []
    for name in series:
        std = frame[f"{name} std"] if f"{name} std" in frame.columns else np.nan
        parts.append(pd.DataFrame({"x": frame[x], "series": name, "mean": frame[name], "std": std}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["x", "series", "mean", "std"])


def _layer_sets_long(frame: pd.DataFrame) -> pd.DataFrame:
    """Tables 6-7 (rows Content Layer, Style Layer i, Total Loss[, Total Loss std]) ->
    one row per layer set with its total loss."""
    rows = frame.set_index("Layer Type")
    sets = [c for c in frame.columns if c != "Layer Type"]
    std = rows.loc["Total Loss std", sets] if "Total Loss std" in rows.index else pd.Series(np.nan, index=sets)
    return pd.DataFrame(
        {
            "x": [f"set {s}: {rows.loc['Content Layer', s]}" for s in sets],
            "series": [f"set {s}" for s in sets],
            "mean": pd.to_numeric(rows.loc["Total Loss", sets], errors="coerce").to_numpy(float),
            "std": pd.to_numeric(std, errors="coerce").to_numpy(float),
        }
    )


def _first_column_long(frame: pd.DataFrame) -> pd.DataFrame:
    """Tables 3-5 (a row per iteration or learning rate, a column per variant) -> long."""
    return _std_pairs(frame, frame.columns[0])


def _final_long(frame: pd.DataFrame) -> pd.DataFrame:
    """The final-losses table (a row per variant) -> one dot per variant, its total loss."""
    std = frame["total loss std"] if "total loss std" in frame.columns else np.nan
    return pd.DataFrame({"x": frame["variant"], "series": frame["variant"], "mean": frame["total loss"], "std": std})


# The y axis of a by-iteration table, by its measure (`store.studies.ITERATION_MEASURES`).
MEASURES = {"total_loss": "total loss", "content_loss": "content loss", "style_loss": "style loss"}
MEASURES |= {"elapsed_seconds": "cumulative seconds"}


def _measure_title(spec: dict[str, Any]) -> str:
    return MEASURES.get(spec.get("measure", "total_loss"), "value")


def _final_title(spec: dict[str, Any]) -> str:
    return "final total loss"


@dataclass(frozen=True)
class TableView:
    """How the dashboard shows one kind of study table: its long form (x, series, mean,
    std) and the chart drawn from it, the first column's number format (None: formatted
    like the other columns) and whether the table is shown as text."""

    long: Callable[[pd.DataFrame], pd.DataFrame]
    chart: Callable[..., Any]  # (long, x title, y title, log scale) -> an Altair chart
    x_title: str
    y_title: Callable[[dict[str, Any]], str] = _final_title  # from the table's spec
    first_format: str | None = None
    as_text: bool = False  # a column mixes layer names and losses


# One view per table kind (`store.studies.TABLE_BUILDERS` makes the tables).
TABLE_VIEWS: dict[str, TableView] = {
    "by_iteration": TableView(_first_column_long, charts.study_line_chart, "iteration", _measure_title, "%d"),
    "by_learning_rate": TableView(
        _first_column_long, partial(charts.study_line_chart, x_format="g"), "learning rate", first_format="%g"
    ),
    "layer_sets": TableView(_layer_sets_long, charts.study_dot_chart, "layer set", as_text=True),
    "final": TableView(_final_long, charts.study_dot_chart, "variant"),
}


def table_view(kind: str) -> TableView:
    """The view of a table kind; a ValueError naming the known kinds otherwise."""
    try:
        return TABLE_VIEWS[kind]
    except KeyError:
        raise ValueError(f"unknown table kind {kind!r}; known kinds: {', '.join(TABLE_VIEWS)}") from None


def table_long(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """A study table in long form for its chart: x, series, mean, std (NaN when one run)."""
    long = table_view(kind).long(frame)
    long["mean"] = pd.to_numeric(long["mean"], errors="coerce")
    long["std"] = pd.to_numeric(long["std"], errors="coerce")
    return long.dropna(subset=["mean"]).reset_index(drop=True)
