"""Hidden checks of assignment 4: a gradient checker, and three repaired layers.

The student's ``numerical_gradient`` receives functions written by the grader (``code``
arguments evaluated in the child): a strongly curved one, on which a one-sided
difference is visibly off, and ones that couple the entries of x, on which an entry
that is not put back changes every later partial derivative. The parent evaluates the
same expressions to compute the reference and what each mistake would return.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy_backprop import gradcheck
from numpy_backprop import layers as ref
from numpy_backprop.losses import multiclass_hinge_loss, softmax

from ..sandbox import Limits
from .base import AssignmentChecks, Case, Changed, Mistake, Part, convention, make_case

PAGE = "book/gradient-checking.html"


def _mistake(code, title, explanation, label):
    return Mistake(code, title, explanation, f"{PAGE}#{label}")


# ------------------------------------------------------------------- numerical gradient

GRADIENT_MISTAKES = (
    _mistake(
        "one-sided-difference",
        "The difference is one-sided: its error is of order h",
        "(f(x + h e_i) - f(x)) / h is off by about h f''(x) / 2, far more than a centred "
        "difference (f(x + h e_i) - f(x - h e_i)) / (2 h), whose error is of order h**2. "
        "On a strongly curved function the one-sided estimate can make a right gradient "
        "look wrong.",
        "centred-differences",
    ),
    _mistake(
        "x-not-restored",
        "x is not put back after each entry",
        "After evaluating f(x + h e_i) and f(x - h e_i), set x[i] back to its saved value. "
        "Left shifted by h, entry i changes every later partial derivative of a function "
        "that couples the entries (and the caller gets a modified x back).",
        "centred-differences",
    ),
    _mistake(
        "perturbs-a-copy",
        "Each entry is perturbed in a copy of x, not in x itself",
        "The contract says the checker perturbs x in place (and restores it): the functions "
        "you check are often closures that ignore their argument and read the caller's x, "
        "as in numerical_gradient(lambda _: loss(x), x). Perturbing a copy leaves that x "
        "unchanged, so every difference is 0. Shift x[i] itself, evaluate, then restore it.",
        "centred-differences",
    ),
    _mistake(
        "divides-by-h",
        "The centred difference is divided by h instead of 2 h",
        "The two evaluation points x + h e_i and x - h e_i are 2 h apart, so the slope is "
        "(f(x + h e_i) - f(x - h e_i)) / (2 h). Dividing by h doubles every entry.",
        "centred-differences",
    ),
    _mistake(
        "perturbs-every-entry",
        "Every entry of x is shifted at once",
        "x + h shifts all entries together, which measures the derivative along the "
        "diagonal direction (1, 1, ..., 1), the same number for every entry. A partial "
        "derivative changes one entry at a time: x[i] += h, with the others unchanged.",
        "centred-differences",
    ),
)


def _estimate(f: Callable, x: np.ndarray, h: float, kind: str) -> np.ndarray:
    """A numerical gradient as the catalogued mistakes compute it (on a copy of x)."""
    x = x.copy()
    if kind == "every-entry":
        step = (f(x + h) - f(x - h)) / (2.0 * h)
        return np.full(x.shape, float(step))
    if kind == "copy":
        grad = np.zeros(x.shape)
        for i in np.ndindex(x.shape):
            plus, minus = x.copy(), x.copy()
            plus[i] += h
            minus[i] -= h
            grad[i] = (float(f(plus)) - float(f(minus))) / (2.0 * h)
        return grad
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + h
        plus = float(f(x))
        if kind == "one-sided":
            x[i] = saved
            grad[i] = (plus - float(f(x))) / h
            continue
        x[i] = x[i] - 2.0 * h
        minus = float(f(x))
        if kind != "not-restored":
            x[i] = saved
        grad[i] = (plus - minus) / (2.0 * h)
    return grad


# (label, code of f, shape of x, scale of x, h, arrays the code uses: name -> maker)
FUNCTIONS = [
    (
        "a strongly curved function, sum(exp(c x)), h = 1e-4",
        "lambda v: float(np.sum(np.exp(c * v)))",
        (3, 4),
        0.5,
        1e-4,
        {"c": lambda rng: rng.uniform(2.0, 4.0)},
    ),
    (
        "a quadratic form that couples the entries, 0.5 x.A.x + b.x, h = 1e-3",
        "lambda v: float(0.5 * v.ravel() @ A @ v.ravel() + b @ v.ravel())",
        (2, 3),
        1.0,
        1e-3,
        {"A": lambda rng: rng.normal(size=(6, 6)), "b": lambda rng: rng.normal(size=6)},
    ),
    (
        "a 3-D x with coupled entries, sum(W sin(x)) + sum(x)**2 / 2, h = 1e-4",
        "lambda v: float(np.sum(W * np.sin(v)) + 0.5 * np.sum(v) ** 2)",
        (2, 2, 3),
        1.0,
        1e-4,
        {"W": lambda rng: rng.normal(size=(2, 2, 3))},
    ),
    (
        # The book's closures ignore their argument and read the caller's x: this one
        # reads the array of its first call, so only perturbing x itself gives the gradient.
        "a function that ignores its argument and reads x itself, as the book's closures do",
        "(lambda box: lambda _: float(np.sum(np.exp(c * box.setdefault('x', _)))))({})",
        (2, 3),
        0.5,
        1e-4,
        {"c": lambda rng: rng.uniform(1.0, 2.0)},
    ),
    (
        "x with a single entry, x**3, h = 1e-3",
        "lambda v: float(np.sum(v**3))",
        (1,),
        2.0,
        1e-3,
        {},
    ),
]

KINDS = {
    "one-sided-difference": "one-sided",
    "x-not-restored": "not-restored",
    "perturbs-every-entry": "every-entry",
    "perturbs-a-copy": "copy",
}


CHECKER_INPUTS = (
    Changed(
        "x",
        "wrong",
        "The checker perturbs x in place and must put every entry back (x[i] = saved) "
        "before it returns: the caller goes on using x, as a network goes on using its "
        "weights after a gradient check.",
    ),
)


def gradient_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for index, (label, code, shape, scale, h, makers) in enumerate(FUNCTIONS):
        x = rng.normal(size=shape) * scale
        bound = {name: np.asarray(make(rng), dtype=np.float64) for name, make in makers.items()}

        def f(code=code, bound=bound):  # a fresh function each time (closures keep state)
            return eval(code, {"np": np, **bound})  # the grader's own code, never a student's

        grad = gradcheck.numerical_gradient(f(), x.copy(), h)
        variants = {"divides-by-h": {"grad": 2.0 * grad}}
        for mistake, kind in KINDS.items():
            wrong = _estimate(f(), x, h, kind)
            if not np.allclose(wrong, grad, rtol=1e-8, atol=1e-12):
                variants[mistake] = {"grad": wrong}
        with_ = {name: {"in": name} for name in bound}
        steps = [
            {
                "call": "numerical_gradient",
                "args": [{"code": code, "with": with_}, {"in": "x"}, {"lit": h}],
                "save": ["grad"],
            }
        ]
        inputs = {"x": x, **bound}
        cases.append(
            make_case(
                "numerical_gradient",
                index,
                label,
                steps,
                ["grad"],
                inputs,
                {"grad": grad},
                variants,
            )
        )
    return cases


# ----------------------------------------------------------------------- relative error

RELATIVE_MISTAKES = (
    _mistake(
        "relative-error-without-floor",
        "The relative error has no floor: 0 / 0 gives NaN",
        "Entries that are 0 in both gradients (a ReLU that is off, a pixel that is 0 in "
        "every image) give |a - b| / (|a| + |b|) = 0 / 0 = NaN, and NaN spoils the maximum. "
        "Divide by np.maximum(|a| + |b|, 1e-8).",
        "relative-error",
    ),
    _mistake(
        "relative-error-mean",
        "The relative errors are averaged instead of taking the worst entry",
        "Report the largest relative error over all entries: one wrong entry among "
        "thousands of right ones is a bug, and a mean hides it.",
        "relative-error",
    ),
)


def relative_cases(rng: np.random.Generator) -> list[Case]:
    a = rng.normal(size=(4, 5))
    b = a * (1.0 + rng.normal(size=(4, 5)) * 1e-3)
    b[1, 2] = -a[1, 2]  # one entry with the wrong sign
    relu_like = rng.normal(size=(6, 3)) * (rng.uniform(size=(6, 3)) < 0.5)
    relu_like[0, 0] = 0.0
    other = relu_like * (1.0 + rng.normal(size=(6, 3)) * 1e-6)
    vec = rng.normal(size=7)
    inputs_list = [
        ("two close arrays with one entry of the wrong sign", a, b),
        ("gradients with exact zeros in both arrays (a ReLU that is off)", relu_like, other),
        ("two unrelated vectors", vec, rng.normal(size=7)),
    ]
    steps = [{"call": "relative_error", "args": [{"in": "a"}, {"in": "b"}], "save": ["error"]}]
    cases = []
    for index, (label, first, second) in enumerate(inputs_list):
        error = gradcheck.relative_error(first, second)
        entries = np.abs(first - second) / np.maximum(np.abs(first) + np.abs(second), 1e-8)
        variants = {"relative-error-mean": {"error": float(np.mean(entries))}}
        inputs = {"a": first, "b": second}
        expected = {"error": np.float64(error)}
        cases.append(
            make_case("relative_error", index, label, steps, ["error"], inputs, expected, variants)
        )
    return cases


# ------------------------------------------------------------------------ repaired layers

TANH_MISTAKES = (
    _mistake(
        "tanh-derivative-at-input",
        "The tanh derivative is still evaluated at the input",
        "The derivative of tanh is 1 - tanh(x)**2, which is 1 - out**2 with the cached "
        "output, not 1 - x**2: that is the bug of tanh_backward_broken, still there.",
        "debugging-procedure",
    ),
    _mistake(
        "tanh-applied-twice",
        "tanh is applied again to the cached output",
        "The cache already holds out = tanh(x). 1 - np.tanh(out)**2 applies tanh twice; "
        "use 1 - out**2.",
        "debugging-procedure",
    ),
    _mistake(
        "tanh-derivative-not-squared",
        "The tanh derivative is not squared",
        "The derivative of tanh is 1 - tanh(x)**2 = 1 - out**2. Without the square, 1 - out "
        "is too small for positive outputs and up to twice too large near out = -1.",
        "debugging-procedure",
    ),
)

SOFTMAX_MISTAKES = (
    _mistake(
        "softmax-jacobian-diagonal-only",
        "Only the diagonal of the softmax Jacobian is used",
        "ds_i / dx_j = s_i (delta_ij - s_j): every output of a row depends on every input. "
        "dout * s * (1 - s) keeps only the diagonal (the bug of softmax_backward_broken). "
        "The full product is dx = s * (dout - sum(dout * s, axis=1, keepdims=True)).",
        "debugging-procedure",
    ),
    _mistake(
        "softmax-backward-wrong-axis",
        "The sum in the softmax backward runs over the batch",
        "Each row is its own softmax, so the sum of dout * s is taken along axis 1 (the "
        "classes, with keepdims=True), not along axis 0 (the examples).",
        "debugging-procedure",
    ),
)

HINGE_MISTAKES = (
    _mistake(
        "hinge-correct-class-counted",
        "The correct class is counted among the violated classes",
        "The term of j = y is s_y - s_y + 1 = 1 > 0, so a mask computed before that term is "
        "removed counts the correct class as violated, and its gradient comes out one 1/N "
        "too negative (the bug of hinge_loss_broken). Zero the correct class's term first.",
        "kinks",
    ),
    convention(
        _mistake(
            "hinge-kink-counted",
            "A term exactly at the kink is counted as violated",
            "At s_j - s_y + 1 == 0 the hinge has a kink and any slope in [0, 1] is a "
            "subgradient; this course takes 0 there (use > 0, not >= 0). With integer scores "
            "such ties are common.",
            "kinks",
        )
    ),
)


def _layer_case(part, index, label, forward, backward, x, dout, expected, variants) -> Case:
    steps = [
        {"call": forward, "args": [{"in": "x"}], "save": ["out", "cache"]},
        {"call": backward, "args": [{"in": "dout"}, {"var": "cache"}], "save": ["dx"]},
    ]
    inputs = {"x": x, "dout": dout}
    return make_case(part, index, label, steps, ["dx"], inputs, {"dx": expected}, variants)


def _signs(rng: np.random.Generator) -> np.ndarray:
    return rng.choice([-1.0, 1.0], size=(3, 4))


def tanh_cases(rng: np.random.Generator) -> list[Case]:
    inputs_list = [
        ("a random batch", rng.normal(size=(4, 5)) * 1.5),
        ("a batch of one", rng.normal(size=(1, 3))),
        ("saturated inputs (|x| from 3 to 20)", rng.uniform(3.0, 20.0, (3, 4)) * _signs(rng)),
    ]
    cases = []
    for index, (label, x) in enumerate(inputs_list):
        dout = rng.normal(size=x.shape)
        out, cache = ref.tanh_forward(x)
        dx = ref.tanh_backward(dout, cache)
        twice = np.tanh(out)
        variants = {
            "tanh-derivative-at-input": {"dx": dout * (1.0 - x**2)},
            "tanh-applied-twice": {"dx": dout * (1.0 - twice**2)},
            "tanh-derivative-not-squared": {"dx": dout * (1.0 - out)},
        }
        cases.append(
            _layer_case(
                "tanh", index, label, "tanh_forward", "tanh_backward", x, dout, dx, variants
            )
        )
    return cases


def softmax_cases(rng: np.random.Generator) -> list[Case]:
    inputs_list = [
        ("a random batch", rng.normal(size=(4, 5)) * 2.0),
        ("a batch of one", rng.normal(size=(1, 3))),
        ("large logits (up to 50)", rng.uniform(-50.0, 50.0, size=(3, 4))),
    ]
    cases = []
    for index, (label, x) in enumerate(inputs_list):
        dout = rng.normal(size=x.shape)
        s = softmax(x, axis=1)
        dx = s * (dout - np.sum(dout * s, axis=1, keepdims=True))
        variants = {
            "softmax-jacobian-diagonal-only": {"dx": dout * s * (1.0 - s)},
            "softmax-backward-wrong-axis": {
                "dx": s * (dout - np.sum(dout * s, axis=0, keepdims=True))
            },
        }
        if x.shape[0] == 1:  # summing one row over axis 0 gives the diagonal-only formula:
            variants = {}  # the two mistakes cannot be told apart on a batch of one
        cases.append(
            _layer_case(
                "softmax",
                index,
                label,
                "softmax_forward",
                "softmax_backward",
                x,
                dout,
                dx,
                variants,
            )
        )
    return cases


def _hinge_variants(scores, y, loss, dscores) -> dict:
    n = scores.shape[0]
    rows = np.arange(n)
    counted = dscores.copy()
    counted[rows, y] -= 1.0 / n
    terms = scores - scores[rows, y][:, None] + 1.0
    terms[rows, y] = -1.0
    at_kink = (terms >= 0).astype(np.float64)
    at_kink[rows, y] = -at_kink.sum(axis=1)
    return {
        "hinge-correct-class-counted": {"loss": loss, "dscores": counted},
        "hinge-kink-counted": {"loss": loss, "dscores": at_kink / n},
    }


def hinge_cases(rng: np.random.Generator) -> list[Case]:
    kinks = rng.integers(0, 4, size=(6, 5)).astype(np.float64)
    inputs_list = [
        ("random scores", rng.normal(size=(6, 4)), 4),
        ("integer scores with terms exactly at the kink", kinks, 5),
        ("a batch of one", rng.normal(size=(1, 3)), 3),
    ]
    steps = [
        {"call": "hinge_loss", "args": [{"in": "scores"}, {"in": "y"}], "save": ["loss", "ds"]}
    ]
    cases = []
    for index, (label, scores, c) in enumerate(inputs_list):
        y = rng.integers(0, c, size=scores.shape[0])
        if index == 1:  # make sure at least one term sits exactly on the kink
            scores[0, y[0]] = scores[0, (y[0] + 1) % c] + 1.0
        loss, dscores = multiclass_hinge_loss(scores, y)
        variants = {
            code: {"loss": v["loss"], "ds": v["dscores"]}
            for code, v in _hinge_variants(scores, y, loss, dscores).items()
            if not np.allclose(v["dscores"], dscores)
        }
        inputs = {"scores": scores, "y": y.astype(np.int64)}
        expected = {"loss": np.float64(loss), "ds": dscores}
        cases.append(
            make_case("hinge", index, label, steps, ["loss", "ds"], inputs, expected, variants)
        )
    return cases


CHECKS = AssignmentChecks(
    name="assignment4",
    notebook="assignment4",
    limits=Limits(probe_seconds=5.0, cell_seconds=10.0, total_seconds=90.0),
    parts=(
        Part(
            "test_numerical_gradient",
            "The numerical gradient (centred differences)",
            ("numerical_gradient",),
            f"{PAGE}#centred-differences",
            GRADIENT_MISTAKES,
            gradient_cases,
            changes=CHECKER_INPUTS,
        ),
        Part(
            "test_relative_error",
            "The relative error, with a floor",
            ("relative_error",),
            f"{PAGE}#relative-error",
            RELATIVE_MISTAKES,
            relative_cases,
            scalars=frozenset({"error"}),
            nonfinite_mistake="relative-error-without-floor",
        ),
        Part(
            "test_tanh",
            "The repaired tanh layer",
            ("tanh_forward", "tanh_backward"),
            f"{PAGE}#debugging-procedure",
            TANH_MISTAKES,
            tanh_cases,
        ),
        Part(
            "test_softmax",
            "The repaired softmax layer",
            ("softmax_forward", "softmax_backward"),
            f"{PAGE}#debugging-procedure",
            SOFTMAX_MISTAKES,
            softmax_cases,
        ),
        Part(
            "test_hinge",
            "The repaired hinge loss",
            ("hinge_loss",),
            f"{PAGE}#kinks",
            HINGE_MISTAKES,
            hinge_cases,
            scalars=frozenset({"loss"}),
        ),
    ),
)
