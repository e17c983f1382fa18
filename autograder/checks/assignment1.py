"""Hidden checks of assignment 1: dense layer, sigmoid, ReLU, mean squared error.

Each part draws fresh inputs (random batches, a batch of one, edge cases) and computes,
with the reference implementations, the correct outputs and what every catalogued
mistake would return on the same inputs, so the judge can name the mistake.
"""

from __future__ import annotations

import numpy as np
from numpy_backprop import layers as ref
from numpy_backprop.losses import mse_loss

from ..sandbox import Limits
from .base import (
    AssignmentChecks,
    Case,
    Mistake,
    Part,
    convention,
    make_case,
    planted,
    steps_forward_backward,
)

PAGE = "book/backprop-dense.html"


def _mistake(code, title, explanation, label):
    return Mistake(code, title, explanation, f"{PAGE}#{label}")


# --------------------------------------------------------------------------- dense forward

DENSE_FORWARD_MISTAKES = (
    _mistake(
        "dense-no-bias",
        "The bias is not added",
        "Your output equals x @ w without the bias b. Every unit adds its own bias: "
        "out = x @ w + b, with b broadcast over the batch.",
        "dense-forward",
    ),
)


def dense_forward_cases(rng: np.random.Generator) -> list[Case]:
    shapes = [("a random batch", (5, 4), 3), ("images (N, C, H, W) to flatten", (3, 2, 3, 2), 4)]
    shapes.append(("a batch of one", (1, 6), 2))
    cases = []
    for index, (label, xshape, units) in enumerate(shapes):
        d = int(np.prod(xshape[1:]))
        x, w, b = rng.normal(size=xshape), rng.normal(size=(d, units)), rng.normal(size=units)
        out, _ = ref.dense_forward(x, w, b)
        variants = {"dense-no-bias": {"out": x.reshape(len(x), -1) @ w}}
        steps = [{"call": "dense_forward", "args": [{"in": "x"}, {"in": "w"}, {"in": "b"}]}]
        steps[0]["save"] = ["out", "cache"]
        inputs = {"x": x, "w": w, "b": b}
        cases.append(
            make_case("dense_forward", index, label, steps, ["out"], inputs, {"out": out}, variants)
        )
    return cases


# -------------------------------------------------------------------------- dense backward

DENSE_BACKWARD_MISTAKES = (
    _mistake(
        "dense-sign",
        "Every gradient has the wrong sign",
        "dx, dw and db are the negatives of the true gradients. Backward computes the "
        "derivative of the loss; the minus sign belongs to the update step only.",
        "sign-conventions",
    ),
    _mistake(
        "dense-transposed-weight",
        "dx uses w instead of its transpose",
        "dx = dout @ w.T: dout has shape (N, M) and w has shape (D, M), so only w.T "
        "maps M back to D. With a square weight matrix, dout @ w runs but is wrong.",
        "dense-backward",
    ),
    _mistake(
        "dense-dw-transposed",
        "dw has the shape of w transposed",
        "dw must have the shape of w, (D, M): dw = x.T @ dout, not dout.T @ x.",
        "dense-backward",
    ),
    _mistake(
        "bias-not-summed",
        "The bias gradient is not summed over the batch",
        "b is shared by every example of the batch, so its gradient is the sum of dout over "
        "the batch axis: db = dout.sum(axis=0), shape (M,).",
        "bias-gradient",
    ),
    _mistake(
        "bias-averaged",
        "The bias gradient is averaged instead of summed",
        "db must be dout.sum(axis=0). The average over the batch is taken once, in the loss; "
        "averaging again in the layer shrinks the gradient by the batch size.",
        "bias-gradient",
    ),
    _mistake(
        "batch-averaged-in-layer",
        "The layer divides its gradients by the batch size",
        "dw and db are divided by N. The loss already averages over the batch, so dividing "
        "again in the layer applies 1/N twice.",
        "bias-gradient",
    ),
    _mistake(
        "dx-not-reshaped",
        "dx is not reshaped to the shape of x",
        "The input was flattened in the forward pass, so the gradient must be reshaped back: "
        "dx has exactly the shape of x.",
        "dense-backward",
    ),
)


