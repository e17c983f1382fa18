"""Hidden checks of assignment 2: one sigmoid neuron on AND, a hidden layer for XOR.

Besides gradients on random batches, each part trains the student's model from a start
and a learning rate drawn for that student and compares the trained weights with the
reference trajectory (full-batch gradient descent on the course's MSE), so a wrong
update shows up even when the gradients are right.
"""

from __future__ import annotations

import numpy as np
from numpy_backprop import layers as ref
from numpy_backprop.data import and_or_xor
from numpy_backprop.losses import mse_loss

from ..sandbox import Limits
from .base import UPSTREAM_WARN, AssignmentChecks, Case, Changed, Mistake, Part, make_case

PAGE = "book/bias.html"
DENSE_PAGE = "book/backprop-dense.html"
AND_STEPS = 500
XOR_STEPS = 1000


def _mistake(code, title, explanation, label, page=PAGE):
    return Mistake(code, title, explanation, f"{page}#{label}")


# Training may not update the caller's starting parameters in place without a warning.
TRAIN_INPUTS = (
    *UPSTREAM_WARN,
    *(
        Changed(
            pattern,
            "warn",
            "Your training function updated the starting parameters it was given in place "
            "(w -= lr * dw on the caller's array). It returns the right result, but the "
            "caller's starting point is gone: training twice from the same start, as this "
            "notebook's experiments do, then starts the second run where the first ended. "
            "Copy the parameters first (w = w.copy()).",
            "train_*",
        )
        for pattern in ("w*", "b*")
    ),
)


