"""The memory estimate said before a run, and the refusal when it cannot fit."""

import pytest

from engine.config import TransferConfig, validate
from engine.errors import MemoryBudgetError
from engine.memory import GIB, MEMORY, check_fits, estimate, largest_tile


def _cfg(**kw):
    return validate(TransferConfig(weights="none", **kw))


def test_tiling_bounds_the_estimate_by_the_tile():
    whole = estimate(_cfg(backbone="resnet50", size=4096), (3000, 4000))
    tiled = estimate(_cfg(backbone="resnet50", size=4096, max_tile_px=1024), (3000, 4000))
    assert tiled.peak < whole.peak / 5 and tiled.tile == 1024 and tiled.tiles > 1
    assert "tiles of 1024 px" in tiled.describe() and whole.tile == 0


def test_the_estimate_grows_with_pixels_from_the_measured_base():
    small, large = (estimate(_cfg(size=s), (s, s)) for s in (256, 512))
    assert large.peak - small.peak == pytest.approx(MEMORY["vgg16"].per_pixel * (512**2 - 256**2), rel=0.05)
    assert small.peak > MEMORY["vgg16"].base


def test_a_run_that_does_not_fit_is_refused_with_a_tile_that_would():
    cfg = _cfg(backbone="resnet50", size=4096)
    with pytest.raises(MemoryBudgetError, match=r"try --max-tile-px \d+") as err:
        check_fits(cfg, (4096, 4096), available=8 * GIB)
    tile = int(str(err.value).rsplit(" ", 1)[1])
    tiled = validate(TransferConfig(weights="none", backbone="resnet50", size=4096, max_tile_px=tile))
    assert check_fits(tiled, (4096, 4096), available=8 * GIB).peak <= 8 * GIB


def test_nothing_fits_in_too_little_memory():
    with pytest.raises(MemoryBudgetError, match="free memory first"):
        check_fits(_cfg(), (512, 512), available=100 * 1024**2)
    assert largest_tile(_cfg(), (512, 512), 100 * 1024**2) == 0
