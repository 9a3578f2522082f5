"""Judging a finished run's output: the network-free fidelity metrics, its loss
dynamics, each producing backbone's cross-evaluation and the neutral judges, stored in
`run_metrics` (`engine.metrics` and `engine.judges` compute; this module decides which
weights each judge uses and records what it could not judge, with why).
"""

from __future__ import annotations

from pathlib import Path

import keras

from engine import judges
from engine import metrics as fair
from engine.backbones import BACKBONES, get_backbone
from engine.config import TransferConfig
from engine.errors import WeightsError
from engine.judges import NeutralJudge
from engine.styles import style_size
from engine.transfer import FeatureExtractor
from engine.weights import KINDS, is_random, keras_cache_path
from store import images as store_images
from store import metrics as store_metrics
from store import runs as store_runs
from store import studies as store_studies
from workbench.models import ModelCache

# Judges with random weights are built from this seed, so every output judged by a random
# VGG16 (or ResNet50) meets the same ruler, in any process.
JUDGE_SEED = 0


def judge_weights(run_backbone: str, run_weights: str, judge: str, known: dict[str, str]) -> tuple[str | None, str]:
    """Which weights judge `judge` uses for a run, and a note saying why (or why none).

    Same kind as the run: its own backbone uses the run's weights; `none` and `imagenet`
    carry over; a weights *file* belongs to one backbone, so the other judge needs a file
    named for it (`known`, from the study or `metrics --weights-<backbone>`), else
    Keras's cached ImageNet file, else it is skipped."""
    if judge == run_backbone:
        return run_weights, "the run's own weights"
    if run_weights in KINDS:
        return run_weights, "same kind as the run's"
    if judge in known:
        return known[judge], "weights file given for this judge"
    if keras_cache_path(get_backbone(judge)).is_file():
        return "imagenet", "Keras's cached ImageNet file (no file given for this judge)"
    return None, f"skipped: the run used a weights file and none is known for {judge} (metrics --weights-{judge} PATH)"


def judge_extractor(judge: str, weights: str, models: ModelCache) -> FeatureExtractor:
    """The judge backbone reading its own default layers, untransformed; the network
    is built once per worker (`models`), the cheap reader around it each time."""
    bb = get_backbone(judge)
    return FeatureExtractor(models.backbone(judge, weights, JUDGE_SEED), bb.content_layer, bb.style_layers)


def _judge_rows(cfg: TransferConfig, known: dict[str, str], images: tuple, models: ModelCache) -> list[tuple]:
    """Cross-evaluation rows: every judge backbone scores the output (2 x 2 with two
    producers), or records why it could not."""
    rows = []
    for judge in BACKBONES:
        weights, why = judge_weights(cfg.backbone, cfg.weights, judge, known)
        if weights is None:
            rows += [(m, judge, None, why) for m in fair.JUDGED]
            continue
        detail = f"weights={weights}" + (f" (seed {JUDGE_SEED})" if is_random(weights) else "") + f"; {why}"
        try:
            values = fair.judge_losses(judge_extractor(judge, weights, models), get_backbone(judge), *images)
        except WeightsError as exc:
            rows += [(m, judge, None, f"skipped: {exc}"[:500]) for m in fair.JUDGED]
            continue
        rows += [(m, judge, v, detail) for m, v in values.items()]
    return rows


def _study_weights(db, run: dict) -> dict[str, str]:
    """Per-backbone weights the run's study was launched with ({} outside a study)."""
    study = store_studies.get_study(db, run["study_id"]) if run.get("study_id") else None
    return dict(study["spec"].get("weights_by_backbone", {})) if study else {}


def reference_style(styles: list[dict], first: str) -> tuple[str, str]:
    """The painting a run's output is measured against, and a note saying which: with
    several (a blend, or one per region) the heaviest blend weight's (the first of equal
    ones), since no single painting is the target then; the note says so, so a reader
    does not take it for the whole style."""
    if len(styles) < 2:
        return first, ""
    heaviest = max(styles, key=lambda s: (s["weight"], -s["position"]))
    regions = " (styles per region: measured over the whole output)" if any(s["mask_image"] for s in styles) else ""
    which = f"style {heaviest['position'] + 1} of {len(styles)}"
    note = f"against {which} (blend weight {heaviest['weight']:g}, the heaviest){regions}"
    return heaviest["image_id"], note


def record_metrics(db, run_id: int, models: ModelCache, judge_weights_by_backbone: dict[str, str] | None = None) -> int:
    """Compute and store a finished run's fair metrics (replacing any); returns how many rows.

    The content image is resized exactly to the output's size, the style image the way
    the run resized it; the loss dynamics come from the stored iterations."""
    run = store_runs.get_run(db, run_id)
    if run is None or run["status"] != "finished" or not run["output_image"]:
        raise ValueError(f"run {run_id} has no finished output to measure")
    cfg = TransferConfig.from_dict(run["config"])
    output = store_images.get_array(db, run["output_image"])
    style_id, against = reference_style(store_runs.get_styles(db, run_id), run["style_image"])
    content, style = fair.reference_images(
        output,
        store_images.get_array(db, run["content_image"]),
        store_images.get_array(db, style_id),
        style_size(cfg),
        get_backbone(cfg.backbone).min_size,
    )
    undefined = "undefined here: a flat image, an image under 7 px, or a zero reference (photo) distance"
    metrics = fair.fidelity_metrics(output, content, style).items()
    rows = [(m, "", v, against if v == v else undefined) for m, v in metrics]
    iters = store_runs.get_iterations(db, run_id)
    for m, v in fair.loss_dynamics(iters["step"], iters["total_loss"], run["total_loss"]).items():
        why = "no iterations logged" if iters.empty else "the loss did not fall"
        rows.append((m, "", v, "" if v == v else why))  # v != v: NaN
    known = {**_study_weights(db, run), **(judge_weights_by_backbone or {})}
    rows += _judge_rows(cfg, known, (output, content, style), models)
    # The neutral judges: the only ones verdicts use.
    rows += judges.neutral_rows((output, content, style), files=known, load=neutral_loader(models))
    store_metrics.put_metrics(db, run_id, rows)
    return len(rows)


def neutral_loader(models: ModelCache):
    """How the neutral judges get their network: built once per worker, in `models`."""

    def load(judge: NeutralJudge, path: Path) -> keras.Model:
        return models.get(("judge", judge.name, str(path)), lambda: judges.load_judge(judge, path))

    return load
