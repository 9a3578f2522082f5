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
