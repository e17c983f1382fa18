"""Losses returning ``(loss, dscores)`` where ``dscores`` has the shape of the scores."""

from __future__ import annotations

import numpy as np

from .layers import sigmoid


def mse_loss(pred: np.ndarray, target: np.ndarray):
    """Mean squared error with the 1/2 and the batch mean.

    pred, target: (N, ...). loss = sum((pred - target)**2) / (2 N), a float;
    dpred = (pred - target) / N, shape of pred. N is the batch size (axis 0),
    so the loss does not change when outputs are added per example.
    """
    n = pred.shape[0]
    diff = pred - target
    return float(0.5 * np.sum(diff * diff) / n), diff / n


def log_softmax(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """log(softmax(scores)) along ``axis`` via log-sum-exp; finite for any finite scores."""
    shifted = scores - np.max(scores, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``, shifted by the max so that exp never overflows."""
    e = np.exp(scores - np.max(scores, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def sigmoid_bce_loss(logits: np.ndarray, y: np.ndarray):
    """Binary cross-entropy on logits, averaged over the batch.

    logits: (N, ...); y: same shape, targets in [0, 1].
    loss = sum(max(z, 0) - z * y + log1p(exp(-|z|))) / N, which equals
    -sum(y log s + (1 - y) log(1 - s)) / N with s = sigmoid(z) but never takes
    the log of 0 or exp of a large number. dlogits = (sigmoid(z) - y) / N.
    """
    n = logits.shape[0]
    z = logits
    loss = np.sum(np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))) / n
    return float(loss), (sigmoid(z) - y) / n


def softmax_cross_entropy(scores: np.ndarray, y: np.ndarray):
    """Softmax cross-entropy with integer labels, averaged over the batch.

    scores: (N, C) logits; y: (N,) integers in [0, C).
    loss = -mean(log_softmax(scores)[i, y_i]); dscores = (softmax - onehot(y)) / N.
    Finite for logits of any finite magnitude (1e4 included).
    """
    n = scores.shape[0]
    rows = np.arange(n)
    logp = log_softmax(scores, axis=1)
    dscores = np.exp(logp)
    dscores[rows, y] -= 1.0
    return float(-np.sum(logp[rows, y]) / n), dscores / n


def multiclass_hinge_loss(scores: np.ndarray, y: np.ndarray, margin: float = 1.0):
    """Multiclass SVM (Weston-Watkins) hinge loss, averaged over the batch.

    scores: (N, C); y: (N,) integers. loss = sum_i sum_{j != y_i}
    max(0, s_ij - s_iy_i + margin) / N. dscores (N, C): 1/N for every violated
    class j (strictly positive term; a term exactly 0 gets subgradient 0), and
    -(number of violations)/N at the correct class.
    """
    n = scores.shape[0]
    rows = np.arange(n)
    terms = scores - scores[rows, y][:, None] + margin
    terms[rows, y] = 0.0
    active = (terms > 0).astype(np.float64)
    active[rows, y] = -active.sum(axis=1)
    return float(np.sum(np.maximum(terms, 0.0)) / n), active / n


def l2_penalty(weights, reg: float):
    """Weight decay 0.5 * reg * sum(W**2), on weights only (pass no biases).

    weights: one array or a list of arrays. Returns (penalty, grads) where grads
    = reg * W has the same structure as ``weights`` (one array or a list).
    The penalty is not divided by the batch size: add it to a batch-mean loss.
    """
    if isinstance(weights, np.ndarray):
        return float(0.5 * reg * np.sum(weights * weights)), reg * weights
    penalty = sum(float(np.sum(w * w)) for w in weights)
    return 0.5 * reg * penalty, [reg * w for w in weights]
