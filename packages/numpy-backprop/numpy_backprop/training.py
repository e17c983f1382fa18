"""Minibatch training of an MLP with any update rule, and early stopping on a validation split.

The loss per batch is the batch-mean data loss plus ``l2_penalty`` on the Dense
weights (not the biases). Each parameter array gets its own copy of the
optimizer config, since the config holds the rule's state.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .data import train_test_split
from .losses import l2_penalty, mse_loss, softmax_cross_entropy
from .modules import MLP
from .optim import adam

LOSSES = {"softmax_cross_entropy": softmax_cross_entropy, "mse": mse_loss}


def minibatches(n: int, batch_size: int, rng):
    """Index arrays covering range(n) in a fresh random order, batch_size at a time."""
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def evaluate(model: MLP, x, y, loss: str = "softmax_cross_entropy", reg: float = 0.0):
    """(loss, accuracy) of the model on (x, y); accuracy is NaN for the mse loss."""
    scores = model.forward(x)
    value, _ = LOSSES[loss](scores, y)
    value += l2_penalty([w.value for w in model.weights()], reg)[0]
    if loss != "softmax_cross_entropy":
        return value, float("nan")
    return value, float(np.mean(np.argmax(scores, axis=1) == y))


def train_step(model: MLP, xb, yb, rule, configs, loss: str, reg: float) -> float:
    """One update on the batch (xb, yb): zero_grad, forward, backward, rule. Returns the loss."""
    model.zero_grad()
    value, dscores = LOSSES[loss](model.forward(xb), yb)
    weights = model.weights()
    penalty, dweights = l2_penalty([w.value for w in weights], reg)
    model.backward(dscores)
    for w, dw in zip(weights, dweights, strict=True):
        w.grad += dw
    for p, config in zip(model.parameters(), configs, strict=True):
        p.value, _ = rule(p.value, p.grad, config)
    return value + penalty


def train(
    model: MLP,
    x,
    y,
    rule=adam,
    config: dict | None = None,
    epochs: int = 20,
    batch_size: int = 64,
    reg: float = 0.0,
    loss: str = "softmax_cross_entropy",
    validation=None,
    val_fraction: float = 0.1,
    patience: int | None = 5,
    lr_schedule: Callable[[int], float] | None = None,
    rng=0,
) -> dict:
    """Train ``model`` in place on x (N, D), y (N,) labels (or (N, K) targets for "mse").

    validation: (x_val, y_val), or None to hold out ``val_fraction`` of (x, y)
    (0 disables validation and early stopping). Early stopping: stop when the
    validation loss has not improved for ``patience`` epochs (None: never stop
    early) and put back the parameters of the best epoch. lr_schedule(epoch)
    sets every config's learning_rate at the start of each epoch.
    Returns a history dict: per-epoch lists "train_loss" (mean over the epoch's
    batches), "train_acc", "val_loss", "val_acc" (empty without validation), and
    "best_epoch", "epochs_run".
    """
    rng = np.random.default_rng(rng)
    if validation is None and val_fraction > 0:
        x, y, x_val, y_val = train_test_split(x, y, val_fraction, rng)
    elif validation is not None:
        x_val, y_val = validation
    else:
        x_val = y_val = None
    params = model.parameters()
    configs = [dict(config or {}) for _ in params]
    history = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": []}
    best, best_epoch, best_values = np.inf, 0, [p.value.copy() for p in params]
    epoch = -1
    for epoch in range(epochs):
        if lr_schedule is not None:
            lr = lr_schedule(epoch)
            for c in configs:
                c["learning_rate"] = lr
        batch_losses = [
            train_step(model, x[idx], y[idx], rule, configs, loss, reg)
            for idx in minibatches(len(x), batch_size, rng)
        ]
        history["train_loss"].append(float(np.mean(batch_losses)))
        history["train_acc"].append(evaluate(model, x, y, loss, reg)[1])
        if x_val is None:
            best_epoch = epoch
            continue
        val_loss, val_acc = evaluate(model, x_val, y_val, loss, reg)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if val_loss < best:
            best, best_epoch, best_values = val_loss, epoch, [p.value.copy() for p in params]
        elif patience is not None and epoch - best_epoch >= patience:
            break
    if x_val is not None and patience is not None:
        for p, value in zip(params, best_values, strict=True):
            p.value = value
    history["best_epoch"] = best_epoch
    history["epochs_run"] = epoch + 1
    return history
