"""Hidden checks of assignment 3: output deltas of three losses taken on logits.

The cases include saturated sigmoid outputs (where the sigmoid derivative matters most),
logits up to 1e4 (where an unshifted softmax or a log of a rounded probability gives NaN
or inf), a batch of one and a batch with as many examples as classes, where treating
integer labels as one-hot rows broadcasts without an error.
"""

from __future__ import annotations

import numpy as np
from numpy_backprop import layers as ref
from numpy_backprop import losses

from ..sandbox import Limits
from .base import AssignmentChecks, Case, Mistake, Part, make_case, planted

PAGE = "book/output-deltas.html"
DENSE_PAGE = "book/backprop-dense.html"


def _mistake(code, title, explanation, label, page=PAGE):
    return Mistake(code, title, explanation, f"{page}#{label}")


def _loss_steps(function: str):
    return [{"call": function, "args": [{"in": "z"}, {"in": "y"}], "save": ["loss", "dz"]}]


def _expected(loss, dz):
    return {"loss": np.float64(loss), "dz": dz}


# ------------------------------------------------------------------- sigmoid with MSE

MSE_MISTAKES = (
    _mistake(
        "mse-output-delta-without-derivative",
        "The sigmoid derivative is missing from the squared-error delta",
        "With squared error nothing cancels the sigmoid's derivative: dz = (a - y) * a * "
        "(1 - a) / N. The short delta (a - y) / N belongs to cross-entropy (or to a linear "
        "output); with a saturated sigmoid the two differ most.",
        "delta-mse-sigmoid",
    ),
    _mistake(
        "mse-output-no-batch-mean",
        "The loss and its delta are not averaged over the batch",
        "The loss is sum((a - y)**2) / (2 N) and dz carries the same 1/N, with N the batch "
        "size (axis 0). Without it the gradient grows with the batch.",
        "mse-loss",
        DENSE_PAGE,
    ),
)


def sigmoid_mse_cases(rng: np.random.Generator) -> list[Case]:
    saturated = rng.choice([-1.0, 1.0], size=(4, 3)) * rng.uniform(4.0, 12.0, size=(4, 3))
    inputs_list = [
        ("a random batch with 3 outputs", rng.normal(size=(6, 3)) * 2.0, rng.uniform(size=(6, 3))),
        ("a batch of one", rng.normal(size=(1, 2)), rng.uniform(size=(1, 2))),
        ("saturated outputs with the opposite targets", saturated, (saturated < 0) * 1.0),
        ("a vector of 5 single outputs", rng.normal(size=5), rng.integers(0, 2, size=5) * 1.0),
    ]
    steps = _loss_steps("sigmoid_mse_loss")
    cases = []
    for index, (label, z, y) in enumerate(inputs_list):
        n = z.shape[0]
        a = ref.sigmoid(z)
        loss, da = losses.mse_loss(a, y)
        dz = ref.sigmoid_backward(da, a)
        variants = {
            "mse-output-delta-without-derivative": _expected(loss, da),
            "mse-output-no-batch-mean": _expected(loss * n, dz * n),
        }
        inputs = {"z": z, "y": y}
        cases.append(
            make_case(
                "sigmoid_mse",
                index,
                label,
                steps,
                ["loss", "dz"],
                inputs,
                _expected(loss, dz),
                variants,
            )
        )
    return cases


# ---------------------------------------------------------- sigmoid with cross-entropy

BCE_MISTAKES = (
    _mistake(
        "sigmoid-derivative-under-ce",
        "The sigmoid derivative is kept in the cross-entropy delta",
        "Under cross-entropy the derivative of the loss with respect to a is "
        "(a - y) / (a (1 - a) N); multiplied by the sigmoid's derivative a (1 - a) the two "
        "cancel, and the delta is simply (a - y) / N. Multiplying by a (1 - a) once more "
        "shrinks the gradient by a factor of at least 4 (learner question Q7).",
        "sigmoid-derivative-under-ce",
    ),
    _mistake(
        "bce-unstable",
        "The loss overflows or takes the log of 0 for large logits",
        "sigmoid(40.0) is exactly 1.0 in float64, so log(1 - a) is -inf, and 0 * -inf is "
        "NaN. Work on the logits: each term equals max(z, 0) - z * y + log1p(exp(-|z|)), "
        "which is finite for every finite z.",
        "logits",
    ),
    _mistake(
        "bce-sign",
        "The delta has the wrong sign",
        "dz = (sigmoid(z) - y) / N: prediction minus target. You returned target minus "
        "prediction, which makes the usual update w -= lr * dw climb the loss.",
        "loss-sign",
    ),
    _mistake(
        "bce-mean-over-all-entries",
        "The loss is averaged over every entry instead of over the batch",
        "N is the batch size (axis 0): the loss is the sum over the outputs of each example, "
        "averaged over the examples, and dz = (sigmoid(z) - y) / N. np.mean over the whole "
        "array also divides by the number of outputs per example.",
        "delta-sigmoid-ce",
    ),
    _mistake(
        "bce-double-mean",
        "The delta is divided by the batch size twice",
        "The loss is a mean over the batch, so dz = (sigmoid(z) - y) / N carries one 1/N. "
        "Dividing again (for example once more in the layer) makes the step N times too small.",
        "delta-sigmoid-ce",
    ),
)


