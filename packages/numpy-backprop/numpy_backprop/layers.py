"""Layers with the contract ``thing_forward(x, *params) -> (out, cache)`` and
``thing_backward(dout, cache) -> (dx, *dparams)``; a layer without parameters
returns ``dx`` alone.

All arrays are float64. ``dout`` always has the shape of ``out``; every gradient
has the shape of the array it differentiates.
"""

from __future__ import annotations

import numpy as np


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray):
    """Affine layer ``out = x_flat @ w + b``.

    x: (N, d_1, ..., d_k), flattened to (N, D) with D = d_1 * ... * d_k.
    w: (D, M); b: (M,). Returns out (N, M) and cache (x, w).
    """
    x2 = x.reshape(x.shape[0], -1)
    return x2 @ w + b, (x, w)


def dense_backward(dout: np.ndarray, cache):
    """Gradients of the affine layer.

    dout: (N, M). Returns dx with the shape of x, dw (D, M) and db (M,).
    The batch is summed, never averaged: averaging belongs to the loss.
    """
    x, w = cache
    x2 = x.reshape(x.shape[0], -1)
    dx = (dout @ w.T).reshape(x.shape)
    dw = x2.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function without overflow: exp is only taken of -|z|."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_forward(x: np.ndarray):
    """Elementwise sigmoid. x: any shape. Returns out (same shape), cache out."""
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout: np.ndarray, cache):
    """dx = dout * s * (1 - s), evaluated at the cached output s = sigmoid(x)."""
    s = cache
    return dout * s * (1.0 - s)


def relu_forward(x: np.ndarray):
    """Elementwise max(0, x). x: any shape. Returns out (same shape), cache x."""
    return np.maximum(x, 0.0), x


def relu_backward(dout: np.ndarray, cache):
    """dx = dout where x > 0, else 0.

    Convention (learner question Q15): at exactly x == 0 the subgradient is 0,
    as in PyTorch's ``relu``; ``clamp(min=0)`` chooses 1 there instead.
    """
    x = cache
    return dout * (x > 0)


def tanh_forward(x: np.ndarray):
    """Elementwise tanh. x: any shape. Returns out (same shape), cache out."""
    out = np.tanh(x)
    return out, out


def tanh_backward(dout: np.ndarray, cache):
    """dx = dout * (1 - t**2), evaluated at the cached output t = tanh(x)."""
    t = cache
    return dout * (1.0 - t * t)


def leaky_relu_forward(x: np.ndarray, alpha: float = 0.01):
    """Elementwise ``x if x > 0 else alpha * x``. x: any shape.

    Returns out (same shape) and cache (x, alpha).
    """
    return np.where(x > 0, x, alpha * x), (x, alpha)


def leaky_relu_backward(dout: np.ndarray, cache):
    """dx = dout where x > 0, else alpha * dout.

    At exactly x == 0 the slope is alpha, the same side as ReLU's subgradient 0.
    """
    x, alpha = cache
    return np.where(x > 0, dout, alpha * dout)


def _pool_windows(x: np.ndarray, pool: int, stride: int) -> np.ndarray:
    """View of the pooling windows: (N, C, H_out, W_out, pool * pool), row-major per window."""
    if x.ndim != 4:
        raise ValueError(f"max pooling expects (N, C, H, W), got shape {x.shape}")
    if x.shape[2] < pool or x.shape[3] < pool:
        raise ValueError(f"a {pool}x{pool} window does not fit in {x.shape[2:]}")
    windows = np.lib.stride_tricks.sliding_window_view(x, (pool, pool), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]
    return windows.reshape(*windows.shape[:4], pool * pool)


def maxpool_forward(x: np.ndarray, pool: int = 2, stride: int = 2):
    """Max pooling over square windows, no padding.

    x: (N, C, H, W). Returns out (N, C, H_out, W_out) with
    H_out = (H - pool) // stride + 1 (same for W; rows/columns that no window
    reaches are ignored) and cache (x.shape, pool, stride, argmax), where argmax
    (N, C, H_out, W_out) is the row-major position of the max inside each window.
    """
    windows = _pool_windows(x, pool, stride)
    arg = np.argmax(windows, axis=-1)
    out = np.take_along_axis(windows, arg[..., None], axis=-1)[..., 0]
    return out, (x.shape, pool, stride, arg)


def maxpool_backward(dout: np.ndarray, cache):
    """Route each window's gradient to its maximum.

    dout: (N, C, H_out, W_out). Returns dx (N, C, H, W).
    Tie rule (learner question Q10): the whole gradient of a window goes to the
    FIRST maximum in row-major order within the window (``np.argmax``), never
    split between tied entries. Overlapping windows (stride < pool) add up.
    """
    shape, pool, stride, arg = cache
    n, c, h_out, w_out = arg.shape
    rows = np.arange(h_out).reshape(1, 1, h_out, 1) * stride + arg // pool
    cols = np.arange(w_out).reshape(1, 1, 1, w_out) * stride + arg % pool
    plane = np.arange(n * c).reshape(n, c, 1, 1) * (shape[2] * shape[3])
    flat = plane + rows * shape[3] + cols
    dx = np.bincount(flat.ravel(), weights=dout.ravel(), minlength=int(np.prod(shape)))
    return dx.reshape(shape)
