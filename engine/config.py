"""The run configuration: one frozen dataclass, the one schema of a run.

Each field's metadata says everything the rest of the tree needs to know about it: its
help text and label, its choices or numeric limits, the widget group it sits in, its
per-backbone default, the value runs stored before it existed had, and whether Compare
shows it. The CLI flags, the dashboard widgets, the `runs` columns (a test holds the two
together), the Compare labels and the study cell keys are all derived from it.

Fields left at `None` mean "the backbone's default"; `resolve()` fills them in, so the
stored config always says exactly what ran.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import MISSING, dataclass, field
from typing import Any

from engine.backbones import BACKBONES, Backbone, LossDefaults, check_layer, get_backbone
from engine.catalog import CONVENTIONS, OPTIMIZERS, PRECISIONS, OptimizerInfo
from engine.colors import COLOR_MODES
from engine.errors import ConfigError
from engine.weights import KINDS, check_weights_path

# Caps that keep a typo from tying up a machine for days (documented in README).
MAX_ITERATIONS = 100_000
MAX_SIZE = 4096
MAX_SCALES = 6
MAX_STEPS_PER_CALL = 1000
# The store keeps integers in 32-bit columns; a seed is drawn from [0, 2^31).
MAX_SEED = 2**31 - 1
INITS = ("content", "noise", "style")
# SWAG (Wang, Li & Vasconcelos, CVPR 2021), see `engine.losses.softmax_features`:
# "softmax" with T as given (the paper's), "softmax-std" with T in units of each layer's
# activation std (`engine.transfer.temperature_for`: portable to Keras's 0-255 inputs).
# The released code's later variant, activations times a small constant, is not offered:
# under the portable convention a constant factor cancels exactly, and under the gatys
# one it is the same as a layer weight of factor^4 (use --style-layer-weights).
FEATURE_TRANSFORMS = ("none", "softmax", "softmax-std")


@dataclass(frozen=True)
class Limits:
    """A numeric field's range: `low` <= value (< when `strict`) <= `high`; `step` is the
    widgets' increment. For a tuple field the limits apply to each item."""

    low: float
    high: float | None = None
    step: float | None = None
    strict: bool = False

    def check(self, label: str, value: Any) -> None:
        """`ConfigError` in one line when `value` is not a number in range."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"{label} must be a finite number, got {value!r}")
        below = value <= self.low if self.strict else value < self.low
        if below or (self.high is not None and value > self.high):
            raise ConfigError(f"{label} must be {self.describe()}, got {value!r}")

    def describe(self) -> str:
        """'between 1 and 4096', '> 0', '>= 0'."""
        if self.high is not None:
            return f"between {_number(self.low)} and {_number(self.high)}"
        return f"{'>' if self.strict else '>='} {_number(self.low)}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# `per_backbone` values: the field resets to the backbone's resolved default when the
# backbone changes ("resolved"), or to unset ("unset": left to `resolve`, e.g. equal
# style-layer weights, which must follow the number of style layers).
PER_BACKBONE_KINDS = ("resolved", "unset")


def _opt(
    help_text: str,
    default: Any = None,
    *,
    label: str | None = None,
    choices: tuple[str, ...] | None = None,
    limits: Limits | None = None,
    group: str | None = None,
    per_backbone: str | None = None,
    legacy: Any = MISSING,
    compare: bool = True,
    aliases: tuple[str, ...] = (),
) -> Any:
    """A config field and its metadata (see the module docstring).

    `legacy`: the value every run stored before the field existed had (configs that lack
    the key read as it, and a study cell's key leaves the field out at it, so studies
    launched before the field existed still find their cells); it must equal the column
    default of the migration that added the field (a test checks). `compare`: whether
    Compare labels runs by it. `aliases`: extra CLI flags."""
    meta = {"help": help_text, "label": label, "choices": choices, "limits": limits, "group": group}
    meta |= {"per_backbone": per_backbone, "compare": compare, "aliases": aliases}
    if legacy is not MISSING:
        meta["legacy"] = legacy
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TransferConfig:
    """Everything that determines a style-transfer run (besides the two images)."""

    backbone: str = _opt("feature network", default="vgg16", choices=tuple(BACKBONES))
    content_layer: str | None = _opt("content layer (default: the backbone's)", per_backbone="resolved")
    style_layers: tuple[str, ...] | None = _opt("style layers, comma-separated", per_backbone="resolved")
    style_layer_weights: tuple[float, ...] | None = _opt(
        "per-style-layer weights, comma-separated (default: equal)", limits=Limits(0), per_backbone="unset"
    )
    learning_rate: float | None = _opt(
        "step size (default: per backbone for Adam, 1 for L-BFGS)",
        limits=Limits(0, step=1.0, strict=True),
        per_backbone="resolved",
        aliases=("--lr",),
    )
    iterations: int = _opt(
        "optimisation steps in all (each one loss-and-gradient evaluation)",
        default=1000,
        limits=Limits(1, MAX_ITERATIONS),
    )
    size: int = _opt(
        "longest image side in pixels",
        default=512,
        label="Size (longest side, px)",
        limits=Limits(min(bb.min_size for bb in BACKBONES.values()), MAX_SIZE),
    )
    loss_convention: str = _opt(
        "how losses are normalised: portable (relative errors; one alpha/beta for any size and backbone) | "
        "gatys (the study's sums)",
        default="portable",
        choices=tuple(CONVENTIONS),
        # Runs stored before it used the study's Gatys formulas (`engine.losses` explains the
        # size bias they had).
        legacy="gatys",
    )
    content_weight: float | None = _opt(
        "alpha, content loss weight (default: per backbone and convention)",
        limits=Limits(0, step=0.1),
        per_backbone="resolved",
    )
    style_weight: float | None = _opt(
        "beta, style loss weight (default: per backbone and convention)", limits=Limits(0), per_backbone="resolved"
    )
    tv_weight: float | None = _opt(
        "total-variation weight (default: per backbone and convention)",
        label="TV weight",
        limits=Limits(0, step=0.1),
        per_backbone="resolved",
    )
    style_blend_weights: tuple[float, ...] | None = _opt(
        "weights of the style images in the blended style target, comma-separated, one per style image "
        "(default: equal)",
        limits=Limits(0),
        legacy=None,  # one painting, as every run before blending had
    )
    style_scale: float = _opt(
        "the style image's size relative to the output's (0.5: smaller brush strokes, 2: larger)",
        default=1.0,
        limits=Limits(0.5, 2.0, step=0.1),
        legacy=1.0,
    )
    init: str = _opt("starting image", default="content", choices=INITS)
    preserve_colors: str = _opt(
        "keep the photo's colours: none | luminance (style transferred on luminance only, the photo's "
        "chrominance kept) | histogram (the painting recoloured to the photo's colour mean and covariance first)",
        default="none",
        label="Keep the photo's colours",
        choices=tuple(COLOR_MODES),
        legacy="none",
    )
    seed: int = _opt("random seed (noise init, random weights)", default=0, limits=Limits(0, MAX_SEED))
    snapshot_every: int = _opt(
        "store the image every K steps (0: only the final)",
        default=100,
        label="Snapshot every K steps",
        limits=Limits(0, MAX_ITERATIONS),
        compare=False,  # changes what is stored, not the output
    )
    keep_best: bool = _opt(
        "output the lowest-loss image of the last scale instead of the last one", default=False, legacy=False
    )
    weights: str = _opt("imagenet | none | path to a .h5 weights file", default="imagenet")
    feature_transform: str = _opt(
        "transform features before the Gram/content losses (SWAG, for ResNet50): none | softmax (T absolute) | "
        "softmax-std (T in units of each layer's activation std). Measured on 4 dev pairs at the defaults it did "
        "not improve ResNet50's texture or colour distance and lowered SSIM (README 'The ResNet fix')",
        default="none",
        choices=FEATURE_TRANSFORMS,
    )
    transform_layers: tuple[str, ...] | None = _opt(
        "layers the feature transform applies to, comma-separated (default: ResNet50's chosen conv3_x/conv4_x layers)",
        per_backbone="unset",
    )
    transform_temperature: float = _opt(
        "softmax temperature: softmax(F / T) with T as given (softmax; the paper's 1 saturates on Keras's 0-255 "
        "inputs) or T = this x the layer's std (softmax-std)",
        default=1.0,
        limits=Limits(0, strict=True),
    )
    # Speed: how the optimisation is run. Stored with the run like every other field.
    optimizer: str = _opt(
        "; ".join(f"{o.name}: {o.description}" for o in OPTIMIZERS.values()),
        default="adam",
        choices=tuple(OPTIMIZERS),
        group="speed",
        legacy="adam",
    )
    scales: int = _opt(
        "coarse-to-fine scales, each half the next: 3 at 512 px = 128, 256, 512",
        default=1,
        limits=Limits(1, MAX_SCALES),
        group="speed",
        legacy=1,
    )
    coarse_iterations: int | None = _opt(
        "steps at each scale below the full size, out of iterations (default: an equal share)",
        limits=Limits(0, MAX_ITERATIONS),
        group="speed",
        legacy=0,
    )
    steps_per_call: int = _opt(
        "steps run inside one compiled call (fewer host round trips)",
        default=1,
        limits=Limits(1, MAX_STEPS_PER_CALL),
        group="speed",
        legacy=1,
    )
    jit_compile: bool = _opt(
        "compile the steps with XLA", default=False, label="XLA (jit_compile)", group="speed", legacy=False
    )
    precision: str = _opt(
        "; ".join(f"{p.name}: {p.description}" for p in PRECISIONS.values()),
        default="float32",
        choices=tuple(PRECISIONS),
        group="speed",
        legacy="float32",
    )
    max_tile_px: int = _opt(
        "optimise scales larger than this many px (longest side) in overlapping tiles, to bound memory (0: never tile)",
        default=0,
        label="Max tile (px, 0: no tiling)",
        limits=Limits(0, MAX_SIZE),
        group="speed",
        legacy=0,
    )

    def resolve(self) -> TransferConfig:
        """Fill backbone defaults into the `None` fields; validates the backbone name."""
        bb = get_backbone(self.backbone)
        defaults = loss_defaults(bb, self.loss_convention)
        content_layer = self.content_layer or bb.content_layer
        style_layers = tuple(self.style_layers or bb.style_layers)
        return dataclasses.replace(
            self,
            content_layer=content_layer,
            style_layers=style_layers,
            style_layer_weights=tuple(self.style_layer_weights)
            if self.style_layer_weights
            else (1.0,) * len(self.style_layers or bb.style_layers),
            learning_rate=_or(self.learning_rate, default_learning_rate(bb, self.optimizer, self.loss_convention)),
            coarse_iterations=_or(self.coarse_iterations, self.iterations // self.scales if self.scales > 1 else 0),
            content_weight=_or(self.content_weight, defaults.content_weight),
            style_weight=_or(self.style_weight, defaults.style_weight),
            tv_weight=_or(self.tv_weight, defaults.tv_weight),
            transform_layers=self._transform_layers(bb.transform_stages, (content_layer, *style_layers)),
        )

    def _transform_layers(self, stages: tuple[str, ...], chosen: tuple[str, ...]) -> tuple[str, ...]:
        """The layers the feature transform touches, always explicit once resolved: none
        without a transform, else the given ones or the chosen layers in `stages`."""
        if self.feature_transform == "none":
            return tuple(self.transform_layers or ())  # validate() rejects a non-empty list here
        if self.transform_layers:
            return tuple(self.transform_layers)
        return tuple(layer for layer in dict.fromkeys(chosen) if layer.startswith(stages))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransferConfig:
        """Inverse of `to_dict`; unknown keys are rejected so typos do not pass silently.
        A key missing from an old config reads as the field's `legacy` value."""
        unknown = set(data) - set(FIELDS)
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(sorted(unknown))}")
        data = {**legacy_values(), **{k: v for k, v in data.items() if v is not None}}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(TransferConfig)}
BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def legacy_values() -> dict[str, Any]:
    """{field: value} for the fields added after the first runs were stored."""
    return {name: f.metadata["legacy"] for name, f in FIELDS.items() if "legacy" in f.metadata}


def label(name: str) -> str:
    """How forms and tables name a field: its `label`, else 'Learning rate' from the name."""
    return FIELDS[name].metadata["label"] or _words(name).capitalize()


def compared_fields() -> tuple[str, ...]:
    """The fields Compare labels runs by (all but those marked `compare=False`)."""
    return tuple(name for name, f in FIELDS.items() if f.metadata["compare"])


def per_backbone_fields() -> dict[str, str]:
    """{field: "resolved" | "unset"} for the fields whose default depends on the backbone."""
    return {name: f.metadata["per_backbone"] for name, f in FIELDS.items() if f.metadata["per_backbone"]}


# The fields' resolved annotations, read once (`get_type_hints` evaluates every string
# annotation of the class each time it is called).
_HINTS: dict[str, Any] = typing.get_type_hints(TransferConfig)


def _unwrapped(name: str) -> Any:
    hint = _HINTS[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint  # `X | None` -> X


def field_type(name: str) -> type:
    """The value type of a field (`tuple` for list-valued fields)."""
    kind = _unwrapped(name)
    return tuple if typing.get_origin(kind) is tuple else kind


def item_type(name: str) -> type:
    """The type of one value of a field: the item type of a tuple field, else its type."""
    kind = _unwrapped(name)
    return typing.get_args(kind)[0] if typing.get_origin(kind) is tuple else kind


def _parse_scalar(kind: type, text: Any, flag: str) -> Any:
    if kind is bool:
        if isinstance(text, bool):  # from a --flag / --no-flag switch
            return text
        if str(text).strip().lower() not in BOOLEANS:
            raise ConfigError(f"{flag} expects true or false, got {text!r}")
        return BOOLEANS[str(text).strip().lower()]
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"{flag} expects {'a number' if kind is not str else 'text'}, got {text!r}") from None


