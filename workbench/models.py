"""Built networks kept for the life of one worker (or one CLI command), so a study's
runs and every judge of their outputs build each network once.

One `ModelCache` per process that needs it, passed to whoever builds: no module-level
cache that tests or processes could trip over.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

from engine.backbones import get_backbone
from engine.errors import WeightsError
from engine.weights import is_random, load_backbone

if TYPE_CHECKING:  # Keras is loaded by the first build: a command refused on bad input never loads it
    import keras


class ModelCache:
    """Networks by key, the least recently used dropped beyond `size`. A build that
    failed with `WeightsError` is remembered and re-raised without trying again (an
    offline ImageNet download would otherwise wait for its timeout on every run)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._models: OrderedDict[Hashable, keras.Model] = OrderedDict()
        self._failures: dict[Hashable, str] = {}

    def get(self, key: Hashable, build: Callable[[], keras.Model]) -> keras.Model:
        """The network under `key`, built with `build()` on first use."""
        if key in self._failures:
            raise WeightsError(self._failures[key])
        if key not in self._models:
            try:
                self.put(key, build())
            except WeightsError as exc:
                self._failures[key] = str(exc)
                raise
        self._models.move_to_end(key)
        return self._models[key]

    def put(self, key: Hashable, model: keras.Model) -> None:
        """Add a built network (tests share theirs this way)."""
        self._models[key] = model
        self._models.move_to_end(key)
        while len(self._models) > self.size:
            self._models.popitem(last=False)

    def backbone(self, name: str, weights: str, seed: int) -> keras.Model:
        """A producing backbone with its weights; random weights are drawn from `seed`,
        so a `weights=none` run is repeatable in any process (the seed is part of the key
        only then)."""

        def build() -> keras.Model:
            import keras

            keras.utils.set_random_seed(seed)
            return load_backbone(get_backbone(name), weights)

        return self.get(backbone_key(name, weights, seed), build)


def backbone_key(name: str, weights: str, seed: int) -> tuple:
    """The cache key of a producing backbone (see `ModelCache.backbone`)."""
    return ("backbone", name, weights, seed if is_random(weights) else None)
