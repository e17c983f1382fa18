"""Reference losses: gradient checks, fixtures, stability at large logits."""

import warnings

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from numpy_backprop import losses
from numpy_backprop.gradcheck import (
    numerical_gradient,
    relative_error,
    scaled_relative_error,
)

from tests.strategies import dims, float_arrays, grid_arrays, labels, modest

SMOOTH = 1e-7
KINK = 1e-5


def check_loss(loss_fn, scores, *args, h=1e-5, tol=SMOOTH, measure=scaled_relative_error):
    """Compare the returned dscores with centred differences of the returned loss."""
    value, dscores = loss_fn(scores, *args)
    assert isinstance(value, float) and np.isfinite(value)
    assert dscores.shape == scores.shape
    num = numerical_gradient(lambda v: loss_fn(v, *args)[0], scores.copy(), h=h)
    assert measure(dscores, num) < tol


# ----------------------------------------------------------------------------- gradient checks


@modest
@given(st.data())
def test_mse_gradient(data):
    """Quadratic on a dyadic grid with h = 1/16: the centred difference is exact."""
    shape = (data.draw(dims()), data.draw(dims()))
    pred, target = data.draw(grid_arrays(shape)), data.draw(grid_arrays(shape))
    check_loss(losses.mse_loss, pred, target, h=1 / 16, measure=relative_error)


@modest
@given(st.data())
def test_softmax_cross_entropy_gradient(data):
    n, c = data.draw(dims()), data.draw(dims(2, 5))
    scores = data.draw(float_arrays((n, c)))
    check_loss(losses.softmax_cross_entropy, scores, data.draw(labels(n, c)), h=1e-4)


@modest
@given(st.data())
def test_sigmoid_bce_gradient(data):
    """Hard targets: with a soft target y the gradient vanishes where sigmoid(z) = y, and
    a centred difference there is all rounding noise (soft targets: see the fixture)."""
    shape = (data.draw(dims()), data.draw(dims()))
    logits = data.draw(float_arrays(shape))
    y = data.draw(float_arrays(shape, elements=st.sampled_from([0.0, 1.0])))
    check_loss(losses.sigmoid_bce_loss, logits, y, h=1e-4)


@modest
@given(st.data(), st.sampled_from([1.03125, 0.53125]))
def test_multiclass_hinge_gradient(data, margin):
    """Scores on the 1/16 grid and a margin off it keep every term >= 1/32 away from its kink."""
    n, c = data.draw(dims()), data.draw(dims(2, 5))
    scores = data.draw(grid_arrays((n, c)))
    y = data.draw(labels(n, c))
    check_loss(
        losses.multiclass_hinge_loss, scores, y, margin, h=1e-3, tol=KINK, measure=relative_error
    )


@modest
@given(st.data())
def test_l2_penalty_gradient(data):
    w = data.draw(grid_arrays((data.draw(dims()), data.draw(dims()))))
    reg = data.draw(st.sampled_from([0.0, 0.5, 3.0]))
    check_loss(losses.l2_penalty, w, reg, h=1 / 16, measure=relative_error)


# ----------------------------------------------------------------------------- fixtures

SCORES = np.linspace(-1.0, 1.0, 6).reshape(2, 3)  # [[-1, -0.6, -0.2], [0.2, 0.6, 1]]


def test_softmax_cross_entropy_fixture():
    loss, d = losses.softmax_cross_entropy(SCORES, np.array([0, 2]))
    np.testing.assert_allclose(loss, 1.15125051373, rtol=1e-11)
    np.testing.assert_allclose(
        d,
        [
            [-0.394008639646, 0.158120529112, 0.235888110534],
            [0.105991360354, 0.158120529112, -0.264111889466],
        ],
        atol=1e-11,
    )


def test_sigmoid_bce_soft_targets_fixture():
    # z = log 3 gives sigmoid 0.75: target 0.75 is the minimum, gradient 0; target 0.25 gives 0.5/2
    z = np.array([np.log(3.0), np.log(3.0)])
    loss, d = losses.sigmoid_bce_loss(z, np.array([0.75, 0.25]))
    entropy = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    cross = -(0.25 * np.log(0.75) + 0.75 * np.log(0.25))
    np.testing.assert_allclose(loss, (entropy + cross) / 2, rtol=1e-14)
    np.testing.assert_allclose(d, [0.0, 0.25], atol=1e-15)


