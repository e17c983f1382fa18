"""Hidden checks of assignment 5: max pooling forward and backward, ties and overlaps.

The backward cases are chosen so that every usual alternative to the course's tie rule
(the whole gradient of a window to its first maximum in row-major order) and the
missing accumulation of overlapping windows give different arrays, so the judge can
say which one a student used.
"""

from __future__ import annotations

import numpy as np
from numpy_backprop import layers as ref

from ..sandbox import Limits
from .base import AssignmentChecks, Case, Mistake, Part, convention, make_case

PAGE = "book/backprop-dense.html"


def _mistake(code, title, explanation, label):
    return Mistake(code, title, explanation, f"{PAGE}#{label}")


# ---------------------------------------------------------------------------- forward

FORWARD_MISTAKES = (
    _mistake(
        "pool-stride-ignored",
        "The windows move by the pool size instead of the stride",
        "Window (i, j) starts at row i * stride and column j * stride, and there are "
        "(H - pool) // stride + 1 of them per column. Stepping by the pool size gives the "
        "right answer only when stride == pool; with stride < pool the windows overlap.",
        "maxpool-backward",
    ),
    _mistake(
        "pool-output-size-floor",
        "The number of windows is H // stride",
        "A window must fit inside the image: there are (H - pool) // stride + 1 windows per "
        "column and (W - pool) // stride + 1 per row. H // stride counts windows that run "
        "over the edge (it agrees only when pool == stride and H is a multiple of it).",
        "maxpool-backward",
    ),
    _mistake(
        "pool-width-from-height",
        "The output width is computed from the height",
        "The output has (H - pool) // stride + 1 rows and (W - pool) // stride + 1 columns. "
        "Yours uses H for both, which is right only for square images.",
        "maxpool-backward",
    ),
)


def _pool_sizes(x: np.ndarray, pool: int, stride: int, h_out: int, w_out: int) -> np.ndarray:
    """Max pooling with a given number of windows (windows clipped at the edge)."""
    out = np.zeros((*x.shape[:2], h_out, w_out))
    for i in range(h_out):
        for j in range(w_out):
            window = x[:, :, i * stride : i * stride + pool, j * stride : j * stride + pool]
            out[:, :, i, j] = window.max(axis=(2, 3))
    return out


