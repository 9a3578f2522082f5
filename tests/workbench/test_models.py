"""Networks kept per worker: built once, the least recently used dropped, and a failed
load remembered instead of retried (an offline download would wait every time)."""

import pytest

from engine.errors import WeightsError
from workbench.models import ModelCache, backbone_key


def test_a_network_is_built_once_and_the_oldest_dropped():
    cache, builds = ModelCache(size=2), []

    def build(name):
        return lambda: builds.append(name) or name

    assert cache.get("a", build("a")) == cache.get("a", build("a")) == "a"
    cache.get("b", build("b"))
    cache.get("a", build("a"))  # a is now the most recent
    cache.get("c", build("c"))  # drops b
    cache.get("b", build("b"))
    assert builds == ["a", "b", "c", "b"]


def test_a_failed_load_is_remembered_with_its_message():
    cache, tries = ModelCache(), []

    def fail():
        tries.append(1)
        raise WeightsError("cannot load ImageNet weights for vgg16: offline")

    for _ in range(3):
        with pytest.raises(WeightsError, match="offline"):
            cache.get("x", fail)
    assert len(tries) == 1


def test_the_seed_is_part_of_the_key_only_for_random_weights():
    assert backbone_key("vgg16", "none", 1) != backbone_key("vgg16", "none", 2)
    assert backbone_key("vgg16", "imagenet", 1) == backbone_key("vgg16", "imagenet", 2)
