import numpy as np
import pytest
import tensorflow as tf

from engine.losses import content_loss, gram_matrix, layer_style_loss, style_loss, total_variation_loss


def test_gram_matrix_matches_hand_computation():
    # F: 2 x 2 positions, 3 channels. G = F^T F with F as (M=4, N=3).
    f = np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3)
    flat = f.reshape(4, 3)
    expected = np.array([[sum(flat[m, i] * flat[m, j] for m in range(4)) for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(gram_matrix(tf.constant(f)).numpy(), expected)


def test_layer_style_loss_uses_gatys_normalisation():
    f = np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3)
    target = np.ones((3, 3), dtype=np.float32)
    g = f.reshape(4, 3).T @ f.reshape(4, 3)
    n, m = 3, 4
    expected = ((g - target) ** 2).sum() / (4 * n**2 * m**2)
    assert layer_style_loss(tf.constant(f), tf.constant(target)).numpy() == pytest.approx(expected, rel=1e-6)


def test_style_loss_weights_layers():
    f = tf.constant(np.ones((1, 2, 2, 1), np.float32))
    zero = tf.zeros((1, 1))
    one_layer = layer_style_loss(f, zero).numpy()
    assert style_loss([f, f], [zero, zero], [1.0, 0.5]).numpy() == pytest.approx(1.5 * one_layer)


def test_content_loss_is_sum_of_squares():
    a = tf.constant([[1.0, 2.0]])
    b = tf.constant([[0.0, 4.0]])
    assert content_loss(a, b).numpy() == pytest.approx(1 + 4)


def test_total_variation_of_flat_image_is_zero_and_positive_otherwise():
    flat = tf.ones((1, 4, 4, 3))
    assert total_variation_loss(flat).numpy() == 0
    ramp = tf.reshape(tf.range(48, dtype=tf.float32), (1, 4, 4, 3))
    assert total_variation_loss(ramp).numpy() > 0
