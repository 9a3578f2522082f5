"""The optimisers on a problem whose answer is known: a box-constrained quadratic."""

import numpy as np
import pytest
import tensorflow as tf

from engine import catalog
from engine.optimizers import HISTORY, LBFGS, OPTIMIZERS, Adam
from engine.transfer import make_steps_fn

SHAPE = (1, 4, 4, 3)
rng = np.random.default_rng(0)
CURVATURE = np.logspace(0, 2, np.prod(SHAPE)).reshape(SHAPE).astype(np.float32)  # condition number 100
OPTIMUM = rng.uniform(-2, 2, SHAPE).astype(np.float32)


def quadratic(image: tf.Tensor) -> dict[str, tf.Tensor]:
    """0.5 sum c (x - x*)^2 as the engine's named losses."""
    f = 0.5 * tf.reduce_sum(CURVATURE * tf.square(image - OPTIMUM))
    return {"total": f, "content": f, "style": tf.constant(0.0), "tv": tf.constant(0.0)}


def _optimizer(name: str, lr: float, bounds=(-10.0, 10.0)):
    image = tf.Variable(np.zeros(SHAPE, np.float32))
    return OPTIMIZERS[name].build(quadratic, image, lr, (np.float32(bounds[0]), np.float32(bounds[1]))), image


def test_lbfgs_solves_an_ill_conditioned_quadratic_where_adam_crawls():
    lbfgs, x = _optimizer("lbfgs", 1.0)
    adam, y = _optimizer("adam", 0.1)
    for _ in range(60):
        lbfgs.step()
        adam.step()
    start = np.linalg.norm(OPTIMUM)
    assert np.linalg.norm(x.numpy() - OPTIMUM) < 1e-3 * start
    assert np.linalg.norm(y.numpy() - OPTIMUM) > 1e-2 * start


def test_lbfgs_stays_in_bounds_and_gets_near_the_clipped_optimum():
    # Separable quadratic: the box-constrained minimum is the clipped free minimum.
    lbfgs, x = _optimizer("lbfgs", 1.0, bounds=(-1.0, 1.0))
    for _ in range(60):
        lbfgs.step()
        assert x.numpy().min() >= -1.0 and x.numpy().max() <= 1.0
    best = float(quadratic(tf.constant(np.clip(OPTIMUM, -1, 1)))["total"])
    start = float(quadratic(tf.zeros(SHAPE))["total"])
    assert float(quadratic(x)["total"]) - best < 0.01 * (start - best)
    assert int(lbfgs.rejected.numpy()) > 0  # the walls make some steps overshoot: undone


def test_lbfgs_keeps_only_the_last_pairs():
    lbfgs, _ = _optimizer("lbfgs", 1.0)
    for _ in range(HISTORY + 5):
        lbfgs.step()
    assert int(lbfgs.count.numpy()) == HISTORY and int(lbfgs.steps.numpy()) == HISTORY + 5


@pytest.mark.parametrize("name", ["adam", "lbfgs"])
def test_k_steps_in_one_call_follow_the_same_path(name):
    one, x1 = _optimizer(name, 0.5)
    many, xk = _optimizer(name, 0.5)
    run_one, run_many = make_steps_fn(one), make_steps_fn(many)
    single = np.concatenate([run_one(1) for _ in range(7)])
    chunked = np.concatenate([run_many(4), run_many(3)])
    assert chunked.shape == (7, 4)
    np.testing.assert_allclose(chunked, single, rtol=1e-5)
    np.testing.assert_allclose(xk.numpy(), x1.numpy(), rtol=1e-5, atol=1e-6)


def test_optimizer_table_builds_each_kind():
    assert isinstance(_optimizer("adam", 1.0)[0], Adam) and isinstance(_optimizer("lbfgs", 1.0)[0], LBFGS)
    assert catalog.OPTIMIZERS["lbfgs"].default_learning_rate == 1.0
    assert catalog.OPTIMIZERS["adam"].default_learning_rate is None  # the backbone's tuned rate


@pytest.mark.parametrize("name", ["adam", "lbfgs"])
def test_a_whole_number_learning_rate_is_taken(name):
    """`--grid learning_rate=2` and the Python API pass an int; Keras's Adam refused it."""
    optimizer, image = _optimizer(name, 2)
    optimizer.step()
    assert np.any(image.numpy())
