"""Mixed precision (`engine.precision`): a float16 backbone that hands float32 features to
the losses, loss scaling that keeps small gradients, and — on a CPU — the same losses as
float32 within a tolerance."""

import numpy as np
import pytest
import tensorflow as tf

from engine.config import TransferConfig, validate
from engine.optimizers import value_and_grad
from engine.precision import PRECISIONS, with_precision
from engine.transfer import FeatureExtractor, run_transfer


def test_mixed_computes_in_float16_with_the_same_weights_and_hands_float32_features(random_model):
    model = random_model("vgg16")
    assert with_precision(model, "float32") is model
    half = with_precision(model, "mixed")
    assert half is with_precision(model, "mixed")  # one copy per model, reused
    conv = half.get_layer("block1_conv1")
    assert conv.compute_dtype == "float16" and conv.variable_dtype == "float32"
    np.testing.assert_array_equal(conv.get_weights()[0], model.get_layer("block1_conv1").get_weights()[0])
    extractor = FeatureExtractor(model, "block2_conv1", ["block1_conv1"], precision="mixed")
    content, styles = extractor(tf.random.uniform((1, 32, 32, 3), -100, 100))
    assert content.dtype == tf.float32 and styles[0].dtype == tf.float32


def _toy_loss(weight: float):
    """A loss whose gradient passes through float16, `weight` times a sum of squares."""

    def loss_fn(image):
        half = tf.cast(image, tf.float16)
        total = tf.cast(tf.reduce_sum(half * half), tf.float32) * weight
        return {"total": total}

    return loss_fn


def test_loss_scaling_keeps_gradients_that_float16_would_flush_to_zero():
    image = tf.Variable(tf.fill((1, 4, 4, 3), 1.0))
    # d/dx of 1e-9 * x^2 is 2e-9: below float16's smallest subnormal (6e-8), so it is lost
    _, plain = value_and_grad(_toy_loss(1e-9), image)
    assert not np.any(plain.numpy())
    _, scaled = value_and_grad(_toy_loss(1e-9), image, PRECISIONS["mixed"].loss_scale)
    np.testing.assert_allclose(scaled.numpy(), 2e-9, rtol=1e-3)


def test_loss_scaling_leaves_a_float32_gradient_as_it_is():
    image = tf.Variable(tf.random.uniform((1, 4, 4, 3), -2, 2, seed=1))
    loss_fn = lambda x: {"total": tf.reduce_sum(tf.sin(x) * 3e5)}  # noqa: E731
    losses, plain = value_and_grad(loss_fn, image)
    scaled_losses, scaled = value_and_grad(loss_fn, image, 4096.0)
    assert float(scaled_losses["total"]) == float(losses["total"])  # the reported loss is not scaled
    np.testing.assert_allclose(scaled.numpy(), plain.numpy(), rtol=1e-5)


@pytest.mark.parametrize(
    "backbone, convention, rtol",
    # The tolerance: float16 keeps ~3 significant digits per activation; measured worst
    # deviations over these 10 steps were 1e-4 (VGG16 portable), 5e-4 (VGG16 gatys),
    # 1e-6 (ResNet50 portable).
    [("vgg16", "portable", 5e-3), ("vgg16", "gatys", 5e-3), ("resnet50", "portable", 5e-3)],
)
def test_mixed_precision_on_a_cpu_gives_the_float32_losses(
    backbone, convention, rtol, content_rgb, style_rgb, random_model
):
    def losses(precision):
        cfg = TransferConfig(backbone=backbone, size=48, iterations=10, weights="none", snapshot_every=0)
        cfg = validate(TransferConfig(**{**cfg.to_dict(), "loss_convention": convention, "precision": precision}))
        events = []
        run_transfer(cfg, content_rgb, style_rgb, events.append, model=random_model(backbone))
        return np.array([[e.total_loss, e.content_loss, e.style_loss] for e in events])

    full, mixed = losses("float32"), losses("mixed")
    assert full[-1, 0] < full[0, 0]  # it optimised
    # each term to within rtol of itself or of the starting total (the content term starts at 0)
    np.testing.assert_allclose(mixed, full, rtol=rtol, atol=rtol * full[0, 0])