def parse_field(name: str, text: Any) -> Any:
    """A field's value from text (a CLI flag, a form box); tuples are comma lists."""
    flag = f"--{name.replace('_', '-')}"
    if field_type(name) is tuple:
        return tuple(
            _parse_scalar(item_type(name), part.strip(), flag) for part in str(text).split(",") if part.strip()
        )
    return _parse_scalar(item_type(name), text, flag)


def backbone_defaults(backbone: str, optimizer: str = "adam", convention: str = "portable") -> dict[str, Any]:
    """The per-backbone fields as a form resets them when the backbone changes: the
    resolved default, or None where `resolve` must decide (see `per_backbone`)."""
    values = TransferConfig(backbone=backbone, optimizer=optimizer, loss_convention=convention).resolve().to_dict()
    return {name: values[name] if kind == "resolved" else None for name, kind in per_backbone_fields().items()}


def optimizer_spec(name: str) -> OptimizerInfo:
    """The optimiser called `name`; `ConfigError` naming the choices otherwise."""
    try:
        return OPTIMIZERS[name]
    except KeyError:
        raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}") from None


def formulas(cfg: TransferConfig) -> str:
    """The loss formulas a run uses, as stored in `runs.gram_convention`."""
    return CONVENTIONS[cfg.loss_convention].summary


