"""Loss terms and conventions: the formulas, size invariance, scale invariance, layer shares."""

import numpy as np
import pytest
import tensorflow as tf

from engine.losses import (
    CONVENTIONS,
    LOSS_NAMES,
    LOSS_TERMS,
    gatys_content,
    gatys_layer_style,
    gatys_tv,
    gram_matrix,
    layer_shares,
    portable_tv,
    relative_error,
    stack_losses,
    unstack_losses,
    weighted_total,
)

F = np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3)


def test_gram_matrix_is_normalised_by_its_own_positions():
    flat = F.reshape(4, 3)
    expected = flat.T @ flat / 4  # M = 4 positions
    np.testing.assert_allclose(gram_matrix(tf.constant(F)).numpy()[0], expected, rtol=1e-6)


def test_a_tiled_copy_has_the_same_gram_matrix():
    # The size bias of the study: the target was summed over the style image's positions
    # but divided by the output's. Normalised by its own positions, a style image and a
    # copy of it four times as large (tiled) give the same target.
    features = np.random.default_rng(0).normal(size=(1, 5, 7, 4)).astype(np.float32)
    tiled = np.tile(features, (1, 2, 2, 1))
    np.testing.assert_allclose(gram_matrix(tf.constant(tiled)), gram_matrix(tf.constant(features)), rtol=1e-5)


def test_gatys_layer_style_is_the_paper_formula_when_sizes_agree():
    target = np.ones((1, 3, 3), dtype=np.float32)
    g = F.reshape(4, 3).T @ F.reshape(4, 3)  # unnormalised, as in the paper
    n, m = 3, 4
    expected = ((g - target[0] * m) ** 2).sum() / (4 * n**2 * m**2)  # target of the same size M
    got = gatys_layer_style(gram_matrix(tf.constant(F)), tf.constant(target), 3).numpy()
    assert got == pytest.approx(expected, rel=1e-6)


def test_gatys_style_is_a_weighted_sum_and_portable_a_weighted_mean():
    f = tf.constant(np.ones((1, 2, 2, 1), np.float32))
    zero = tf.zeros((1, 1, 1))
    gatys, portable = CONVENTIONS["gatys"], CONVENTIONS["portable"]
    one = gatys.layer_terms([f], [zero])[0].numpy()
    assert gatys.style([f, f], [zero, zero], [1.0, 0.5]).numpy() == pytest.approx(1.5 * one)
    target = tf.ones((1, 1, 1)) * 2.0
    rel = portable.layer_terms([f], [target])[0].numpy()  # (1 - 2)^2 / 2^2
    assert rel == pytest.approx(0.25)
    assert portable.style([f, f], [target, target], [1.0, 0.5]).numpy() == pytest.approx(rel)


def test_portable_terms_do_not_depend_on_the_scale_of_activations():
    rng = np.random.default_rng(1)
    a, b = (tf.constant(rng.normal(size=(1, 6, 6, 8)).astype(np.float32)) for _ in range(2))
    portable, gatys = CONVENTIONS["portable"], CONVENTIONS["gatys"]
    for k in (1e-3, 1e3):
        ka, kb = a * k, b * k
        assert portable.content(ka, kb).numpy() == pytest.approx(portable.content(a, b).numpy(), rel=1e-4)
        got = portable.layer_terms([ka], [gram_matrix(kb)])[0].numpy()
        assert got == pytest.approx(portable.layer_terms([a], [gram_matrix(b)])[0].numpy(), rel=1e-4)
    # ...while the study's sums scale with k^2 (content) and k^4 (style)
    assert gatys.content(a * 10, b * 10).numpy() == pytest.approx(100 * gatys.content(a, b).numpy(), rel=1e-4)


def test_content_terms():
    a, b = tf.constant([[1.0, 2.0]]), tf.constant([[0.0, 4.0]])
    assert gatys_content(a, b).numpy() == pytest.approx(1 + 4)
    assert relative_error(a, b).numpy() == pytest.approx(5 / 16)


def test_total_variation_of_flat_image_is_zero_and_portable_tv_is_per_pixel():
    flat = tf.ones((1, 4, 4, 3))
    assert gatys_tv(flat).numpy() == 0 and portable_tv(flat).numpy() == 0
    ramp = tf.constant(np.tile(np.arange(8, dtype=np.float32) * 255, (1, 8, 1))[..., None].repeat(3, -1))
    big = tf.constant(np.tile(np.arange(16, dtype=np.float32) * 255, (1, 16, 1))[..., None].repeat(3, -1))
    assert portable_tv(ramp).numpy() == pytest.approx(portable_tv(big).numpy())  # the same slope, any size
    assert gatys_tv(big).numpy() > 3 * gatys_tv(ramp).numpy()  # a sum grows with the image


def test_terms_are_named_and_travel_in_one_order():
    assert ("total", *LOSS_TERMS) == LOSS_NAMES
    terms = {"content": tf.constant(2.0), "style": tf.constant(3.0), "tv": tf.constant(5.0)}
    losses = weighted_total(terms, {"content_weight": 1.0, "style_weight": 10.0, "tv_weight": 0.0})
    assert float(losses["total"]) == pytest.approx(32.0)
    assert unstack_losses(stack_losses(losses).numpy()) == {"total": 32.0, "content": 2.0, "style": 3.0, "tv": 5.0}


def test_layer_shares_add_up_to_one():
    assert layer_shares([1.0, 3.0], [1.0, 1.0]) == pytest.approx([0.25, 0.75])
    assert layer_shares([1.0, 3.0], [3.0, 1.0]) == pytest.approx([0.5, 0.5])
    assert layer_shares([0.0, 0.0], [1.0, 1.0]) == [0.0, 0.0]


@pytest.mark.parametrize("name", ["portable", "gatys"])
def test_content_and_tv_from_sums_are_the_terms_in_parts(name):
    """A tiled scale adds the terms up from per-tile sums (engine.tiled): the parts must
    give back exactly the convention's own content and TV terms."""
    convention = CONVENTIONS[name]
    rng = np.random.default_rng(0)
    x, t = (tf.constant(rng.normal(size=(1, 5, 7, 4)), tf.float32) for _ in range(2))
    parts = convention.content_from_sums(tf.reduce_sum(tf.square(x - t)), tf.reduce_sum(tf.square(t)))
    assert float(parts) == pytest.approx(float(convention.content(x, t)), rel=1e-6)
    image = tf.constant(rng.uniform(0, 255, size=(1, 6, 9, 3)), tf.float32)
    dy = tf.reduce_sum(tf.square(image[:, 1:] - image[:, :-1]))
    dx = tf.reduce_sum(tf.square(image[:, :, 1:] - image[:, :, :-1]))
    tv = convention.tv_from_sums(dy, dx, 5 * 9 * 3, 6 * 8 * 3)
    assert float(tv) == pytest.approx(float(convention.tv(image)), rel=1e-6)