def sigmoid_bce_cases(rng: np.random.Generator) -> list[Case]:
    large = rng.choice([-1.0, 1.0], size=(4, 5)) * rng.uniform(40.0, 1000.0, size=(4, 5))
    large = planted(rng, large, [1e4, -1e4, 750.0, -750.0, 40.0, -40.0])  # every seed
    inputs_list = [
        (
            "a random batch with 3 outputs",
            rng.normal(size=(6, 3)) * 2.0,
            rng.integers(0, 2, (6, 3)),
        ),
        ("soft targets in [0, 1]", rng.normal(size=5) * 3.0, rng.uniform(size=5)),
        ("a batch of one", rng.normal(size=(1, 4)), rng.integers(0, 2, size=(1, 4))),
        ("logits of large magnitude (40 to 1e4)", large, rng.integers(0, 2, size=(4, 5))),
    ]
    steps = _loss_steps("sigmoid_bce_loss")
    cases = []
    for index, (label, z, y) in enumerate(inputs_list):
        y = y.astype(np.float64)
        n = z.shape[0]
        loss, dz = losses.sigmoid_bce_loss(z, y)
        a = ref.sigmoid(z)
        variants = {
            "sigmoid-derivative-under-ce": _expected(loss, dz * a * (1.0 - a)),
            "bce-sign": _expected(loss, -dz),
            "bce-double-mean": _expected(loss, dz / n),
        }
        if n == 1:
            del variants["bce-double-mean"]
        if z.size > n:  # several outputs per example
            variants["bce-mean-over-all-entries"] = _expected(loss * n / z.size, dz * n / z.size)
        inputs = {"z": z, "y": y}
        cases.append(
            make_case(
                "sigmoid_bce",
                index,
                label,
                steps,
                ["loss", "dz"],
                inputs,
                _expected(loss, dz),
                variants,
            )
        )
    return cases


# ---------------------------------------------------------- softmax with cross-entropy

SOFTMAX_MISTAKES = (
    _mistake(
        "softmax-one-hot-not-subtracted",
        "The one-hot target is not subtracted from the softmax",
        "The delta of softmax with cross-entropy is (softmax(z) - onehot(y)) / N: the "
        "probabilities minus the one-hot of the labels. Without the one-hot every delta is "
        "positive, and training only pushes every logit down.",
        "delta-softmax-ce",
    ),
    _mistake(
        "softmax-unstable",
        "The softmax overflows (or a probability rounds to 0) for large logits",
        "np.exp(1000.0) is inf, and inf / inf is NaN. Subtract each row's maximum before "
        "exp (the softmax does not change), and compute log-softmax as "
        "shifted - log(sum(exp(shifted))) rather than log(softmax): a probability that "
        "rounds to 0 would give log(0) = -inf.",
        "stable-softmax",
    ),
    _mistake(
        "softmax-ce-no-batch-mean",
        "The loss and its delta are not averaged over the batch",
        "The loss is the mean over the batch of -log p[i, y_i], and the delta is "
        "(softmax(z) - onehot(y)) / N with the same 1/N.",
        "delta-softmax-ce",
    ),
    _mistake(
        "softmax-derivative-under-ce",
        "The delta is multiplied by the softmax's derivative p (1 - p)",
        "Under cross-entropy the whole Jacobian of the softmax cancels against the log: "
        "the delta is (softmax(z) - onehot(y)) / N, with no extra p (1 - p) factor "
        "(the softmax version of learner question Q7).",
        "sigmoid-derivative-under-ce",
    ),
    _mistake(
        "labels-as-columns",
        "The labels select whole columns instead of one entry per row",
        "p[:, y] takes, for every example, the columns of ALL labels of the batch. Each "
        "example has one label: use p[np.arange(N), y], and subtract 1 at those same "
        "positions in the delta.",
        "delta-softmax-ce",
    ),
    _mistake(
        "labels-used-as-one-hot",
        "Integer labels are used as if they were one-hot rows",
        "y holds one integer per example, shape (N,). Using it in place of a one-hot "
        "matrix (p - y, y * log p) broadcasts y along the classes when N == C and gives "
        "nonsense without an error. Build the one-hot rows (np.eye(C)[y]) or index with "
        "p[np.arange(N), y].",
        "delta-softmax-ce",
    ),
    _mistake(
        "softmax-wrong-axis",
        "The softmax is normalised over the batch instead of over the classes",
        "Each example gets its own distribution over the C classes: take the max, the exp "
        "sums and the normalisation along axis 1 (the classes), with keepdims=True, not "
        "along axis 0 (the batch).",
        "stable-softmax",
    ),
)