def loss_defaults(backbone: Backbone, convention: str) -> LossDefaults:
    """The backbone's tuned defaults under `convention`; `ConfigError` names the choices."""
    if convention not in CONVENTIONS:
        raise ConfigError(f"loss convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    return backbone.defaults[convention]


def default_learning_rate(backbone: Backbone, optimizer: str, convention: str = "portable") -> float:
    """Adam's rate is tuned per backbone and convention; L-BFGS takes its own
    quasi-Newton step (1)."""
    rate = optimizer_spec(optimizer).default_learning_rate
    return loss_defaults(backbone, convention).learning_rate if rate is None else rate


def scale_sizes(cfg: TransferConfig) -> list[int]:
    """Longest side at each scale, coarse to fine: size / 2^(scales-1), ..., size."""
    return [round(cfg.size / 2**k) for k in reversed(range(cfg.scales))]


def scale_plan(cfg: TransferConfig) -> list[tuple[int, int]]:
    """(longest side, steps) per scale of a resolved config; the steps add up to
    `iterations`, the full size taking what the coarser scales leave."""
    sizes = scale_sizes(cfg)
    coarse = [(s, cfg.coarse_iterations) for s in sizes[:-1]]
    return [*coarse, (sizes[-1], cfg.iterations - cfg.coarse_iterations * len(coarse))]


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _words(name: str) -> str:
    """How an error message names a field: 'jit compile' (the flag is --jit-compile)."""
    return name.replace("_", " ")


def check_limits(cfg: TransferConfig) -> None:
    """Every field with `limits`: each value a finite number in range (ints whole);
    `ConfigError` names the first that is not."""
    for name, f in FIELDS.items():
        limits: Limits | None = f.metadata["limits"]
        value = getattr(cfg, name)
        if limits is None or value is None:
            continue
        for item in value if isinstance(value, tuple) else (value,):
            if item_type(name) is int and not (isinstance(item, int) and not isinstance(item, bool)):
                raise ConfigError(f"{_words(name)} must be a whole number, got {item!r}")
            limits.check(_words(name), item)


def check_choices(cfg: TransferConfig) -> None:
    """Every field with `choices` holds one of them; yes/no fields hold a bool."""
    for name, f in FIELDS.items():
        value, choices = getattr(cfg, name), f.metadata["choices"]
        if choices and value not in choices:
            raise ConfigError(f"{_words(name)} must be one of {', '.join(choices)}, got {value!r}")
        if item_type(name) is bool and not isinstance(value, bool):
            raise ConfigError(f"{_words(name)} must be true or false, got {value!r}")


def validate(config: TransferConfig) -> TransferConfig:
    """Resolve and check a config before any work; returns the resolved config.

    Raises `ConfigError` (or its `UnknownBackboneError` / `UnknownLayerError`) or
    `WeightsError` with one clear line."""
    get_backbone(config.backbone)  # the one choice `resolve` needs first
    _check_not_blank(config)
    if config.weights not in KINDS:
        check_weights_path(config.weights)  # a cheap look at the file; loading it needs Keras
    cfg = config.resolve()
    check_choices(cfg)
    check_limits(cfg)
    _check_layers(cfg)
    _check_transform(cfg)
    _check_scales(cfg)
    _check_tiles(cfg)
    return cfg


def _check_tiles(cfg: TransferConfig) -> None:
    """A tile must be at least the backbone's minimum side; a tiled scale runs Adam
    (L-BFGS's history is 20 copies of the image per tile) and outputs its last image (the
    best one is tracked per image, not per tile)."""
    if not cfg.max_tile_px:
        return
    floor = get_backbone(cfg.backbone).min_size
    if cfg.max_tile_px < floor:
        raise ConfigError(f"max tile px {cfg.max_tile_px} is below {cfg.backbone}'s {floor} px minimum")
    if cfg.size <= cfg.max_tile_px:
        return  # nothing is tiled
    if cfg.optimizer != "adam":
        raise ConfigError(f"tiling (size {cfg.size} > max tile px {cfg.max_tile_px}) runs with --optimizer adam")
    if cfg.keep_best:
        raise ConfigError("keep best is not available with tiling: a tiled scale outputs its last image")


def _check_not_blank(config: TransferConfig) -> None:
    """A layer field given empty ('' or no names) is refused: it must not silently mean
    "the backbone's default" (leave it unset for that). `transform_layers` is empty in
    every resolved config without a feature transform, so it is not checked here."""
    for name in ("content_layer", "style_layers", "style_layer_weights"):
        value = getattr(config, name)
        if value is not None and not (value.strip() if isinstance(value, str) else value):
            raise ConfigError(f"{_words(name)} is empty: name at least one, or leave it unset for the default")


def _check_scales(cfg: TransferConfig) -> None:
    smallest, floor = scale_sizes(cfg)[0], get_backbone(cfg.backbone).min_size
    if smallest < floor:
        raise ConfigError(
            f"{cfg.scales} scales at {cfg.size} px would start at {smallest} px, "
            f"below {cfg.backbone}'s {floor} px minimum"
        )
    if cfg.scales == 1:
        if cfg.coarse_iterations:
            raise ConfigError("coarse iterations apply only with scales > 1")
        return
    coarse = cfg.coarse_iterations * (cfg.scales - 1)
    if cfg.coarse_iterations < 1 or coarse >= cfg.iterations:
        raise ConfigError(
            f"coarse iterations must be >= 1 and leave steps for the full size: "
            f"{cfg.scales - 1} x {cfg.coarse_iterations} of {cfg.iterations} iterations"
        )


def _check_transform(cfg: TransferConfig) -> None:
    if cfg.feature_transform == "none" and cfg.transform_layers:
        raise ConfigError(
            "transform layers given but the feature transform is none; add --feature-transform softmax-std"
        )
    if cfg.feature_transform != "none" and not cfg.transform_layers:
        raise ConfigError(f"the {cfg.feature_transform} transform applies to none of the chosen layers; name them")
    chosen = {cfg.content_layer, *cfg.style_layers}
    stray = [layer for layer in cfg.transform_layers if layer not in chosen]
    if stray:
        raise ConfigError(f"transform layers must be content or style layers of the run: {', '.join(stray)}")


def _check_layers(cfg: TransferConfig) -> None:
    if len(set(cfg.style_layers)) != len(cfg.style_layers):
        raise ConfigError(f"style layers repeat a name: {', '.join(cfg.style_layers)}")
    if len(cfg.style_layer_weights) != len(cfg.style_layers):
        raise ConfigError(
            f"{len(cfg.style_layer_weights)} style layer weights given for {len(cfg.style_layers)} style layers"
        )
    for layer in (cfg.content_layer, *cfg.style_layers):
        check_layer(cfg.backbone, layer)