def _dense_backward_variants(x, w, dout):
    n = x.shape[0]
    dx, dw, db = ref.dense_backward(dout, (x, w))
    variants = {
        "dense-sign": {"dx": -dx, "dw": -dw, "db": -db},
        "dense-dw-transposed": {"dx": dx, "dw": dw.T, "db": db},
        "bias-not-summed": {"dx": dx, "dw": dw, "db": dout},
        "bias-averaged": {"dx": dx, "dw": dw, "db": db / n},
        "batch-averaged-in-layer": {"dx": dx, "dw": dw / n, "db": db / n},
        "dx-not-reshaped": {"dx": dx.reshape(n, -1), "dw": dw, "db": db},
    }
    if w.shape[0] == w.shape[1]:
        variants["dense-transposed-weight"] = {
            "dx": (dout @ w).reshape(x.shape),
            "dw": dw,
            "db": db,
        }
    return variants


def dense_backward_cases(rng: np.random.Generator) -> list[Case]:
    shapes = [
        ("a random batch", (6, 5), 3),
        ("a square weight matrix", (4, 3), 3),
        ("images (N, C, H, W) to flatten", (3, 2, 2, 2), 4),
        ("a batch of one", (1, 4), 2),
    ]
    steps = steps_forward_backward(
        "dense_forward", "dense_backward", ["w", "b"], ["dx", "dw", "db"]
    )
    cases = []
    for index, (label, xshape, units) in enumerate(shapes):
        d = int(np.prod(xshape[1:]))
        x, w, b = rng.normal(size=xshape), rng.normal(size=(d, units)), rng.normal(size=units)
        dout = rng.normal(size=(xshape[0], units))
        dx, dw, db = ref.dense_backward(dout, ref.dense_forward(x, w, b)[1])
        inputs = {"x": x, "w": w, "b": b, "dout": dout}
        expected = {"dx": dx, "dw": dw, "db": db}
        variants = _dense_backward_variants(x, w, dout)
        send = ["dx", "dw", "db"]
        cases.append(
            make_case("dense_backward", index, label, steps, send, inputs, expected, variants)
        )
    return cases


# -------------------------------------------------------------------------------- sigmoid

SIGMOID_MISTAKES = (
    _mistake(
        "sigmoid-derivative-at-input",
        "The sigmoid derivative is evaluated at the input",
        "s * (1 - s) must be computed from the output s = sigmoid(x). You used x * (1 - x), "
        "the formula evaluated at the input.",
        "activation-backward",
    ),
    _mistake(
        "sigmoid-applied-twice",
        "The sigmoid is applied again in the backward pass",
        "The cache already holds s = sigmoid(x). Computing sigmoid(s) * (1 - sigmoid(s)) "
        "applies the sigmoid twice.",
        "activation-backward",
    ),
    _mistake(
        "sigmoid-no-upstream",
        "The upstream gradient dout is not multiplied in",
        "By the chain rule, dx = dout * s * (1 - s): the local derivative times the "
        "gradient arriving from above.",
        "activation-backward",
    ),
    _mistake(
        "sigmoid-unstable",
        "The sigmoid overflows for large inputs",
        "For inputs of large magnitude np.exp overflows to inf and inf / inf gives NaN. "
        "Compute exp only of -|x|: for x >= 0 use 1 / (1 + exp(-x)), for x < 0 use "
        "exp(x) / (1 + exp(x)).",
        "activation-backward",
    ),
)


