"""Studies: named grids of runs that rebuild the VGG16-vs-ResNet50 study's tables.

A preset is data: shared settings, a list of *variants* (each a label and the config
fields it sets: backbone, learning rate, layers, feature transform) and the tables its
report rebuilds. A study crosses the variants with image pairs and seeds; every
combination is a *cell*, identified by its full resolved config and image ids, so a
re-launch can tell which cells already finished. Nothing here touches the store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.backbones import get_backbone
from engine.config import TransferConfig, legacy_values, validate
from engine.errors import ConfigError


@dataclass(frozen=True)
class Variant:
    """One column (or row) of a study's tables: a label and the config fields it sets."""

    label: str
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class StudyPreset:
    """A built-in study: shared settings, variants and the tables of its report.

    Table specs are plain dicts (stored with the study, read by `store.studies`):
    `id`, `title`, `kind` (by_iteration | by_learning_rate | layer_sets | final) and
    kind-specific keys (`measure`, `variants`, `headers`, `backbone`)."""

    name: str
    description: str
    variants: tuple[Variant, ...]
    tables: tuple[dict[str, Any], ...]
    shared: Mapping[str, Any] = field(default_factory=dict)
    # "producer": verdicts pair backbones (averaging e.g. learning rates); "variant": they
    # pair the variants, for presets with several variants of one backbone.
    compare_by: str = "producer"

    @property
    def varied_fields(self) -> set[str]:
        """Config fields the variants set, which a user override must not fight."""
        return {k for v in self.variants for k in v.settings}


@dataclass(frozen=True)
class Cell:
    """One run of a study: a validated config and the two image ids."""

    config: TransferConfig
    content_image: str
    style_image: str
    variant: str

    @property
    def key(self) -> str:
        """Identity for resuming: same resolved config and images -> same cell."""
        config = self.config.to_dict()
        # Fields added after studies first shipped are left out at their `legacy` value, so a
        # study launched before they existed still finds its finished cells when re-launched.
        for name, legacy in legacy_values().items():
            if config.get(name) == legacy:
                del config[name]
        text = f"{json.dumps(config, sort_keys=True)}|{self.content_image}|{self.style_image}"
        return hashlib.sha256(text.encode()).hexdigest()


# The study's own presets pin its loss formulas, so that Tables 3-7 keep their meaning
# whatever the workbench's default convention is (set in each variant, so a user's
# override cannot change it unnoticed: `check_overrides` refuses it).
STUDY_FORMULAS = {"loss_convention": "gatys"}


