"""Reference layers: gradient checks on drawn inputs, hand-checkable fixtures, conventions."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy_backprop import layers
from numpy_backprop.gradcheck import numerical_gradient_array, relative_error

from tests.strategies import (
    dims,
    distinct_arrays,
    float_arrays,
    grid_arrays,
    modest,
    off_kink_arrays,
    shapes,
)

SMOOTH = 1e-7  # float64 centred differences of smooth functions
KINK = 1e-5  # functions with a kink nearby (inputs are kept off it)
# Elementwise layers are judged entry by entry (relative_error's floor 1e-8): a
# perturbed entry changes one output only, so no cancellation can drown it in noise.


def check_unary(forward, backward, x, dout, tol):
    """Gradient check of a parameter-free layer at x with upstream dout."""
    _, cache = forward(x)
    dx = backward(dout, cache)
    assert dx.shape == x.shape
    num = numerical_gradient_array(lambda v: forward(v)[0], x.copy(), dout)
    assert relative_error(dx, num) < tol


# ----------------------------------------------------------------------------- gradient checks


@modest
@given(st.data())
def test_dense_gradients(data):
    """On a dyadic grid with h = 1/16 every sum is exact: the check is exact, any error a bug.

    (With arbitrary floats an entry of dw that cancels to ~0 is pure rounding noise.)
    """
    n, m = data.draw(dims()), data.draw(dims())
    in_shape = data.draw(shapes(1, 3))
    d = int(np.prod(in_shape))
    x = data.draw(grid_arrays((n, *in_shape)))
    w = data.draw(grid_arrays((d, m)))
    b = data.draw(grid_arrays((m,)))
    dout = data.draw(grid_arrays((n, m)))
    out, cache = layers.dense_forward(x, w, b)
    assert out.shape == (n, m)
    dx, dw, db = layers.dense_backward(dout, cache)
    for analytic, arr, fn in [
        (dx, x, lambda v: layers.dense_forward(v, w, b)[0]),
        (dw, w, lambda v: layers.dense_forward(x, v, b)[0]),
        (db, b, lambda v: layers.dense_forward(x, w, v)[0]),
    ]:
        assert analytic.shape == arr.shape
        num = numerical_gradient_array(fn, arr.copy(), dout, h=1 / 16)
        assert relative_error(analytic, num) < SMOOTH


@modest
@given(st.data())
def test_sigmoid_gradient(data):
    shape = data.draw(shapes())
    x = data.draw(float_arrays(shape, bound=6.0))
    dout = data.draw(float_arrays(shape))
    check_unary(layers.sigmoid_forward, layers.sigmoid_backward, x, dout, SMOOTH)


@modest
@given(st.data())
def test_tanh_gradient(data):
    shape = data.draw(shapes())
    x = data.draw(float_arrays(shape))
    dout = data.draw(float_arrays(shape))
    check_unary(layers.tanh_forward, layers.tanh_backward, x, dout, SMOOTH)


@modest
@given(st.data())
def test_relu_gradient(data):
    shape = data.draw(shapes())
    x = data.draw(off_kink_arrays(shape))
    dout = data.draw(float_arrays(shape))
    check_unary(layers.relu_forward, layers.relu_backward, x, dout, KINK)


@modest
@given(st.data(), st.sampled_from([0.01, 0.1, 0.3]))
def test_leaky_relu_gradient(data, alpha):
    shape = data.draw(shapes())
    x = data.draw(off_kink_arrays(shape))
    dout = data.draw(float_arrays(shape))
    forward = lambda v: layers.leaky_relu_forward(v, alpha)  # noqa: E731
    check_unary(forward, layers.leaky_relu_backward, x, dout, KINK)


@modest
@given(st.data(), st.sampled_from([(2, 2), (2, 1), (3, 2), (3, 1), (1, 1)]))
def test_maxpool_gradient(data, pool_stride):
    pool, stride = pool_stride
    n, c = data.draw(dims(1, 2)), data.draw(dims(1, 2))
    h, w = data.draw(dims(pool, 5)), data.draw(dims(pool, 5))
    x = data.draw(distinct_arrays((n, c, h, w)))  # no ties, so differences never cross one
    out, cache = layers.maxpool_forward(x, pool, stride)
    assert out.shape == (n, c, (h - pool) // stride + 1, (w - pool) // stride + 1)
    dout = data.draw(float_arrays(out.shape))
    dx = layers.maxpool_backward(dout, cache)
    num = numerical_gradient_array(lambda v: layers.maxpool_forward(v, pool, stride)[0], x, dout)
    assert relative_error(dx, num) < KINK


# ----------------------------------------------------------------------------- fixtures

X_DENSE = np.linspace(-0.5, 0.5, 6).reshape(2, 3)
W_DENSE = np.linspace(-0.2, 0.4, 6).reshape(3, 2)
B_DENSE = np.array([0.1, -0.1])
DOUT_DENSE = np.linspace(-1.0, 1.0, 4).reshape(2, 2)


def test_dense_fixture():
    out, cache = layers.dense_forward(X_DENSE, W_DENSE, B_DENSE)
    # out[0, 0] = (-0.5)(-0.2) + (-0.3)(0.04) + (-0.1)(0.28) + 0.1 = 0.16
    np.testing.assert_allclose(out, [[0.16, -0.148], [0.232, 0.14]], rtol=0, atol=1e-12)
    dx, dw, db = layers.dense_backward(DOUT_DENSE, cache)
    third = 1.0 / 3.0
    np.testing.assert_allclose(
        dx,
        [
            [0.226666666667, -0.0933333333333, -0.413333333333],
            [-0.146666666667, 0.173333333333, 0.493333333333],
        ],
        rtol=0,
        atol=1e-11,
    )
    np.testing.assert_allclose(
        dw, [[1.6 * third, 0.8 * third], [0.4, 0.4], [0.8 * third, 1.6 * third]], atol=1e-12
    )
    np.testing.assert_allclose(db, [-2 * third, 2 * third], atol=1e-12)


def test_sigmoid_fixture():
    out, cache = layers.sigmoid_forward(np.linspace(-2.0, 2.0, 5))
    np.testing.assert_allclose(
        out, [0.119202922022, 0.26894142137, 0.5, 0.73105857863, 0.880797077978], atol=1e-11
    )
    np.testing.assert_allclose(
        layers.sigmoid_backward(np.ones(5), cache),
        [0.104993585404, 0.196611933241, 0.25, 0.196611933241, 0.104993585404],
        atol=1e-11,
    )


def test_tanh_fixture():
    out, cache = layers.tanh_forward(np.linspace(-1.0, 1.0, 5))
    np.testing.assert_allclose(
        out, [-0.761594155956, -0.46211715726, 0.0, 0.46211715726, 0.761594155956], atol=1e-11
    )
    np.testing.assert_allclose(
        layers.tanh_backward(np.ones(5), cache),
        [0.419974341614, 0.786447732966, 1.0, 0.786447732966, 0.419974341614],
        atol=1e-11,
    )


def test_relu_fixture():
    out, cache = layers.relu_forward(np.linspace(-1.0, 1.0, 5))
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0, 0.5, 1.0])
    dx = layers.relu_backward(np.linspace(1.0, 5.0, 5), cache)
    np.testing.assert_array_equal(dx, [0.0, 0.0, 0.0, 4.0, 5.0])


def test_leaky_relu_fixture():
    out, cache = layers.leaky_relu_forward(np.linspace(-1.0, 1.0, 5), alpha=0.1)
    np.testing.assert_allclose(out, [-0.1, -0.05, 0.0, 0.5, 1.0], atol=1e-15)
    dx = layers.leaky_relu_backward(np.linspace(1.0, 5.0, 5), cache)
    np.testing.assert_allclose(dx, [0.1, 0.2, 0.3, 4.0, 5.0], atol=1e-15)


def test_maxpool_fixture_2x2_stride_2():
    # squares of linspace(-1, 1, 16) = ((2k - 15) / 15)**2, in units of 1/225:
    # [[225, 169, 121, 81], [49, 25, 9, 1], [1, 9, 25, 49], [81, 121, 169, 225]]
    x = (np.linspace(-1.0, 1.0, 16) ** 2).reshape(1, 1, 4, 4)
    out, cache = layers.maxpool_forward(x)
    np.testing.assert_allclose(out[0, 0], [[1.0, 121 / 225], [121 / 225, 1.0]], atol=1e-15)
    dx = layers.maxpool_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    expected = np.zeros((4, 4))
    expected[0, 0], expected[0, 2], expected[3, 1], expected[3, 3] = 1.0, 2.0, 3.0, 4.0
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_maxpool_fixture_overlapping_windows_add_up():
    # 3x3 bowl with its maximum 0 in the centre, which is in all four 2x2 windows
    v = np.linspace(-1.0, 1.0, 3)
    x = -(v[:, None] ** 2 + v[None, :] ** 2).reshape(1, 1, 3, 3)
    out, cache = layers.maxpool_forward(x, pool=2, stride=1)
    np.testing.assert_array_equal(out, np.zeros((1, 1, 2, 2)))
    dx = layers.maxpool_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    expected = np.zeros((3, 3))
    expected[1, 1] = 10.0
    np.testing.assert_array_equal(dx[0, 0], expected)


# ----------------------------------------------------------------------------- conventions


def test_relu_gradient_is_zero_at_zero():
    """Q15: the subgradient at exactly 0 is 0."""
    _, cache = layers.relu_forward(np.array([-1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(layers.relu_backward(np.ones(3), cache), [0.0, 0.0, 1.0])


def test_leaky_relu_slope_at_zero_is_alpha():
    _, cache = layers.leaky_relu_forward(np.array([0.0]), alpha=0.2)
    np.testing.assert_array_equal(layers.leaky_relu_backward(np.ones(1), cache), [0.2])


@pytest.mark.parametrize(
    ("window", "winner"),
    [
        ([[3.0, 3.0], [3.0, 3.0]], (0, 0)),  # all tied: the first entry
        ([[1.0, 3.0], [3.0, 0.0]], (0, 1)),  # (0, 1) comes before (1, 0) in row-major order
        ([[1.0, 0.0], [3.0, 3.0]], (1, 0)),
    ],
)
def test_maxpool_tie_goes_to_first_max_in_row_major_order(window, winner):
    """Q10: the whole gradient goes to the first maximum, it is never split."""
    x = np.array(window).reshape(1, 1, 2, 2)
    _, cache = layers.maxpool_forward(x)
    dx = layers.maxpool_backward(np.full((1, 1, 1, 1), 5.0), cache)
    expected = np.zeros((2, 2))
    expected[winner] = 5.0
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_maxpool_tie_rule_per_window_in_a_batch():
    x = np.zeros((2, 3, 4, 4))  # every window is a four-way tie
    out, cache = layers.maxpool_forward(x)
    dx = layers.maxpool_backward(np.ones_like(out), cache)
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1.0
    np.testing.assert_array_equal(dx, np.broadcast_to(expected, x.shape))


def test_maxpool_rejects_wrong_rank():
    with pytest.raises(ValueError, match="N, C, H, W"):
        layers.maxpool_forward(np.zeros((3, 4, 4)))


def test_sigmoid_no_overflow_warning_at_1e4():
    x = np.array([-1e4, -710.0, 0.0, 710.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, cache = layers.sigmoid_forward(x)
        dx = layers.sigmoid_backward(np.ones_like(x), cache)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))
    np.testing.assert_array_equal(out[[0, 2, 4]], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(dx[[0, 4]], [0.0, 0.0])


def test_tanh_and_leaky_relu_quiet_at_1e4():
    x = np.array([-1e4, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(layers.tanh_forward(x)[0], [-1.0, 1.0])
        np.testing.assert_array_equal(layers.leaky_relu_forward(x)[0], [-100.0, 1e4])
