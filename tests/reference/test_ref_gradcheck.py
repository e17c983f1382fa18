"""The gradient-checking tools themselves."""

import numpy as np
import pytest
from hypothesis import given
from numpy_backprop import gradcheck as gc
from numpy_backprop import layers

from tests.strategies import float_arrays, modest, shapes


def test_numerical_gradient_of_a_cubic():
    x = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    grad = gc.numerical_gradient(lambda v: float(np.sum(v**3)), x)
    # centred differences of x**3 are exact up to h**2: 3 x**2 + h**2
    np.testing.assert_allclose(grad, 3 * x**2 + 1e-10, rtol=1e-8, atol=1e-9)


@modest
@given(float_arrays(shapes()))
def test_numerical_gradient_restores_x_exactly(x):
    before = x.copy()
    gc.numerical_gradient(lambda v: float(np.sum(np.sin(v))), x)
    np.testing.assert_array_equal(x, before)


def test_x_restored_even_when_f_raises():
    x = np.array([1.0, 2.0])
    calls = []

    def f(v):
        calls.append(v.copy())
        if len(calls) == 2:
            raise RuntimeError("boom")
        return 0.0

    with pytest.raises(RuntimeError):
        gc.numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])
    calls.clear()
    with pytest.raises(RuntimeError):
        gc.numerical_gradient_array(lambda v: f(v) * v, x, np.ones(2))
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_numerical_gradient_array_matches_a_linear_map():
    a = np.linspace(-1.0, 1.0, 6).reshape(3, 2)
    x = np.array([0.5, -0.25])
    dout = np.array([1.0, 2.0, -1.0])
    grad = gc.numerical_gradient_array(lambda v: a @ v, x, dout, h=0.5)
    np.testing.assert_allclose(grad, a.T @ dout, rtol=1e-14)


def test_relative_error_fixture():
    assert gc.relative_error(np.array([1.0, 0.0]), np.array([1.1, 0.0])) == pytest.approx(
        0.1 / 2.1, rel=1e-12
    )
    # both tiny: the floor 1e-8 keeps the ratio small instead of 1
    assert gc.relative_error(np.array([1e-10]), np.array([0.0])) == pytest.approx(1e-2)
    assert gc.relative_error(np.array([1e-10]), np.array([0.0]), floor=1e-6) == pytest.approx(1e-4)
    assert gc.relative_error(np.zeros(0), np.zeros(0)) == 0.0
    assert gc.relative_error(3.0, 3.0) == 0.0


def test_scaled_relative_error_fixture():
    a, n = np.array([1.0, 1e-6]), np.array([1.0, 2e-6])
    assert gc.relative_error(a, n) == pytest.approx(1 / 3)
    # the small entry is judged against 1e-3 * 2 (the largest |a| + |n| is 2 -> scale 1)
    assert gc.scaled_relative_error(a, n) == pytest.approx(1e-6 / 1e-3)


def dense_loss(dout):
    return lambda x, w, b: float(np.sum(layers.dense_forward(x, w, b)[0] * dout))


def dense_problem(seed=0):
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal((4, 6)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    grads = layers.dense_backward(dout, layers.dense_forward(x, w, b)[1])
    return (x, w, b), grads, dout


def test_directional_check_accepts_correct_gradients():
    params, grads, dout = dense_problem()
    result = gc.directional_check(dense_loss(dout), params, grads, num_directions=4, rng=0)
    assert result.errors.shape == (3, 4)
    assert result.max_error < 1e-8
    assert result.forward_passes == 2 * 3 * 4
    joint = gc.directional_check(dense_loss(dout), params, grads, joint=True, rng=0)
    assert joint.errors.shape == (1, 3) and joint.forward_passes == 6 and joint.max_error < 1e-8


@pytest.mark.parametrize(
    ("broken", "which"),
    [
        (lambda g: 2 * g, 1),  # dw doubled
        (lambda g: g / 4, 1),  # dw averaged over the batch
        (lambda g: -g, 2),  # db sign
        (lambda g: np.where(np.arange(g.size).reshape(g.shape) == 3, 0.0, g), 0),  # one entry lost
    ],
)
def test_directional_check_flags_wrong_gradients(broken, which):
    params, grads, dout = dense_problem(1)
    grads = list(grads)
    grads[which] = broken(grads[which])
    result = gc.directional_check(dense_loss(dout), params, grads, rng=1)
    assert result.max_error > 1e-4
    assert int(np.argmax(result.errors.max(axis=1))) == which  # it points at the culprit


def test_directional_check_does_not_modify_params():
    params, grads, dout = dense_problem(2)
    copies = [p.copy() for p in params]
    gc.directional_check(dense_loss(dout), params, grads, rng=2)
    for p, c in zip(params, copies, strict=True):
        np.testing.assert_array_equal(p, c)
