"""Modules with accumulating gradients (Q1, Q4) and the MLP."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy_backprop import modules
from numpy_backprop.gradcheck import numerical_gradient, relative_error
from numpy_backprop.losses import softmax_cross_entropy

from tests.strategies import dims, modest, seeds

SMOOTH = 1e-7
KINK = 1e-5


def loss_and_backward(model, x, y, share=1.0):
    """Forward, softmax cross-entropy scaled by ``share``, backward. Returns the loss."""
    loss, d = softmax_cross_entropy(model.forward(x), y)
    model.backward(share * d)
    return share * loss


def small_problem(seed, n=6, d=4, classes=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, classes, n)


# ----------------------------------------------------------------------------- gradient checks


@modest
@given(seeds(), st.sampled_from(["tanh", "sigmoid", "relu", "leaky_relu"]), st.data())
def test_mlp_gradients(seed, activation, data):
    sizes = [data.draw(dims(1, 4)) for _ in range(data.draw(st.integers(2, 4)))]
    sizes[-1] = max(sizes[-1], 2)
    x, y = small_problem(seed, n=data.draw(dims(1, 5)), d=sizes[0], classes=sizes[-1])
    model = modules.MLP(sizes, activation=activation, rng=seed)
    for p in model.weights():  # nonzero biases: a unit fed only by dead ReLUs is not at its kink
        p.value *= 2.0
    rng = np.random.default_rng(seed + 1)
    for layer in model.layers:
        if isinstance(layer, modules.Dense):
            layer.bias.value = rng.uniform(0.1, 0.5, layer.bias.value.shape) * rng.choice([-1, 1])
    model.zero_grad()
    loss_and_backward(model, x, y)
    tol = SMOOTH if activation in ("tanh", "sigmoid") else KINK
    params = model.parameters()
    nums = [
        numerical_gradient(lambda _: softmax_cross_entropy(model.forward(x), y)[0], p.value)
        for p in params
    ]
    # entries below a tenth of the model's largest gradient entry are judged against that
    # tenth: a vanishing gradient deep in a saturated net is below the differences' resolution
    # (and against 1e-5 at least: a central difference of an O(1) loss resolves no finer)
    floor = max(0.1 * max(np.abs(n).max() for n in nums), 1e-5)
    for p, num in zip(params, nums, strict=True):
        assert relative_error(p.grad, num, floor) < tol


# ----------------------------------------------------------------------------- accumulation


def test_backward_without_zero_grad_doubles_the_gradient():
    """Q1: backward adds into .grad, it does not overwrite it."""
    x, y = small_problem(0)
    model = modules.MLP([4, 5, 3], rng=0)
    model.zero_grad()
    loss_and_backward(model, x, y)
    once = [p.grad.copy() for p in model.parameters()]
    loss_and_backward(model, x, y)
    for p, g in zip(model.parameters(), once, strict=True):
        np.testing.assert_allclose(p.grad, 2 * g, rtol=1e-14, atol=1e-16)
    model.zero_grad()
    assert all(not np.any(p.grad) for p in model.parameters())


def test_two_half_batches_accumulated_equal_one_full_batch():
    """Q4: gradient accumulation. Each half's mean loss weighs 1/2 of the full-batch mean."""
    x, y = small_problem(1, n=8)
    model = modules.MLP([4, 6, 3], activation="tanh", rng=1)
    model.zero_grad()
    full_loss = loss_and_backward(model, x, y)
    full = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    halves = loss_and_backward(model, x[:4], y[:4], 0.5) + loss_and_backward(
        model, x[4:], y[4:], 0.5
    )
    np.testing.assert_allclose(halves, full_loss, rtol=1e-14)
    for p, g in zip(model.parameters(), full, strict=True):
        np.testing.assert_allclose(p.grad, g, rtol=1e-12, atol=1e-15)


def test_dense_module_accumulates_into_its_parameters():
    layer = modules.Dense(3, 2, rng=0)
    x = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    dout = np.ones((2, 2))
    layer.forward(x)
    dx = layer.backward(dout)
    np.testing.assert_allclose(dx, dout @ layer.weight.value.T)
    np.testing.assert_allclose(layer.weight.grad, x.T @ dout)
    np.testing.assert_allclose(layer.bias.grad, [2.0, 2.0])
    layer.backward(dout)
    np.testing.assert_allclose(layer.bias.grad, [4.0, 4.0])


# ----------------------------------------------------------------------------- structure


def test_dense_shapes_and_init():
    layer = modules.Dense(5, 3, rng=0)
    assert layer.weight.value.shape == (5, 3) and layer.bias.value.shape == (3,)
    assert np.all(np.abs(layer.weight.value) <= np.sqrt(6 / 8))
    assert not np.any(layer.bias.value)
    assert np.all(np.abs(modules.Dense(5, 3, rng=0, scale=0.01).weight.value) <= 0.01)


def test_mlp_layers_parameters_and_weights():
    model = modules.MLP([4, 8, 6, 3], activation="tanh", rng=0)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dense", "Tanh", "Dense", "Tanh", "Dense"]
    assert [p.value.shape for p in model.parameters()] == [(4, 8), (8,), (8, 6), (6,), (6, 3), (3,)]
    assert [w.value.shape for w in model.weights()] == [(4, 8), (8, 6), (6, 3)]
    assert model(np.zeros((2, 4))).shape == (2, 3)
    with pytest.raises(ValueError):
        modules.MLP([4])


def test_same_seed_same_model():
    a, b = modules.MLP([3, 4, 2], rng=7), modules.MLP([3, 4, 2], rng=7)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(p.value, q.value)


def test_leaky_relu_module_uses_alpha():
    act = modules.LeakyReLU(alpha=0.2)
    np.testing.assert_allclose(act.forward(np.array([-1.0, 2.0])), [-0.2, 2.0])
    np.testing.assert_allclose(act.backward(np.ones(2)), [0.2, 1.0])
