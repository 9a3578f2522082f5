"""The run configuration: one frozen dataclass whose fields drive the CLI flags, the
dashboard widgets and the stored run row.

Fields left at `None` mean "the backbone's default"; `resolve()` fills them in, so the
stored config always says exactly what ran.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from engine.backbones import BACKBONES, Backbone, LossDefaults, check_layer, get_backbone
from engine.losses import CONVENTIONS
from engine.optimizers import OPTIMIZERS, OptimizerSpec

# Caps that keep a typo from tying up a machine for days (documented in README).
MAX_ITERATIONS = 100_000
MAX_SIZE = 4096
MAX_SCALES = 6
MAX_STEPS_PER_CALL = 1000
INITS = ("content", "noise", "style")
# SWAG (Wang, Li & Vasconcelos, CVPR 2021), see `engine.losses.softmax_features`:
# "softmax" with T as given (the paper's), "softmax-std" with T in units of each layer's
# activation std (`engine.transfer.temperature_for`: portable to Keras's 0-255 inputs).
# The released code's later variant, activations times a small constant, is not offered:
# under the portable convention a constant factor cancels exactly, and under the gatys
# one it is the same as a layer weight of factor^4 (use --style-layer-weights).
FEATURE_TRANSFORMS = ("none", "softmax", "softmax-std")

# Runs stored before `loss_convention` existed used the study's Gatys formulas with the
# size bias (`engine.losses` explains it); their config lacks the key and reads as this.
LEGACY_CONVENTION = "gatys"


def _opt(help_text: str, **extra: Any) -> Any:
    """A config field: `help` feeds CLI --help and dashboard tooltips."""
    default = extra.pop("default", None)
    return field(default=default, metadata={"help": help_text, **extra})


@dataclass(frozen=True)
class TransferConfig:
    """Everything that determines a style-transfer run (besides the two images)."""

    backbone: str = _opt("feature network", default="vgg16", choices=tuple(BACKBONES))
    content_layer: str | None = _opt("content layer (default: the backbone's)")
    style_layers: tuple[str, ...] | None = _opt("style layers, comma-separated")
    style_layer_weights: tuple[float, ...] | None = _opt("per-style-layer weights, comma-separated (default: equal)")
    learning_rate: float | None = _opt("step size (default: per backbone for Adam, 1 for L-BFGS)")
    iterations: int = _opt("optimisation steps in all (each one loss-and-gradient evaluation)", default=1000)
    size: int = _opt("longest image side in pixels", default=512)
    loss_convention: str = _opt(
        "how losses are normalised: portable (relative errors; one alpha/beta for any size and backbone) | "
        "gatys (the study's sums)",
        default="portable",
        choices=tuple(CONVENTIONS),
    )
    content_weight: float | None = _opt("alpha, content loss weight (default: per backbone and convention)")
    style_weight: float | None = _opt("beta, style loss weight (default: per backbone and convention)")
    tv_weight: float | None = _opt("total-variation weight (default: per backbone and convention)")
    init: str = _opt("starting image", default="content", choices=INITS)
    seed: int = _opt("random seed (noise init, random weights)", default=0)
    snapshot_every: int = _opt("store the image every K steps (0: only the final)", default=100)
    keep_best: bool = _opt("output the lowest-loss image of the last scale instead of the last one", default=False)
    weights: str = _opt("imagenet | none | path to a .h5 weights file", default="imagenet")
    feature_transform: str = _opt(
        "transform features before the Gram/content losses (SWAG, for ResNet50): none | softmax (T absolute) | "
        "softmax-std (T in units of each layer's activation std). Measured on 4 dev pairs at the defaults it did "
        "not improve ResNet50's texture or colour distance and lowered SSIM (README 'The ResNet fix')",
        default="none",
        choices=FEATURE_TRANSFORMS,
    )
    transform_layers: tuple[str, ...] | None = _opt(
        "layers the feature transform applies to, comma-separated (default: ResNet50's chosen conv3_x/conv4_x layers)"
    )
    transform_temperature: float = _opt(
        "softmax temperature: softmax(F / T) with T as given (softmax; the paper's 1 saturates on Keras's 0-255 "
        "inputs) or T = this x the layer's std (softmax-std)",
        default=1.0,
    )
    # Speed: how the optimisation is run. Stored with the run like every other field.
    optimizer: str = _opt("adam | lbfgs", default="adam", choices=tuple(OPTIMIZERS), group="speed")
    scales: int = _opt(
        "coarse-to-fine scales, each half the next: 3 at 512 px = 128, 256, 512", default=1, group="speed"
    )
    coarse_iterations: int | None = _opt(
        "steps at each scale below the full size, out of iterations (default: an equal share)", group="speed"
    )
    steps_per_call: int = _opt("steps run inside one compiled call (fewer host round trips)", default=1, group="speed")
    jit_compile: bool = _opt("compile the steps with XLA", default=False, group="speed")

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
        A stored config from before `loss_convention` reads as `LEGACY_CONVENTION`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(sorted(unknown))}")
        data = {"loss_convention": LEGACY_CONVENTION, **data}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


class ConfigError(ValueError):
    """A configuration value is out of range or inconsistent."""


def optimizer_spec(name: str) -> OptimizerSpec:
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


def _finite_positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")


def _finite_non_negative(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")


def validate(config: TransferConfig) -> TransferConfig:
    """Resolve and check a config before any work; returns the resolved config.

    Raises `ConfigError`, `UnknownBackboneError` or `UnknownLayerError` with one clear line.
    """
    cfg = config.resolve()
    _finite_positive("learning rate", cfg.learning_rate)
    if not 1 <= cfg.iterations <= MAX_ITERATIONS:
        raise ConfigError(f"iterations must be between 1 and {MAX_ITERATIONS}, got {cfg.iterations}")
    if not 1 <= cfg.size <= MAX_SIZE:
        raise ConfigError(f"size must be between 1 and {MAX_SIZE} px, got {cfg.size}")
    for name in ("content_weight", "style_weight", "tv_weight"):
        _finite_non_negative(name.replace("_", " "), getattr(cfg, name))
    if cfg.init not in INITS:
        raise ConfigError(f"init must be one of {', '.join(INITS)}, got {cfg.init!r}")
    if not isinstance(cfg.keep_best, bool):
        raise ConfigError(f"keep best must be true or false, got {cfg.keep_best!r}")
    if cfg.snapshot_every < 0:
        raise ConfigError(f"snapshot every must be >= 0, got {cfg.snapshot_every}")
    _check_layers(cfg)
    _check_transform(cfg)
    _check_speed(cfg)
    return cfg


def _check_speed(cfg: TransferConfig) -> None:
    optimizer_spec(cfg.optimizer)
    if not 1 <= cfg.steps_per_call <= MAX_STEPS_PER_CALL:
        raise ConfigError(f"steps per call must be between 1 and {MAX_STEPS_PER_CALL}, got {cfg.steps_per_call}")
    if not isinstance(cfg.jit_compile, bool):
        raise ConfigError(f"jit compile must be true or false, got {cfg.jit_compile!r}")
    _check_scales(cfg)


def _check_scales(cfg: TransferConfig) -> None:
    if not 1 <= cfg.scales <= MAX_SCALES:
        raise ConfigError(f"scales must be between 1 and {MAX_SCALES}, got {cfg.scales}")
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
    _finite_positive("transform temperature", cfg.transform_temperature)
    if cfg.feature_transform not in FEATURE_TRANSFORMS:
        raise ConfigError(
            f"feature transform must be one of {', '.join(FEATURE_TRANSFORMS)}, got {cfg.feature_transform!r}"
        )
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
    for w in cfg.style_layer_weights:
        _finite_non_negative("style layer weight", w)
    for layer in (cfg.content_layer, *cfg.style_layers):
        check_layer(cfg.backbone, layer)