def sigmoid_cases(rng: np.random.Generator) -> list[Case]:
    large = rng.choice([-1.0, 1.0], size=(4, 5)) * rng.uniform(50.0, 1000.0, size=(4, 5))
    # Both signs beyond exp's overflow point (709.78) and at the largest magnitude, a zero
    # and two small values, on every seed.
    large = planted(rng, large, [1000.0, -1000.0, 750.0, -750.0, 0.0, 0.5, -0.25])
    inputs_list = [
        ("a random batch", rng.normal(size=(6, 4)) * 3.0),
        ("inputs of large magnitude (up to 1000)", large),
        ("a batch of one", rng.normal(size=(1, 3))),
    ]
    steps = steps_forward_backward("sigmoid_forward", "sigmoid_backward", [], ["dx"])
    cases = []
    for index, (label, x) in enumerate(inputs_list):
        dout = rng.normal(size=x.shape)
        out, s = ref.sigmoid_forward(x)
        dx = ref.sigmoid_backward(dout, s)
        with np.errstate(all="ignore"):
            twice = ref.sigmoid(s)
            variants = {
                "sigmoid-derivative-at-input": {"out": out, "dx": dout * x * (1 - x)},
                "sigmoid-applied-twice": {"out": out, "dx": dout * twice * (1 - twice)},
                "sigmoid-no-upstream": {"out": out, "dx": s * (1 - s)},
            }
        inputs = {"x": x, "dout": dout}
        expected = {"out": out, "dx": dx}
        cases.append(
            make_case("sigmoid", index, label, steps, ["out", "dx"], inputs, expected, variants)
        )
    return cases


# ----------------------------------------------------------------------------------- relu

RELU_MISTAKES = (
    convention(
        _mistake(
            "relu-gradient-one-at-zero",
            "ReLU's gradient at exactly 0 is 1",
            "You passed the gradient through where x == 0 (x >= 0). This course fixes the "
            "subgradient at 0 to 0 (x > 0), as PyTorch's relu does; clamp(min=0) picks 1. With "
            "integer-valued data exact zeros are common, so the two give different gradients.",
            "relu-at-zero",
        )
    ),
    _mistake(
        "relu-no-upstream",
        "The upstream gradient dout is not multiplied in",
        "dx = dout * (x > 0): the mask selects which entries of dout pass through.",
        "activation-backward",
    ),
    _mistake(
        "relu-mask-inverted",
        "The mask is inverted",
        "The gradient must pass where the input was positive and be blocked where it was "
        "negative; yours does the opposite.",
        "activation-backward",
    ),
)


def relu_cases(rng: np.random.Generator) -> list[Case]:
    inputs_list = [
        ("a random batch", rng.normal(size=(5, 6))),
        ("integer-valued data with exact zeros", rng.integers(-2, 3, size=(4, 5)).astype(float)),
        ("a batch of one", rng.normal(size=(1, 4))),
    ]
    inputs_list[1][1][0, 0] = 0.0
    steps = steps_forward_backward("relu_forward", "relu_backward", [], ["dx"])
    cases = []
    for index, (label, x) in enumerate(inputs_list):
        dout = rng.normal(size=x.shape)
        out, _ = ref.relu_forward(x)
        dx = ref.relu_backward(dout, x)
        variants = {
            "relu-no-upstream": {"out": out, "dx": (x > 0).astype(float)},
            "relu-mask-inverted": {"out": out, "dx": dout * (x <= 0)},
        }
        if np.any(x == 0):
            variants["relu-gradient-one-at-zero"] = {"out": out, "dx": dout * (x >= 0)}
        inputs = {"x": x, "dout": dout}
        expected = {"out": out, "dx": dx}
        cases.append(
            make_case("relu", index, label, steps, ["out", "dx"], inputs, expected, variants)
        )
    return cases


# ------------------------------------------------------------------------------------ mse

