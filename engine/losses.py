"""Gatys et al. (2016) losses as small pure TensorFlow functions.

Features arrive as (1, H, W, C) tensors. N_l = C (number of filters), M_l = H * W
(number of positions), as in the paper.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """G = F^T F over positions, unnormalised (C x C). F is (1, H, W, C)."""
    flat = tf.reshape(features, (-1, tf.shape(features)[-1]))  # (M, N)
    return tf.matmul(flat, flat, transpose_a=True)


def content_loss(features: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """L_content = sum (F - P)^2.

    The paper has a factor 1/2; we follow the study's formula without it (only alpha's
    scale differs).
    """
    return tf.reduce_sum(tf.square(features - target))


def layer_style_loss(features: tf.Tensor, target_gram: tf.Tensor) -> tf.Tensor:
    """E_l = 1 / (4 N_l^2 M_l^2) * sum (G_l - A_l)^2."""
    shape = tf.shape(features)
    n = tf.cast(shape[-1], tf.float32)
    m = tf.cast(shape[1] * shape[2], tf.float32)
    diff = gram_matrix(features) - target_gram
    return tf.reduce_sum(tf.square(diff)) / (4.0 * n**2 * m**2)


def style_loss(features: Sequence[tf.Tensor], target_grams: Sequence[tf.Tensor], weights: Sequence[float]) -> tf.Tensor:
    """L_style = sum_l w_l * E_l over the style layers."""
    terms = [w * layer_style_loss(f, g) for f, g, w in zip(features, target_grams, weights, strict=True)]
    return tf.add_n(terms)


def total_variation_loss(image: tf.Tensor) -> tf.Tensor:
    """Sum of squared differences between neighbouring pixels (smoothness prior)."""
    dy = image[:, 1:, :, :] - image[:, :-1, :, :]
    dx = image[:, :, 1:, :] - image[:, :, :-1, :]
    return tf.reduce_sum(tf.square(dy)) + tf.reduce_sum(tf.square(dx))


def softmax_features(features: tf.Tensor, temperature: float = 1.0) -> tf.Tensor:
    """SWAG's activation smoothing (Wang, Li & Vasconcelos, CVPR 2021): softmax(F / T) over
    all activations of the layer together (every position and channel of one image, as in
    the authors' `softmax3d`), applied before the Gram and content losses. T = 1 is the
    paper's and its released code's value (T = 100 is left there commented out).

    The result is multiplied by the number of activations so its mean is 1 whatever the
    layer's size: a plain softmax sums to 1, which at 512 px makes each value ~1e-7 and
    the layer's Gram term ~1e-26, so transformed layers would vanish next to untransformed
    ones under the Gatys normalisation. A constant factor does not change the entropy the
    transform is for; it only puts the layer back on the scale of the others.

    Why T is a setting: softmax only raises the entropy of activations whose peaks are
    modest. With Keras's ResNet50 ImageNet weights the residual outputs peak at ~14 std
    (conv3_block4_out on a 128 px photo: max 15.5, std 1.1), so at T = 1 the softmax is
    nearly one-hot there (normalised entropy 0.26) rather than smoother; T ~ 4-10 keeps it
    close to uniform (entropy > 0.99).
    """
    shape = tf.shape(features)
    flat = tf.reshape(features, (shape[0], -1))  # per image: batch items stay separate
    count = tf.cast(tf.shape(flat)[1], features.dtype)
    return tf.reshape(tf.nn.softmax(flat / temperature, axis=-1) * count, shape)