def _forward_variants(x, pool, stride, out):
    h, w = x.shape[2:]
    variants = {
        "pool-output-size-floor": _pool_sizes(x, pool, stride, h // stride, w // stride),
        "pool-width-from-height": _pool_sizes(x, pool, stride, *[(h - pool) // stride + 1] * 2),
    }
    if stride != pool:
        variants["pool-stride-ignored"] = ref.maxpool_forward(x, pool, pool)[0]
    return {
        code: {"out": value}
        for code, value in variants.items()
        if value.shape != out.shape or not np.array_equal(value, out)
    }


# (label, shape, pool, stride, integer-valued data)
FORWARD_SHAPES = [
    ("a random batch, 2x2 windows with stride 2", (3, 2, 4, 6), 2, 2, False),
    ("overlapping 3x3 windows with stride 1", (2, 2, 5, 5), 3, 1, False),
    ("3x3 windows with stride 2, the last column not reached", (2, 1, 7, 6), 3, 2, False),
    (
        "a batch of one with tied integer values, 2x2 windows with stride 1",
        (1, 3, 4, 4),
        2,
        1,
        True,
    ),
]


def _draw(rng, shape, integers):
    if integers:
        return rng.integers(0, 3, size=shape).astype(np.float64)
    return rng.normal(size=shape)


def forward_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for index, (label, shape, pool, stride, integers) in enumerate(FORWARD_SHAPES):
        x = _draw(rng, shape, integers)
        out, _ = ref.maxpool_forward(x, pool, stride)
        variants = _forward_variants(x, pool, stride, out)
        steps = [
            {
                "call": "maxpool_forward",
                "args": [{"in": "x"}, {"lit": pool}, {"lit": stride}],
                "save": ["out", "cache"],
            }
        ]
        cases.append(
            make_case(
                "maxpool_forward", index, label, steps, ["out"], {"x": x}, {"out": out}, variants
            )
        )
    return cases


# --------------------------------------------------------------------------- backward

BACKWARD_MISTAKES = (
    _mistake(
        "pool-gradient-to-every-tie",
        "The gradient of a window goes to every tied maximum",
        "When several entries of a window share the maximum, you gave the whole gradient to "
        "each of them, so that window passes back k times its gradient. That is not a "
        "subgradient of the max: nudging all tied entries up by h raises the output by h, "
        "not by k h. This course sends the whole gradient to the first maximum in "
        "row-major order (np.argmax of the flattened window).",
        "pool-ties",
    ),
    convention(
        _mistake(
            "pool-gradient-to-last-tie",
            "The gradient of a tied window goes to the last maximum",
            "Your rule is valid mathematics (any tied entry is a subgradient), but it is not "
            "this course's convention: the whole gradient goes to the FIRST maximum in "
            "row-major order, the entry np.argmax picks. A comparison such as `>=` while "
            "scanning the window keeps the last maximum instead of the first; use `>`.",
            "pool-ties",
        )
    ),
    convention(
        _mistake(
            "pool-gradient-split-between-ties",
            "The gradient of a tied window is split equally between the maxima",
            "Splitting the gradient equally between k tied entries is a valid subgradient too "
            "(the average of the k one-winner choices), and some libraries do it. It is just not "
            "the convention this exercise asks for: the whole gradient goes to the first maximum "
            "in row-major order, as np.argmax chooses it. Without ties both rules agree.",
            "pool-ties",
        )
    ),
    _mistake(
        "pool-overlap-not-accumulated",
        "Overlapping windows overwrite each other's gradient",
        "With stride < pool one entry can be the maximum of several windows, and its "
        "gradient is the sum over those windows. You assigned (dx[...] = dout[...]) where "
        "you must add (dx[...] += dout[...]), so a later window replaced the gradient of an "
        "earlier one.",
        "maxpool-backward",
    ),
)


def route(x: np.ndarray, dout: np.ndarray, pool: int, stride: int, rule: str) -> np.ndarray:
    """dx of max pooling under a tie rule, by plain loops (windows in row-major order).

    rule: "first" (the course's), "last", "every" (every tied entry gets the window's
    gradient), "split" (shared equally) or "overwrite" (first maximum, but assigned
    instead of added). x: (N, C, H, W); dout: (N, C, H_out, W_out).
    """
    dx = np.zeros(x.shape)
    n, c, h_out, w_out = dout.shape
    for a in range(n):
        for b in range(c):
            for i in range(h_out):
                for j in range(w_out):
                    window = x[a, b, i * stride : i * stride + pool, j * stride : j * stride + pool]
                    tied = np.flatnonzero(window.ravel() == window.max())
                    g = dout[a, b, i, j]
                    chosen = {"first": tied[:1], "last": tied[-1:], "overwrite": tied[:1]}
                    for k in chosen.get(rule, tied):
                        r, s = i * stride + k // pool, j * stride + k % pool
                        if rule == "overwrite":
                            dx[a, b, r, s] = g
                        else:
                            dx[a, b, r, s] += g / len(tied) if rule == "split" else g
    return dx


def _plane_of_zeros(rng):
    x = rng.normal(size=(1, 2, 6, 7))
    x[0, 0] = 0.0  # what a ReLU in front of the pooling layer often produces
    return x


# (label, x-maker, pool, stride)
BACKWARD_SPECS = [
    ("a random batch, 2x2 windows with stride 2", lambda r: r.normal(size=(3, 2, 4, 4)), 2, 2),
    (
        "integer-valued images with ties, 2x2 windows with stride 2",
        lambda r: r.integers(0, 3, size=(2, 2, 4, 6)).astype(np.float64),
        2,
        2,
    ),
    ("overlapping 3x3 windows with stride 1", lambda r: r.normal(size=(2, 1, 5, 6)), 3, 1),
    (
        "overlapping 2x2 windows with stride 1 and ties",
        lambda r: r.integers(0, 2, size=(1, 2, 4, 5)).astype(np.float64),
        2,
        1,
    ),
    (
        "a batch of one with a plane of zeros (every entry tied), 3x3 windows with stride 2",
        _plane_of_zeros,
        3,
        2,
    ),
]

RULES = {
    "pool-gradient-to-every-tie": "every",
    "pool-gradient-to-last-tie": "last",
    "pool-gradient-split-between-ties": "split",
    "pool-overlap-not-accumulated": "overwrite",
}


def backward_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for index, (label, make_x, pool, stride) in enumerate(BACKWARD_SPECS):
        x = make_x(rng)
        out, cache = ref.maxpool_forward(x, pool, stride)
        dout = rng.normal(size=out.shape)
        dx = ref.maxpool_backward(dout, cache)
        variants = {}
        for code, rule in RULES.items():
            wrong = route(x, dout, pool, stride, rule)
            if not np.allclose(wrong, dx):
                variants[code] = {"dx": wrong}
        steps = [
            {
                "call": "maxpool_forward",
                "args": [{"in": "x"}, {"lit": pool}, {"lit": stride}],
                "save": ["out", "cache"],
            },
            {
                "call": "maxpool_backward",
                "args": [{"in": "dout"}, {"var": "cache"}],
                "save": ["dx"],
            },
        ]
        inputs = {"x": x, "dout": dout}
        cases.append(
            make_case("maxpool_backward", index, label, steps, ["dx"], inputs, {"dx": dx}, variants)
        )
    return cases


CHECKS = AssignmentChecks(
    name="assignment5",
    notebook="assignment5",
    limits=Limits(probe_seconds=5.0, cell_seconds=10.0, total_seconds=90.0),
    parts=(
        Part(
            "test_maxpool_forward",
            "Max pooling, forward",
            ("maxpool_forward",),
            f"{PAGE}#maxpool-backward",
            FORWARD_MISTAKES,
            forward_cases,
        ),
        Part(
            "test_maxpool_backward",
            "Max pooling, backward (ties and overlapping windows)",
            ("maxpool_forward", "maxpool_backward"),
            f"{PAGE}#pool-ties",
            BACKWARD_MISTAKES,
            backward_cases,
        ),
    ),
)