def _softmax_variants(z: np.ndarray, y: np.ndarray, loss: float, dz: np.ndarray) -> dict:
    n, c = z.shape
    rows = np.arange(n)
    p = losses.softmax(z, axis=1)
    onehot = np.eye(c)[y]
    variants = {
        "softmax-one-hot-not-subtracted": _expected(loss, p / n),
        "softmax-ce-no-batch-mean": _expected(loss * n, dz * n),
        "softmax-derivative-under-ce": _expected(loss, dz * p * (1.0 - p)),
    }
    logp = losses.log_softmax(z, axis=1)
    columns = p.copy()
    columns[:, y] -= 1.0  # repeated labels subtract once, as in the student's code
    variants["labels-as-columns"] = _expected(-np.mean(logp[:, y]), columns / n)
    if n in (1, c):  # where y broadcasts along the classes without an error
        variants["labels-used-as-one-hot"] = _expected(-np.sum(y * logp) / n, (p - y) / n)
    logp0 = losses.log_softmax(z, axis=0)
    dz0 = (np.exp(logp0) - onehot) / n
    variants["softmax-wrong-axis"] = _expected(-np.sum(logp0[rows, y]) / n, dz0)
    return variants


def softmax_cases(rng: np.random.Generator) -> list[Case]:
    large = rng.uniform(1e3, 1e4, size=(5, 4)) * rng.choice([-1.0, 1.0], size=(5, 4))
    large_y = rng.integers(0, 4, size=5)
    large_y[0] = int(np.argmin(large[0]))  # a correct class far below the row's maximum
    inputs_list = [
        ("a random batch of 7 examples, 4 classes", rng.normal(size=(7, 4)) * 2.0, 7, 4),
        ("as many examples as classes (5)", rng.normal(size=(5, 5)) * 2.0, 5, 5),
        ("a batch of one", rng.normal(size=(1, 3)), 1, 3),
        ("logits of large magnitude (1e3 to 1e4)", large, 5, 4),
        ("equal logits (the loss is ln C)", np.zeros((4, 6)), 4, 6),
    ]
    steps = _loss_steps("softmax_cross_entropy")
    cases = []
    for index, (label, z, n, c) in enumerate(inputs_list):
        y = large_y if index == 3 else rng.integers(0, c, size=n)
        loss, dz = losses.softmax_cross_entropy(z, y)
        with np.errstate(all="ignore"):
            variants = _softmax_variants(z, y, loss, dz)
        inputs = {"z": z, "y": y.astype(np.int64)}
        cases.append(
            make_case(
                "softmax_ce",
                index,
                label,
                steps,
                ["loss", "dz"],
                inputs,
                _expected(loss, dz),
                variants,
            )
        )
    return cases


CHECKS = AssignmentChecks(
    name="assignment3",
    notebook="assignment3",
    limits=Limits(probe_seconds=5.0, cell_seconds=10.0, total_seconds=90.0),
    parts=(
        Part(
            "test_sigmoid_mse",
            "Sigmoid output with the mean squared error",
            ("sigmoid_mse_loss",),
            f"{PAGE}#delta-mse-sigmoid",
            MSE_MISTAKES,
            sigmoid_mse_cases,
            scalars=frozenset({"loss"}),
        ),
        Part(
            "test_sigmoid_bce",
            "Sigmoid output with binary cross-entropy on logits",
            ("sigmoid_bce_loss",),
            f"{PAGE}#delta-sigmoid-ce",
            BCE_MISTAKES,
            sigmoid_bce_cases,
            scalars=frozenset({"loss"}),
            nonfinite_mistake="bce-unstable",
        ),
        Part(
            "test_softmax_ce",
            "Softmax cross-entropy on logits with integer labels",
            ("softmax_cross_entropy",),
            f"{PAGE}#delta-softmax-ce",
            SOFTMAX_MISTAKES,
            softmax_cases,
            scalars=frozenset({"loss"}),
            nonfinite_mistake="softmax-unstable",
        ),
    ),
)