MSE_MISTAKES = (
    _mistake(
        "mse-sign",
        "The derivative of the MSE has the wrong sign",
        "d loss / d pred = (pred - y) / N. You returned (y - pred) / N, which points "
        "towards lower values of the prediction where the loss grows: with the usual update "
        "w -= lr * dw this climbs the loss instead of descending it.",
        "sign-conventions",
    ),
    _mistake(
        "mse-no-batch-mean",
        "The loss and its gradient are not averaged over the batch",
        "The loss is sum((pred - y)**2) / (2 N), its gradient (pred - y) / N. Without the "
        "1/N, the gradient grows with the batch size and so does the effective step.",
        "mse-loss",
    ),
    _mistake(
        "mse-double-mean",
        "The gradient is divided by the batch size twice",
        "The gradient is (pred - y) / N, with a single 1/N.",
        "mse-loss",
    ),
    _mistake(
        "mse-no-half",
        "The 1/2 of the loss is missing",
        "This course's MSE is sum((pred - y)**2) / (2 N); the 1/2 cancels the 2 of the square, "
        "so the gradient is (pred - y) / N, not 2 (pred - y) / N.",
        "mse-loss",
    ),
    _mistake(
        "mse-mean-over-all-entries",
        "The mean is taken over every entry instead of over the batch",
        "N is the batch size (axis 0), not the number of entries: np.mean over the whole "
        "array also divides by the number of outputs per example.",
        "mse-loss",
    ),
)


def mse_cases(rng: np.random.Generator) -> list[Case]:
    inputs_list = [
        ("a random batch with 3 outputs", rng.normal(size=(8, 3)), rng.normal(size=(8, 3))),
        ("a batch of one", rng.normal(size=(1, 2)), rng.normal(size=(1, 2))),
    ]
    same = rng.normal(size=(4, 2))
    inputs_list.append(("predictions equal to the targets", same, same.copy()))
    steps = [{"call": "mse_loss", "args": [{"in": "pred"}, {"in": "y"}], "save": ["loss", "dpred"]}]
    cases = []
    for index, (label, pred, y) in enumerate(inputs_list):
        loss, dpred = mse_loss(pred, y)
        n, size, diff = pred.shape[0], pred.size, pred - y
        sq = float(np.sum(diff**2))
        variants = {
            "mse-sign": {"loss": loss, "dpred": -dpred},
            "mse-no-batch-mean": {"loss": 0.5 * sq, "dpred": diff},
            "mse-double-mean": {"loss": loss, "dpred": dpred / n},
            "mse-no-half": {"loss": sq / n, "dpred": 2 * dpred},
            "mse-mean-over-all-entries": {"loss": 0.5 * sq / size, "dpred": diff / size},
        }
        if label.startswith("predictions equal"):
            variants = {}
        inputs = {"pred": pred, "y": y}
        expected = {"loss": np.float64(loss), "dpred": dpred}
        send = ["loss", "dpred"]
        cases.append(make_case("mse", index, label, steps, send, inputs, expected, variants))
    return cases


CHECKS = AssignmentChecks(
    name="assignment1",
    notebook="assignment1",
    limits=Limits(probe_seconds=5.0, cell_seconds=10.0, total_seconds=90.0),
    parts=(
        Part(
            "test_dense_forward",
            "Dense layer, forward",
            ("dense_forward",),
            f"{PAGE}#dense-forward",
            DENSE_FORWARD_MISTAKES,
            dense_forward_cases,
        ),
        Part(
            "test_dense_backward",
            "Dense layer, backward",
            ("dense_forward", "dense_backward"),
            f"{PAGE}#dense-backward",
            DENSE_BACKWARD_MISTAKES,
            dense_backward_cases,
        ),
        Part(
            "test_sigmoid",
            "Sigmoid, forward and backward",
            ("sigmoid_forward", "sigmoid_backward"),
            f"{PAGE}#activation-backward",
            SIGMOID_MISTAKES,
            sigmoid_cases,
            nonfinite_mistake="sigmoid-unstable",
        ),
        Part(
            "test_relu",
            "ReLU, forward and backward",
            ("relu_forward", "relu_backward"),
            f"{PAGE}#relu-at-zero",
            RELU_MISTAKES,
            relu_cases,
        ),
        Part(
            "test_mse",
            "Mean squared error",
            ("mse_loss",),
            f"{PAGE}#mse-loss",
            MSE_MISTAKES,
            mse_cases,
            scalars=frozenset({"loss"}),
        ),
    ),
)
