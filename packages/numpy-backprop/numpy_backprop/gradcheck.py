"""Numerical gradients by centred differences, the relative error, and a cheap directional check.

The full checks loop over the entries of x: that is their nature (two function
evaluations per entry), so keep x small. The directional check needs only a
handful of evaluations whatever the size of the parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5):
    """Centred-difference gradient of the scalar f(x) with respect to every entry of x.

    x: float64 array of any shape, modified in place one entry at a time and
    always restored (even if f raises). Returns grad, same shape as x;
    grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2 h). Costs 2 x.size calls of f.
    """
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        saved = x[i]
        try:
            x[i] = saved + h
            plus = float(f(x))
            x[i] = saved - h
            minus = float(f(x))
        finally:
            x[i] = saved
        grad[i] = (plus - minus) / (2.0 * h)
    return grad


def numerical_gradient_array(f: Callable[[np.ndarray], np.ndarray], x, dout, h: float = 1e-5):
    """Centred-difference gradient of sum(f(x) * dout) with respect to x.

    f: array-valued, its output has the shape of dout (the upstream gradient).
    x is modified in place and restored as in numerical_gradient. Returns an
    array shaped like x.
    """
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        saved = x[i]
        try:
            x[i] = saved + h
            plus = np.array(f(x), dtype=np.float64)
            x[i] = saved - h
            minus = np.array(f(x), dtype=np.float64)
        finally:
            x[i] = saved
        grad[i] = np.sum((plus - minus) * dout) / (2.0 * h)
    return grad


def relative_error(a, n, floor: float = 1e-8) -> float:
    """max over entries of |a - n| / max(|a| + |n|, floor), a float.

    a: analytic gradient, n: numerical gradient, same shape. The floor keeps
    entries where both are (nearly) zero from dividing by zero; raising it to
    the scale of the gradient turns the measure into an error relative to that scale.
    """
    a = np.asarray(a, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), floor)))


class DirectionalCheck(NamedTuple):
    """Outcome of directional_check.

    errors: (n_groups, num_directions) relative errors, one row per parameter
    array (or a single row when joint); max_error: their maximum;
    forward_passes: how many times f was called.
    """

    errors: np.ndarray
    max_error: float
    forward_passes: int


def directional_check(
    f: Callable[..., float],
    params: Sequence[np.ndarray],
    grads: Sequence[np.ndarray],
    num_directions: int = 3,
    h: float = 1e-5,
    joint: bool = False,
    floor: float = 1e-8,
    rng=None,
) -> DirectionalCheck:
    """Randomised check of analytic gradients along random unit directions.

    f(*params) -> float is the scalar loss; grads[j] is the claimed gradient for
    params[j] (same shape). For each direction a random unit vector d (Gaussian,
    normalised to L2 norm 1) is drawn per parameter array and the analytic
    directional derivative sum(grad * d) is compared with
    (f(p + h d) - f(p - h d)) / (2 h) by relative_error (with ``floor``).
    Per array (default) it perturbs one array at a time: 2 * len(params) *
    num_directions calls of f, whatever the sizes; joint=True perturbs all arrays
    together: 2 * num_directions calls, one row of errors.
    The params are not modified.
    """
    rng = np.random.default_rng(rng)
    params = [np.asarray(p, dtype=np.float64) for p in params]
    groups = [list(range(len(params)))] if joint else [[j] for j in range(len(params))]
    errors = np.zeros((len(groups), num_directions))
    calls = 0
    for row, group in enumerate(groups):
        for col in range(num_directions):
            plus, minus = list(params), list(params)
            analytic = 0.0
            for j in group:
                d = rng.standard_normal(params[j].shape)
                d /= np.linalg.norm(d)
                analytic += float(np.sum(np.asarray(grads[j]) * d))
                plus[j] = params[j] + h * d
                minus[j] = params[j] - h * d
            numeric = (float(f(*plus)) - float(f(*minus))) / (2.0 * h)
            calls += 2
            errors[row, col] = relative_error(analytic, numeric, floor)
    return DirectionalCheck(errors, float(errors.max(initial=0.0)), calls)


def scaled_relative_error(a, n, rel_floor: float = 1e-3) -> float:
    """relative_error with the floor raised to ``rel_floor`` times the largest |entry|.

    Entries far smaller than the largest gradient entry are then judged against
    that scale instead of their own size, where a centred difference is all
    rounding noise (e.g. an entry of dw that is a sum cancelling to nearly 0).
    """
    a = np.asarray(a, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(n), initial=0.0)))
    return relative_error(a, n, max(1e-8, rel_floor * scale))