LEARNING_RATES = (1.0, 10.0, 15.0, 20.0, 30.0)  # the study's Table 5 rows
VGG_STYLE = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
VGG_LAYER_SETS = (("block5_conv2", VGG_STYLE), ("block4_conv2", VGG_STYLE), ("block3_conv2", VGG_STYLE))
# Table 7's three sets; the study's "conv2_block3_outt" is a typo for conv2_block3_out.
RESNET_LAYER_SETS = (
    (
        "conv3_block4_out",
        ("conv1_relu", "conv2_block1_out", "conv3_block1_1_conv", "conv4_block1_1_conv", "conv5_block1_1_relu"),
    ),
    (
        "conv3_block4_out",
        ("conv1_relu", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"),
    ),
    (
        "conv3_block4_out",
        ("conv1_relu", "conv2_block1_1_relu", "conv3_block1_1_relu", "conv4_block1_1_relu", "conv5_block1_1_relu"),
    ),
)


def _label(backbone: str) -> str:
    return get_backbone(backbone).label


def _iteration_tables(variants: Sequence[Variant]) -> tuple[dict[str, Any], ...]:
    labels = [v.label for v in variants]
    return (
        {
            "id": "table3",
            "title": "Total loss by iteration (study Table 3, Figure 20)",
            "kind": "by_iteration",
            "measure": "total_loss",
            "variants": labels,
            "headers": [f"{label} loss" for label in labels],
        },
        {
            "id": "table4",
            "title": "Cumulative seconds by iteration (study Table 4)",
            "kind": "by_iteration",
            "measure": "elapsed_seconds",
            "variants": labels,
            "headers": labels,
        },
    )


def _backbones_preset() -> StudyPreset:
    variants = tuple(
        Variant(_label(b), {"backbone": b, "learning_rate": lr, **STUDY_FORMULAS})
        for b, lr in (("vgg16", 15.0), ("resnet50", 20.0))
    )
    return StudyPreset(
        "backbones",
        "VGG16 (lr 15) vs ResNet50 (lr 20), default layers, 1000 iterations: Tables 3 and 4, Figure 20",
        variants,
        _iteration_tables(variants),
        {"iterations": 1000},
    )


def _lr_sweep_preset() -> StudyPreset:
    variants = tuple(
        Variant(f"{_label(b)} lr {lr:g}", {"backbone": b, "learning_rate": lr, **STUDY_FORMULAS})
        for b in ("vgg16", "resnet50")
        for lr in LEARNING_RATES
    )
    table = {
        "id": "table5",
        "title": "Final total loss by learning rate (study Table 5)",
        "kind": "by_learning_rate",
        "backbones": [[b, _label(b)] for b in ("vgg16", "resnet50")],  # a list: stored JSON sorts dict keys
    }
    return StudyPreset("lr-sweep", "learning rates 1, 10, 15, 20, 30 for each backbone: Table 5", variants, (table,))


def _layer_sets_preset() -> StudyPreset:
    variants, tables = [], []
    for backbone, sets, table_id in (("vgg16", VGG_LAYER_SETS, "table6"), ("resnet50", RESNET_LAYER_SETS, "table7")):
        mine = [
            Variant(
                f"{_label(backbone)} set {i}",
                {"backbone": backbone, "content_layer": c, "style_layers": s, **STUDY_FORMULAS},
            )
            for i, (c, s) in enumerate(sets, start=1)
        ]
        variants += mine
        tables.append(
            {
                "id": table_id,
                "title": f"{_label(backbone)} layer sets and their total loss (study Table {table_id[-1]})",
                "kind": "layer_sets",
                "backbone": backbone,
                "variants": [v.label for v in mine],
                "headers": [str(i) for i in range(1, len(mine) + 1)],
            }
        )
    return StudyPreset(
        "layer-sets", "the study's three layer sets per backbone: Tables 6 and 7", tuple(variants), tuple(tables)
    )


def _defaults_preset() -> StudyPreset:
    variants = tuple(Variant(_label(b), {"backbone": b}) for b in ("vgg16", "resnet50"))
    final = {"id": "final", "title": "Final losses and time per variant", "kind": "final"}
    return StudyPreset(
        "defaults",
        "VGG16 vs ResNet50 at the workbench's defaults (portable losses): judged by the fair metrics",
        variants,
        (final,),
    )


# SWAG's released code (peiwang062/swag, resnet_swag.py): style at conv1's output and
# the last block of each stage, content at the last block of stage 3 (Keras's conv3_x is
# their layer2), smoothing on their layer3 and layer4 (Keras's conv4_x and conv5_x).
SWAG_LAYERS = {
    "content_layer": "conv3_block4_out",
    "style_layers": ("conv1_relu", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"),
    "transform_layers": ("conv4_block6_out", "conv5_block3_out"),
}


def _resnet_fix_preset() -> StudyPreset:
    swag = {"backbone": "resnet50", "feature_transform": "softmax-std"}
    variants = (
        Variant(_label("vgg16"), {"backbone": "vgg16", "feature_transform": "none"}),
        Variant(_label("resnet50"), {"backbone": "resnet50", "feature_transform": "none"}),
        Variant(f"{_label('resnet50')} + softmax-std", swag),
        Variant(f"{_label('resnet50')} SWAG layers + softmax-std", {**swag, **SWAG_LAYERS}),
    )
    final = {"id": "final", "title": "Final losses and time per variant", "kind": "final"}
    return StudyPreset(
        "resnet-fix",
        "ResNet50 with and without the SWAG softmax (T in units of each layer's std), at the default layers "
        "and at the SWAG paper's, against VGG16",
        variants,
        (final, _iteration_tables(variants)[0]),
        compare_by="variant",
    )


# Optimiser options per backbone (label suffix -> config fields); learning rates are each
# optimiser's default (Adam: the backbone's; L-BFGS: 1).
OPTIMIZER_VARIANTS = {
    "Adam": {"optimizer": "adam"},
    "L-BFGS": {"optimizer": "lbfgs"},
    "Adam, 2 scales": {"optimizer": "adam", "scales": 2},
    "L-BFGS, 2 scales": {"optimizer": "lbfgs", "scales": 2},
}


def _optimizers_preset() -> StudyPreset:
    variants = tuple(
        Variant(f"{_label(b)} {suffix}", {"backbone": b, **fields})
        for b in ("vgg16", "resnet50")
        for suffix, fields in OPTIMIZER_VARIANTS.items()
    )
    final = {"id": "final", "title": "Final losses and time per variant", "kind": "final"}
    return StudyPreset(
        "optimizers",
        "Adam vs L-BFGS, one scale vs coarse to fine, per backbone: final loss and time (compare curves by seconds)",
        variants,
        (final, _iteration_tables(variants)[1]),
    )


PRESETS: dict[str, StudyPreset] = {
    p.name: p
    for p in (
        _backbones_preset(),
        _defaults_preset(),
        _lr_sweep_preset(),
        _layer_sets_preset(),
        _resnet_fix_preset(),
        _optimizers_preset(),
    )
}


def get_preset(name: str) -> StudyPreset:
    """A preset by name, with the valid names in the error."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown study preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


def check_overrides(preset: StudyPreset, overrides: Mapping[str, Any]) -> None:
    """Refuse overrides of what the preset varies (it would silently lose to the variant)."""
    clash = sorted(set(overrides) & preset.varied_fields)
    if clash:
        flags = ", ".join(f"--{c.replace('_', '-')}" for c in clash)
        raise ConfigError(f"the {preset.name} preset sets {flags} itself; drop that flag")


def _cell_config(
    preset: StudyPreset, variant: Variant, overrides: Mapping[str, Any], seed: int, weights: Mapping[str, str]
) -> TransferConfig:
    settings = {**preset.shared, **overrides, **variant.settings, "seed": seed}
    backbone = settings.get("backbone", TransferConfig.backbone)
    if backbone in weights:
        settings["weights"] = weights[backbone]
    return validate(TransferConfig(**settings))


def build_cells(
    preset: StudyPreset,
    overrides: Mapping[str, Any],
    seeds: Sequence[int],
    pairs: Sequence[tuple[str, str]],
    weights_by_backbone: Mapping[str, str] | None = None,
) -> list[Cell]:
    """Every cell of the study: variants x image pairs (content id, style id) x seeds,
    each config validated. `weights_by_backbone` beats a shared `weights` override."""
    check_overrides(preset, overrides)
    if not seeds or not pairs:
        raise ConfigError("a study needs at least one seed and one content/style pair")
    weights = dict(weights_by_backbone or {})
    return [
        Cell(_cell_config(preset, v, overrides, seed, weights), content, style, v.label)
        for v in preset.variants
        for content, style in pairs
        for seed in seeds
    ]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def study_spec(
    preset: StudyPreset,
    overrides: Mapping[str, Any],
    seeds: Sequence[int],
    content_images: Sequence[str],
    style_images: Sequence[str],
    weights_by_backbone: Mapping[str, str] | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The stored description of a study: enough to rebuild its cells and its tables.

    `pairs` (explicit photo/painting pairs instead of every content with every style) are
    stored only when given, so a cross-product study keeps the spec, and the identity,
    it had before pairs existed."""
    spec = {
        "preset": preset.name,
        "description": preset.description,
        "shared": {**preset.shared, **overrides},
        "variants": [{"label": v.label, "settings": dict(v.settings)} for v in preset.variants],
        "seeds": list(seeds),
        "content_images": list(content_images),
        "style_images": list(style_images),
        "weights_by_backbone": dict(weights_by_backbone or {}),
        "tables": list(preset.tables),
    }
    if pairs is not None:
        spec["pairs"] = [list(p) for p in pairs]
    if preset.compare_by != "producer":  # stored only when set: older specs keep their identity
        spec["compare_by"] = preset.compare_by
    return _jsonable(spec)


def spec_pairs(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (content id, style id) pairs of a stored spec: its explicit pairs, else the cross product."""
    if spec.get("pairs") is not None:
        return [(c, s) for c, s in spec["pairs"]]
    return image_pairs(spec["content_images"], spec["style_images"])


def spec_key(name: str, spec: Mapping[str, Any]) -> str:
    """Identity of a study: the same name and spec re-launched resume the same study."""
    return hashlib.sha256(json.dumps({"name": name, "spec": spec}, sort_keys=True).encode()).hexdigest()


def image_pairs(
    content_images: Sequence[str], style_images: Sequence[str], paired: bool = False
) -> list[tuple[str, str]]:
    """Every content image with every style image, in the order given; or, `paired`, the
    i-th content with the i-th style (`--pair PHOTO:PAINTING`). Each pair once."""
    if paired:
        if len(content_images) != len(style_images):
            raise ConfigError("paired images need as many content as style images")
        return list(dict.fromkeys(zip(content_images, style_images, strict=True)))
    return list(dict.fromkeys((c, s) for c in content_images for s in style_images))


def study_weights(
    preset: StudyPreset, overrides: Mapping[str, Any], weights_by_backbone: Mapping[str, str] | None = None
) -> set[tuple[str, str]]:
    """The (backbone, weights) pairs a study's cells will load, to check them up front."""
    known = dict(weights_by_backbone or {})
    default_backbone = overrides.get("backbone", TransferConfig.backbone)
    default_weights = overrides.get("weights", TransferConfig.weights)
    backbones = {v.settings.get("backbone", default_backbone) for v in preset.variants}
    return {(b, known.get(b, default_weights)) for b in backbones}