def _bits(name: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = and_or_xor(name)
    return x, y.reshape(-1, 1).astype(np.float64)


# ---------------------------------------------------------------------- reference models


def neuron(x, w, b, *, with_bias=True):
    """Reference neuron: (a (N, 1), cache) with the reference dense and sigmoid layers."""
    z, dense_cache = ref.dense_forward(x, w, b if with_bias else np.zeros_like(b))
    a, sigmoid_cache = ref.sigmoid_forward(z)
    return a, (dense_cache, sigmoid_cache)


def neuron_grads(da, cache, *, derivative=True):
    """(dx, dw, db) of the reference neuron; derivative=False skips the sigmoid's."""
    dense_cache, a = cache
    dz = ref.sigmoid_backward(da, a) if derivative else da
    return ref.dense_backward(dz, dense_cache)


def train_neuron(x, y, w, b, lr, steps, use_bias=True, *, sign=1.0, with_bias=True):
    """Reference trainer (sign=-1: gradient ascent; with_bias=False: b left out of z)."""
    for _ in range(steps):
        a, cache = neuron(x, w, b, with_bias=with_bias)
        _, dw, db = neuron_grads(mse_loss(a, y)[1], cache)
        w = w - sign * lr * dw
        if use_bias:
            b = b - sign * lr * db
    return w, b


def two_layer(x, w1, b1, w2, b2):
    z1, cache1 = ref.dense_forward(x, w1, b1)
    h, _ = ref.sigmoid_forward(z1)
    z2, cache2 = ref.dense_forward(h, w2, b2)
    out, _ = ref.sigmoid_forward(z2)
    return out, (cache1, h, cache2, out)


def two_layer_grads(dout, cache, *, hidden_derivative=True):
    """(dx, dw1, db1, dw2, db2); hidden_derivative=False skips the hidden sigmoid's."""
    cache1, h, cache2, out = cache
    dh, dw2, db2 = ref.dense_backward(ref.sigmoid_backward(dout, out), cache2)
    dz1 = ref.sigmoid_backward(dh, h) if hidden_derivative else dh
    dx, dw1, db1 = ref.dense_backward(dz1, cache1)
    return dx, dw1, db1, dw2, db2


def train_two_layer(x, y, params, lr, steps, *, train_hidden=True):
    params = list(params)
    for _ in range(steps):
        out, cache = two_layer(x, *params)
        grads = two_layer_grads(mse_loss(out, y)[1], cache)[1:]
        first = 0 if train_hidden else 2
        for k in range(first, 4):
            params[k] = params[k] - lr * grads[k]
    return params


def accuracy(a, y) -> float:
    return float(np.mean((a > 0.5) == (y > 0.5)))


def learned(a, y) -> bool:
    """All right, and no output within 0.1 of the threshold (so rounding cannot flip one)."""
    return accuracy(a, y) == 1.0 and float(np.min(np.abs(a - 0.5))) > 0.1


# --------------------------------------------------------------------------- the neuron

NEURON_MISTAKES = (
    _mistake(
        "no-bias",
        "The neuron has no bias: its boundary passes through the origin",
        "Your output is sigmoid(x @ w), without b. Without a bias the decision boundary "
        "w . x = 0 always runs through the origin, the input (0, 0) always gets 0.5, and "
        "no such line separates AND (learner question Q6). Use a = sigmoid(x @ w + b).",
        "and-without-bias",
    ),
    _mistake(
        "bias-not-summed",
        "The bias gradient is not summed over the batch",
        "b is shared by every example, so db adds up their contributions: "
        "db = dz.sum(axis=0), shape (1,) like b. Returning dz itself gives shape (N, 1).",
        "bias-gradient",
        DENSE_PAGE,
    ),
    _mistake(
        "activation-derivative-missing",
        "The sigmoid's derivative is missing from the backward pass",
        "The neuron's output is a = sigmoid(z), so the chain rule gives dz = da * a * (1 - a) "
        "before the dense part. You passed da straight through to dw, db and dx.",
        "activation-backward",
        DENSE_PAGE,
    ),
    _mistake(
        "update-sign",
        "The update climbs the loss: its sign is wrong",
        "Gradient descent moves against the gradient: param = param - lr * grad. Adding "
        "lr * grad is gradient ascent, and the loss grows instead of falling.",
        "sign-conventions",
        DENSE_PAGE,
    ),
)


def _neuron_grad_case(index, label, x, w, b, da) -> Case:
    a, cache = neuron(x, w, b)
    dx, dw, db = neuron_grads(da, cache)
    a0, cache0 = neuron(x, w, b, with_bias=False)
    variants = {
        "no-bias": dict(zip(["a", "dx", "dw", "db"], [a0, *neuron_grads(da, cache0)], strict=True)),
        "bias-not-summed": {"a": a, "dx": dx, "dw": dw, "db": ref.sigmoid_backward(da, a)},
        "activation-derivative-missing": dict(
            zip(
                ["a", "dx", "dw", "db"],
                [a, *neuron_grads(da, cache, derivative=False)],
                strict=True,
            )
        ),
    }
    steps = [
        {"call": "neuron_forward", "args": [{"in": "x"}, {"in": "w"}, {"in": "b"}]},
        {"call": "neuron_backward", "args": [{"in": "da"}, {"var": "cache"}]},
    ]
    steps[0]["save"], steps[1]["save"] = ["a", "cache"], ["dx", "dw", "db"]
    inputs = {"x": x, "w": w, "b": b, "da": da}
    expected = {"a": a, "dx": dx, "dw": dw, "db": db}
    send = ["a", "dx", "dw", "db"]
    return make_case("neuron", index, label, steps, send, inputs, expected, variants)


def _train_steps(lr: float, steps: int, use_bias: bool):
    args = [{"in": n} for n in ["x", "y", "w", "b"]]
    args += [{"lit": lr}, {"lit": steps}, {"lit": use_bias}]
    return [
        {"call": "train_neuron", "args": args, "save": ["w1", "b1", "losses"]},
        {
            "call": "neuron_forward",
            "args": [{"in": "x"}, {"var": "w1"}, {"var": "b1"}],
            "save": ["a", "cache"],
        },
        {"call": "accuracy", "args": [{"var": "a"}, {"in": "y"}], "save": ["acc"]},
    ]


def _neuron_train_case(index, label, w, b, lr, steps, use_bias) -> Case:
    x, y = _bits("and")
    w1, b1 = train_neuron(x, y, w, b, lr, steps, use_bias)
    send = ["w1", "b1", "acc"]

    def outputs(w_end, b_end, with_bias=True):
        a = neuron(x, w_end, b_end, with_bias=with_bias)[0]
        return {"w1": w_end, "b1": b_end, "acc": accuracy(a, y)}

    variants = {"update-sign": outputs(*train_neuron(x, y, w, b, lr, steps, use_bias, sign=-1.0))}
    if use_bias:
        end = train_neuron(x, y, w, b, lr, steps, use_bias, with_bias=False)
        variants["no-bias"] = outputs(*end, with_bias=False)
    probe = _train_steps(lr, steps, use_bias)
    inputs = {"x": x, "y": y, "w": w, "b": b}
    return make_case("neuron", index, label, probe, send, inputs, outputs(w1, b1), variants)


def neuron_cases(rng: np.random.Generator) -> list[Case]:
    shapes = [("a random batch", 6, 3), ("a batch of one", 1, 2)]
    cases = []
    for label, n, d in shapes:
        x, w, b = rng.normal(size=(n, d)), rng.normal(size=(d, 1)), rng.normal(size=1)
        cases.append(_neuron_grad_case(len(cases), label, x, w, b, rng.normal(size=(n, 1))))
    x = rng.normal(size=(5, 4)) * 8.0
    w, b, da = rng.normal(size=(4, 1)), rng.normal(size=1), rng.normal(size=(5, 1))
    label = "saturated outputs (inputs up to about 25)"
    cases.append(_neuron_grad_case(len(cases), label, x, w, b, da))
    x_and, y_and = _bits("and")
    for _ in range(20):  # a start from which the reference learns AND in AND_STEPS steps
        w, b, lr = rng.normal(size=(2, 1)), rng.normal(size=1), float(rng.choice([3.0, 4.0]))
        w_end, b_end = train_neuron(x_and, y_and, w, b, lr, AND_STEPS)
        if learned(neuron(x_and, w_end, b_end)[0], y_and):
            break
    label = f"training on AND from a random start, lr = {lr:g}, {AND_STEPS} steps"
    cases.append(_neuron_train_case(len(cases), label, w, b, lr, AND_STEPS, True))
    w, lr = rng.normal(size=(2, 1)), float(rng.choice([1.0, 2.0]))
    label = f"training on AND without a bias (use_bias=False, b = 0), lr = {lr:g}, 50 steps"
    cases.append(_neuron_train_case(len(cases), label, w, np.zeros(1), lr, 50, False))
    return cases


# ---------------------------------------------------------------------------- XOR network

XOR_MISTAKES = (
    _mistake(
        "single-neuron-for-xor",
        "The network stops after one layer: a single layer cannot represent XOR",
        "Your output has the shape of the hidden layer, (N, H), instead of (N, K): the "
        "output layer sigmoid(h @ w2 + b2) is missing. One layer of sigmoid neurons draws "
        "straight lines only, and no straight line separates XOR; a single neuron trained "
        "on it settles at 0.5 for every input (learner question Q16).",
        "xor-hidden-layer",
    ),
    _mistake(
        "hidden-derivative-missing",
        "The hidden layer's sigmoid derivative is missing",
        "After dh = dz2 @ w2.T comes the hidden sigmoid: dz1 = dh * h * (1 - h), and only "
        "then dw1 = x.T @ dz1 and db1 = dz1.sum(axis=0). Your dw1, db1 and dx skip h * (1 - h).",
        "xor-hidden-layer",
    ),
    _mistake(
        "hidden-layer-not-updated",
        "Only the output layer is trained",
        "Your trainer updates w2 and b2 but leaves w1 and b1 at their starting values. The "
        "hidden layer must learn its features too: with random fixed hidden units XOR is "
        "often out of reach. Update all four arrays: p = p - lr * dp.",
        "xor-hidden-layer",
    ),
)

GRAD_NAMES = ["dx", "dw1", "db1", "dw2", "db2"]


def _xor_grad_case(index, label, n, d, h, k, rng) -> Case:
    x = rng.normal(size=(n, d))
    params = [rng.normal(size=s) for s in [(d, h), (h,), (h, k), (k,)]]
    dout = rng.normal(size=(n, k))
    out, cache = two_layer(x, *params)
    grads = two_layer_grads(dout, cache)
    wrong = two_layer_grads(dout, cache, hidden_derivative=False)
    variants = {
        "hidden-derivative-missing": dict(zip(["out", *GRAD_NAMES], [out, *wrong], strict=True))
    }
    names = ["x", "w1", "b1", "w2", "b2"]
    steps = [
        {"call": "two_layer_forward", "args": [{"in": v} for v in names], "save": ["out", "c"]},
        {"call": "two_layer_backward", "args": [{"in": "dout"}, {"var": "c"}], "save": GRAD_NAMES},
    ]
    inputs = dict(zip(names, [x, *params], strict=True)) | {"dout": dout}
    expected = dict(zip(["out", *GRAD_NAMES], [out, *grads], strict=True))
    send = ["out", *GRAD_NAMES]
    return make_case("xor", index, label, steps, send, inputs, expected, variants)


def _xor_forward_case(index, rng) -> Case:
    x, _ = _bits("xor")
    params = [rng.normal(size=s) for s in [(2, 3), (3,), (3, 1), (1,)]]
    out, _ = two_layer(x, *params)
    one_layer = ref.sigmoid(x @ params[0] + params[1])
    names = ["x", "w1", "b1", "w2", "b2"]
    steps = [
        {"call": "two_layer_forward", "args": [{"in": v} for v in names], "save": ["out", "c"]}
    ]
    variants = {"single-neuron-for-xor": {"out": one_layer}}
    label = "the forward pass on the four XOR inputs, 3 hidden units"
    inputs = dict(zip(names, [x, *params], strict=True))
    return make_case("xor", index, label, steps, ["out"], inputs, {"out": out}, variants)


def _xor_train_case(index, rng) -> Case:
    x, y = _bits("xor")
    hidden = int(rng.choice([3, 4]))
    lr = float(rng.choice([4.0, 5.0, 6.0]))
    for _ in range(20):  # a start from which the reference learns XOR in XOR_STEPS steps
        params = [rng.normal(size=s) for s in [(2, hidden), (hidden,), (hidden, 1), (1,)]]
        trained = train_two_layer(x, y, params, lr, XOR_STEPS)
        if learned(two_layer(x, *trained)[0], y):
            break
    names = ["w1", "b1", "w2", "b2"]
    ends = [f"{n}_end" for n in names]

    def outputs(end):
        return dict(zip(ends, end, strict=True)) | {"acc": accuracy(two_layer(x, *end)[0], y)}

    frozen = train_two_layer(x, y, params, lr, XOR_STEPS, train_hidden=False)
    variants = {"hidden-layer-not-updated": outputs(frozen)}
    args = [{"in": v} for v in ["x", "y", *names]] + [{"lit": lr}, {"lit": XOR_STEPS}]
    steps = [
        {"call": "train_two_layer", "args": args, "save": [*ends, "losses"]},
        {
            "call": "two_layer_forward",
            "args": [{"in": "x"}, *({"var": e} for e in ends)],
            "save": ["out", "c"],
        },
        {"call": "accuracy", "args": [{"var": "out"}, {"in": "y"}], "save": ["acc"]},
    ]
    inputs = dict(zip(names, params, strict=True)) | {"x": x, "y": y}
    label = f"training on XOR, {hidden} hidden units, lr = {lr:g}, {XOR_STEPS} steps"
    send = [*ends, "acc"]
    return make_case("xor", index, label, steps, send, inputs, outputs(trained), variants)


def xor_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _xor_grad_case(0, "a random batch (D = 3, H = 4, K = 2)", 5, 3, 4, 2, rng),
        _xor_grad_case(1, "a batch of one (D = 2, H = 3, K = 1)", 1, 2, 3, 1, rng),
        _xor_forward_case(2, rng),
        _xor_train_case(3, rng),
    ]


CHECKS = AssignmentChecks(
    name="assignment2",
    notebook="assignment2",
    limits=Limits(probe_seconds=20.0, cell_seconds=10.0, total_seconds=120.0),
    parts=(
        Part(
            "test_neuron",
            "One sigmoid neuron on AND, with and without a bias",
            ("neuron_forward", "neuron_backward", "train_neuron"),
            f"{PAGE}#and-without-bias",
            NEURON_MISTAKES,
            neuron_cases,
            scalars=frozenset({"acc"}),
            changes=TRAIN_INPUTS,
        ),
        Part(
            "test_xor",
            "A hidden layer for XOR",
            ("two_layer_forward", "two_layer_backward", "train_two_layer"),
            f"{PAGE}#xor-hidden-layer",
            XOR_MISTAKES,
            xor_cases,
            scalars=frozenset({"acc"}),
            changes=TRAIN_INPUTS,
        ),
    ),
)
