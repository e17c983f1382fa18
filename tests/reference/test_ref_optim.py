"""Update rules: one-step fixtures, the course's conventions, schedules."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy_backprop import optim

from tests.strategies import float_arrays, modest, shapes

W = np.linspace(-0.4, 0.6, 6).reshape(2, 3)
DW = np.linspace(-0.6, 0.4, 6).reshape(2, 3)
# Expected values: scalar Python arithmetic, one entry at a time, 13 digits.
TOL = {"rtol": 1e-11, "atol": 1e-13}


def expect(rule, config, next_w, **state):
    got, config = rule(W, DW, config)
    np.testing.assert_allclose(got, np.reshape(next_w, (2, 3)), **TOL)
    for key, value in state.items():
        np.testing.assert_allclose(config[key], np.reshape(value, (2, 3)), **TOL, err_msg=key)
    return config


# ----------------------------------------------------------------------------- fixtures


def test_sgd_fixture():
    expect(optim.sgd, {"learning_rate": 1e-2}, [-0.394, -0.196, 0.002, 0.2, 0.398, 0.596])


def test_sgd_momentum_fixture():
    config = {"learning_rate": 1e-3, "velocity": np.linspace(0.6, 0.9, 6).reshape(2, 3)}
    expect(
        optim.sgd_momentum,
        config,
        [0.1406, 0.3944, 0.6482, 0.902, 1.1558, 1.4096],
        velocity=[0.5406, 0.5944, 0.6482, 0.702, 0.7558, 0.8096],
    )


def test_nesterov_fixture():
    config = {"learning_rate": 1e-3, "velocity": np.linspace(0.6, 0.9, 6).reshape(2, 3)}
    expect(
        optim.nesterov,
        config,
        [0.08714, 0.33536, 0.58358, 0.8318, 1.08002, 1.32824],
        velocity=[0.5406, 0.5944, 0.6482, 0.702, 0.7558, 0.8096],
    )


def test_adagrad_fixture():
    config = {"learning_rate": 1e-2, "cache": np.linspace(0.5, 1.0, 6).reshape(2, 3)}
    expect(
        optim.adagrad,
        config,
        [
            -0.3935300336776,
            -0.1954116853752,
            0.002324952747849,
            0.2,
            0.3979371575288,
            0.5962860932709,
        ],
        cache=[0.86, 0.76, 0.74, 0.8, 0.94, 1.16],
    )


def test_rmsprop_fixture():
    config = {"learning_rate": 1e-2, "cache": np.linspace(0.6, 0.9, 6).reshape(2, 3)}
    expect(
        optim.rmsprop,
        config,
        [
            -0.3922384948433,
            -0.1950575835553,
            0.002368232426328,
            0.2,
            0.3978073549758,
            0.5957661882343,
        ],
        cache=[0.5976, 0.655, 0.7132, 0.7722, 0.832, 0.8926],
    )


def test_adam_fixture():
    config = {
        "learning_rate": 1e-2,
        "m": np.linspace(0.5, -0.5, 6).reshape(2, 3),
        "v": np.linspace(0.7, 0.5, 6).reshape(2, 3),
        "t": 5,
    }
    config = expect(
        optim.adam,
        config,
        [
            -0.4007698207306,
            -0.20046761556,
            -0.0001468499983473,
            0.200195215495,
            0.4005619695731,
            0.6009576682355,
        ],
        m=[0.39, 0.23, 0.07, -0.09, -0.25, -0.41],
        v=[0.69966, 0.6595, 0.61942, 0.57942, 0.5395, 0.49966],
    )
    assert config["t"] == 6


def test_schedule_fixtures():
    assert optim.step_decay(0.1, 25, drop=0.5, every=10) == pytest.approx(0.025, rel=1e-15)
    assert optim.step_decay(0.1, 9, drop=0.5, every=10) == 0.1
    assert optim.exponential_decay(1.0, 2.0, k=0.5) == pytest.approx(np.exp(-1.0), rel=1e-15)
    assert optim.inverse_time_decay(1.0, 3.0, k=1.0) == 0.25
    assert optim.inverse_time_decay(0.5, 0.0) == 0.5


# ----------------------------------------------------------------------------- conventions


@pytest.mark.parametrize("rule", [optim.adagrad, optim.rmsprop, optim.adam])
def test_epsilon_is_outside_the_square_root(rule):
    """With a zero history and dw = eps = 1e-8, eps outside the root halves the step:
    lr * 1e-8 / (1e-8 + 1e-8) = lr / 2, where sqrt(g**2 + eps) would give ~ lr * 1e-4."""
    dw = np.array([1e-8])
    config = {"learning_rate": 1.0, "epsilon": 1e-8}
    if rule is optim.rmsprop:
        config["decay_rate"] = 0.0  # cache = dw**2 at once
    next_w, _ = rule(np.zeros(1), dw, config)
    np.testing.assert_allclose(next_w, [-0.5], rtol=1e-12)


def test_adam_increments_t_before_bias_correction():
    """t starts at 0 and the first step uses t = 1: m_hat = dw, v_hat = dw**2 exactly,
    so the first step is lr * dw / (|dw| + eps), i.e. ~lr in magnitude whatever dw is."""
    dw = np.array([1e-3, -2.0, 50.0])
    config = {}
    next_w, config = optim.adam(np.zeros(3), dw, config)
    assert config["t"] == 1
    np.testing.assert_allclose(next_w, -1e-3 * dw / (np.abs(dw) + 1e-8), rtol=1e-12)
    _, config = optim.adam(np.zeros(3), dw, config)
    assert config["t"] == 2


def test_defaults_are_filled_and_given_values_kept():
    _, config = optim.adam(W, DW, {"learning_rate": 0.5})
    assert config["learning_rate"] == 0.5
    assert (config["beta1"], config["beta2"], config["epsilon"]) == (0.9, 0.999, 1e-8)
    _, config = optim.sgd_momentum(W, DW)
    assert config["learning_rate"] == 1e-2 and config["momentum"] == 0.9
    assert optim.rmsprop(W, DW)[1]["decay_rate"] == 0.99
    assert optim.sgd(W, DW)[1]["learning_rate"] == 1e-2


@pytest.mark.parametrize("name", sorted(optim.RULES))
def test_rules_do_not_modify_their_inputs_and_keep_state_in_config(name):
    rule = optim.RULES[name]
    w, dw = W.copy(), DW.copy()
    config = {}
    first, config = rule(w, dw, config)
    np.testing.assert_array_equal(w, W)
    np.testing.assert_array_equal(dw, DW)
    assert first.shape == W.shape
    second, _ = rule(w, dw, config)  # same config: the state carries over
    fresh, _ = rule(w, dw, {})
    np.testing.assert_array_equal(fresh, first)
    if name != "sgd":
        assert not np.array_equal(second, first)


def test_nesterov_equals_the_look_ahead_form():
    """The rewritten update tracks phi = theta + mu v of classic Nesterov momentum,
    theta' = theta + v', v' = mu v - lr grad(theta + mu v), on f(x) = x.A.x / 2."""
    a = np.diag([1.0, 10.0])
    grad = lambda x: a @ x  # noqa: E731
    lr, mu = 0.05, 0.9
    theta, v = np.array([1.0, -1.0]), np.zeros(2)
    phi, config = theta.copy(), {"learning_rate": lr, "momentum": mu}
    for _ in range(20):
        v = mu * v - lr * grad(theta + mu * v)
        theta = theta + v
        phi, config = optim.nesterov(phi, grad(phi), config)
        np.testing.assert_allclose(phi, theta + mu * v, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(optim.RULES))
def test_every_rule_descends_a_quadratic(name):
    target = np.array([1.0, -2.0, 0.5])
    lr = {"adagrad": 1.0, "rmsprop": 0.01, "adam": 0.05}.get(name, 0.05)
    w, config = np.zeros(3), {"learning_rate": lr}
    for _ in range(300):
        w, config = optim.RULES[name](w, w - target, config)
    np.testing.assert_allclose(w, target, atol=0.05)


@modest
@given(st.data(), st.sampled_from(sorted(optim.RULES)))
def test_shapes_preserved_and_finite(data, name):
    shape = data.draw(shapes(1, 3))
    w, dw = data.draw(float_arrays(shape)), data.draw(float_arrays(shape))
    config = {}
    for _ in range(3):
        w, config = optim.RULES[name](w, dw, config)
    assert w.shape == shape and np.all(np.isfinite(w))