def test_sigmoid_bce_fixture():
    loss, d = losses.sigmoid_bce_loss(np.linspace(-2.0, 2.0, 4), np.array([0.0, 1.0, 1.0, 0.0]))
    np.testing.assert_allclose(loss, 0.937315715614, rtol=1e-11)
    np.testing.assert_allclose(
        d, [0.0298007305055, -0.165189092191, -0.0848109078085, 0.220199269494], atol=1e-11
    )


def test_multiclass_hinge_fixture():
    # row 0, y = 2: terms 0.2, 0.6; row 1, y = 0: terms 1.4, 1.8; loss (0.8 + 3.2) / 2
    loss, d = losses.multiclass_hinge_loss(SCORES, np.array([2, 0]))
    np.testing.assert_allclose(loss, 2.0, rtol=1e-14)
    np.testing.assert_allclose(d, [[0.5, 0.5, -1.0], [-1.0, 0.5, 0.5]], atol=1e-15)


def test_hinge_term_exactly_zero_has_subgradient_zero():
    loss, d = losses.multiclass_hinge_loss(np.array([[1.0, 0.0, 0.5]]), np.array([0]))
    # class 1: 0 - 1 + 1 = 0 (not violated); class 2: 0.5 - 1 + 1 = 0.5
    assert loss == 0.5
    np.testing.assert_array_equal(d, [[-1.0, 0.0, 1.0]])


def test_mse_fixture():
    loss, d = losses.mse_loss(np.linspace(-1.0, 1.0, 4).reshape(2, 2), np.zeros((2, 2)))
    np.testing.assert_allclose(loss, 5 / 9, rtol=1e-14)  # (1 + 1/9 + 1/9 + 1) / (2 * 2)
    np.testing.assert_allclose(d, np.linspace(-0.5, 0.5, 4).reshape(2, 2), atol=1e-15)


def test_l2_penalty_fixture_array_and_list():
    w = np.linspace(-1.0, 1.0, 4).reshape(2, 2)  # squares sum to 20/9
    penalty, grad = losses.l2_penalty(w, 0.1)
    np.testing.assert_allclose(penalty, 1 / 9, rtol=1e-14)
    np.testing.assert_allclose(grad, 0.1 * w, rtol=1e-15)
    penalty, grads = losses.l2_penalty([w, np.ones(3)], 0.1)
    np.testing.assert_allclose(penalty, 0.05 * (20 / 9 + 3), rtol=1e-14)
    assert isinstance(grads, list) and len(grads) == 2
    np.testing.assert_allclose(grads[1], [0.1, 0.1, 0.1])


def test_softmax_fixture():
    p = losses.softmax(np.log(np.array([[1.0, 2.0, 5.0]])))
    np.testing.assert_allclose(p, [[0.125, 0.25, 0.625]], rtol=1e-14)


# ----------------------------------------------------------------------------- stability


def test_softmax_cross_entropy_finite_at_1e4():
    scores = np.array([[1e4, -1e4, 0.0], [0.0, 0.0, 1e4], [-1e4, -1e4, -1e4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, d = losses.softmax_cross_entropy(scores, np.array([1, 2, 0]))
    assert np.isfinite(loss) and np.all(np.isfinite(d))
    # row 0 costs 2e4 (its label scores 2e4 below the max), rows 1 and 2 cost 0 and log 3
    np.testing.assert_allclose(loss, (2e4 + 0.0 + np.log(3.0)) / 3, rtol=1e-14)
    np.testing.assert_allclose(d[0], [1 / 3, -1 / 3, 0.0], atol=1e-15)


def test_log_softmax_and_softmax_stable():
    scores = np.array([[1e4, 1e4 - 1.0, -1e4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logp = losses.log_softmax(scores)
        p = losses.softmax(scores)
    assert np.all(np.isfinite(logp))
    np.testing.assert_allclose(np.exp(logp), p, atol=1e-15)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(logp[0, 0] - logp[0, 1], 1.0, rtol=1e-12)


def test_sigmoid_bce_finite_at_1e4():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, d = losses.sigmoid_bce_loss(np.array([1e4, -1e4]), np.array([0.0, 0.0]))
    np.testing.assert_allclose(loss, 1e4 / 2, rtol=1e-14)
    np.testing.assert_allclose(d, [0.5, 0.0], atol=1e-15)
