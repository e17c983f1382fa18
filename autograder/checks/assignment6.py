"""Hidden checks of assignment 6: RNN and LSTM steps, full BPTT and truncated BPTT.

Every case draws fresh sizes and values, chains the student's forward and backward
passes (the cache is theirs), and compares the outputs with the reference in
``numpy_backprop.recurrent``. The mistakes are replayed here with the same
inputs: a backward pass of one step or of a sequence with the bug switched on.
"""

from __future__ import annotations

import numpy as np
from numpy_backprop import recurrent as ref

from ..sandbox import Limits
from .base import AssignmentChecks, Case, Mistake, Part, make_case

PAGE = "book/recurrent.html"


def _mistake(code, title, explanation, label):
    return Mistake(code, title, explanation, f"{PAGE}#{label}")


def _distinct(variants: dict, expected: dict) -> dict:
    """Drop the variants that coincide with the reference on this case (nothing to name)."""
    kept = {}
    for code, outputs in variants.items():
        same = all(
            np.shape(outputs[k]) == np.shape(v) and np.allclose(outputs[k], v, rtol=1e-9, atol=0)
            for k, v in expected.items()
        )
        if not same:
            kept[code] = outputs
    return kept


def _case(part, index, label, steps, send, inputs, expected, variants) -> Case:
    return make_case(
        part, index, label, steps, send, inputs, expected, _distinct(variants, expected)
    )


TANH_AT_INPUT = _mistake(
    "tanh-derivative-at-input",
    "The tanh derivative is evaluated at the wrong quantity",
    "The derivative of tanh(z) is 1 - tanh(z)**2: square the tanh's OUTPUT (the new "
    "hidden state, or tanh(c) in an LSTM), not its input z.",
    "bptt",
)

# ------------------------------------------------------------------------------ RNN step

RNN_STEP_MISTAKES = (
    TANH_AT_INPUT,
    _mistake(
        "recurrent-weight-not-transposed",
        "dprev_h uses Wh instead of its transpose",
        "dprev_h = da @ Wh.T. Wh maps the previous state to this step's pre-activation, so "
        "the gradient goes back through its transpose; Wh is square, so the wrong product "
        "runs without a shape error.",
        "bptt",
    ),
)

RNN_STEP_SIZES = [
    ("a random batch", 4, 5, 3, 1.0),
    ("as many inputs as hidden units (Wx square)", 3, 4, 4, 1.0),
    ("large pre-activations (a saturated tanh)", 3, 3, 2, 4.0),
    ("a batch of one", 1, 3, 2, 1.0),
]


def _rnn_params(rng, n, d, h, scale):
    return (
        rng.normal(size=(n, d)) * scale,
        rng.normal(size=(n, h)),
        rng.normal(size=(d, h)) * 0.5,
        rng.normal(size=(h, h)) * 0.5,
        rng.normal(size=h) * 0.5,
    )


def rnn_step_cases(rng: np.random.Generator) -> list[Case]:
    steps = [
        {
            "call": "rnn_step_forward",
            "args": [{"in": n} for n in ["x", "prev_h", "Wx", "Wh", "b"]],
            "save": ["next_h", "cache"],
        },
        {
            "call": "rnn_step_backward",
            "args": [{"in": "dnext_h"}, {"var": "cache"}],
            "save": ["dx", "dprev_h", "dWx", "dWh", "db"],
        },
    ]
    names = ["next_h", "dx", "dprev_h", "dWx", "dWh", "db"]
    cases = []
    for index, (label, n, d, h, scale) in enumerate(RNN_STEP_SIZES):
        x, prev_h, Wx, Wh, b = _rnn_params(rng, n, d, h, scale)
        dnext_h = rng.normal(size=(n, h))
        next_h, cache = ref.rnn_step_forward(x, prev_h, Wx, Wh, b)
        expected = dict(zip(names, [next_h, *ref.rnn_step_backward(dnext_h, cache)], strict=True))
        a = x @ Wx + prev_h @ Wh + b
        da_wrong = dnext_h * (1.0 - a * a)
        da = dnext_h * (1.0 - next_h * next_h)
        wrong = [next_h, da_wrong @ Wx.T, da_wrong @ Wh.T, x.T @ da_wrong, prev_h.T @ da_wrong]
        wrong.append(da_wrong.sum(axis=0))
        variants = {
            "tanh-derivative-at-input": dict(zip(names, wrong, strict=True)),
            "recurrent-weight-not-transposed": {**expected, "dprev_h": da @ Wh},
        }
        inputs = {"x": x, "prev_h": prev_h, "Wx": Wx, "Wh": Wh, "b": b, "dnext_h": dnext_h}
        cases.append(_case("rnn_step", index, label, steps, names, inputs, expected, variants))
    return cases


# -------------------------------------------------------------------------- RNN sequence

RNN_SEQUENCE_MISTAKES = (
    _mistake(
        "bptt-not-accumulating",
        "The gradient coming back from the next step is not added",
        "A hidden state feeds the loss at its own step AND the next step, so the gradient "
        "at h[:, t] is dh[:, t] plus the dprev_h that came back from step t + 1. Carry it "
        "in the backward loop and add it before backpropagating through step t.",
        "bptt",
    ),
    _mistake(
        "bptt-weight-gradients-overwritten",
        "The weight gradients keep only one time step",
        "The same Wx, Wh and b are used at every step, so their gradients are the SUM over "
        "all steps: dWx += ... inside the loop, starting from zeros. Yours hold the "
        "contribution of a single step (the last one the loop visited).",
        "bptt",
    ),
)


def _rnn_sequence_grads(x, h0, Wx, Wh, h, dh, carry=True, accumulate_weights=True):
    """Full BPTT of a tanh RNN with the two bugs as switches; returns the five gradients."""
    n, t_len, hidden = h.shape
    prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)
    da = np.zeros_like(h)
    dprev = np.zeros((n, hidden))
    for t in reversed(range(t_len)):
        upstream = dh[:, t] + dprev if carry else dh[:, t]
        da[:, t] = upstream * (1.0 - h[:, t] ** 2)
        dprev = da[:, t] @ Wh.T
    dx = da @ Wx.T
    used = range(t_len) if accumulate_weights else [0]
    dWx = sum(x[:, t].T @ da[:, t] for t in used)
    dWh = sum(prev[:, t].T @ da[:, t] for t in used)
    db = sum(da[:, t].sum(axis=0) for t in used)
    return dx, dprev, dWx, dWh, db


RNN_SEQUENCE_SIZES = [
    ("a random batch of sequences", 3, 5, 4, 3),
    ("a batch of one", 1, 4, 2, 3),
    ("longer sequences", 2, 9, 3, 2),
]


def rnn_sequence_cases(rng: np.random.Generator) -> list[Case]:
    steps = [
        {
            "call": "rnn_forward",
            "args": [{"in": n} for n in ["x", "h0", "Wx", "Wh", "b"]],
            "save": ["h", "cache"],
        },
        {
            "call": "rnn_backward",
            "args": [{"in": "dh"}, {"var": "cache"}],
            "save": ["dx", "dh0", "dWx", "dWh", "db"],
        },
    ]
    names = ["h", "dx", "dh0", "dWx", "dWh", "db"]
    cases = []
    for index, (label, n, t_len, d, hidden) in enumerate(RNN_SEQUENCE_SIZES):
        x, h0 = rng.normal(size=(n, t_len, d)), rng.normal(size=(n, hidden))
        Wx, Wh = rng.normal(size=(d, hidden)) * 0.5, rng.normal(size=(hidden, hidden)) * 0.5
        b = rng.normal(size=hidden) * 0.5
        dh = rng.normal(size=(n, t_len, hidden))
        h, cache = ref.rnn_forward(x, h0, Wx, Wh, b)
        expected = dict(zip(names, [h, *ref.rnn_backward(dh, cache)], strict=True))
        no_carry = _rnn_sequence_grads(x, h0, Wx, Wh, h, dh, carry=False)
        overwritten = _rnn_sequence_grads(x, h0, Wx, Wh, h, dh, accumulate_weights=False)
        variants = {
            "bptt-not-accumulating": dict(zip(names, [h, *no_carry], strict=True)),
            "bptt-weight-gradients-overwritten": dict(zip(names, [h, *overwritten], strict=True)),
        }
        inputs = {"x": x, "h0": h0, "Wx": Wx, "Wh": Wh, "b": b, "dh": dh}
        cases.append(_case("rnn_sequence", index, label, steps, names, inputs, expected, variants))
    return cases


# ----------------------------------------------------------------------------- LSTM step

FORGET_GATE = _mistake(
    "lstm-cell-gradient-not-through-forget-gate",
    "The cell state's gradient does not pass through the forget gate",
    "c_t = f * c_prev + i * g, so the gradient that reaches c_prev is dc * f: the cell "
    "state's own path back in time is scaled by the forget gate at every step. Without "
    "the factor f, the gradient reaching earlier steps is too large, and the gate loses "
    "its control over what is remembered.",
    "cell-state-gradient",
)

LSTM_STEP_MISTAKES = (
    FORGET_GATE,
    _mistake(
        "lstm-gate-order",
        "The gates are read in another order than i, f, o, g",
        "This course stacks the gate blocks of Wx, Wh and b as input, forget, output, "
        "candidate (i, f, o, g): columns 2H:3H are the output gate and 3H:4H the candidate "
        "g. Your step reads them as i, f, g, o (PyTorch's order).",
        "lstm-backward",
    ),
    _mistake(
        TANH_AT_INPUT.code,
        TANH_AT_INPUT.title,
        "The derivative of tanh(c) in h = o * tanh(c) is 1 - tanh(c)**2: square the cached "
        "tanh(c), not the cell state c itself.",
        "lstm-backward",
    ),
)


# A permutation of the 4H columns: reading blocks as i, f, g, o in a course i, f, o, g layout.
def _swap_o_g(hidden: int) -> np.ndarray:
    return np.r_[0 : 2 * hidden, 3 * hidden : 4 * hidden, 2 * hidden : 3 * hidden]


def _lstm_step_grads(dnext_h, dnext_c, acts, prev_c, tanh_c, forget=True, tanh_at_c=None):
    """da (N, 4H) and dprev_c (N, H) of one LSTM step, with two bugs as switches.

    acts: gate values (N, 4H) in the order i, f, o, g; tanh_at_c: the cell state c_t to
    square instead of tanh(c_t) (the tanh-derivative-at-input mistake), or None.
    """
    i, f, o, g = np.split(acts, 4, axis=1)
    square = tanh_c * tanh_c if tanh_at_c is None else tanh_at_c * tanh_at_c
    dc = dnext_c + dnext_h * o * (1.0 - square)
    da = np.concatenate(
        [
            dc * g * i * (1.0 - i),
            dc * prev_c * f * (1.0 - f),
            dnext_h * tanh_c * o * (1.0 - o),
            dc * i * (1.0 - g * g),
        ],
        axis=1,
    )
    return da, (dc * f if forget else dc)


def _step_outputs(x, prev_h, Wx, Wh, da, dprev_c):
    return [da @ Wx.T, da @ Wh.T, dprev_c, x.T @ da, prev_h.T @ da, da.sum(axis=0)]


LSTM_STEP_SIZES = [
    ("a random batch", 3, 4, 3, 0.5),
    ("saturating gates (large weights)", 2, 3, 2, 2.5),
    ("a batch of one", 1, 2, 2, 0.5),
]


def lstm_step_cases(rng: np.random.Generator) -> list[Case]:
    steps = [
        {
            "call": "lstm_step_forward",
            "args": [{"in": n} for n in ["x", "prev_h", "prev_c", "Wx", "Wh", "b"]],
            "save": ["next_h", "next_c", "cache"],
        },
        {
            "call": "lstm_step_backward",
            "args": [{"in": "dnext_h"}, {"in": "dnext_c"}, {"var": "cache"}],
            "save": ["dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"],
        },
    ]
    names = ["next_h", "next_c", "dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"]
    cases = []
    for index, (label, n, d, hidden, scale) in enumerate(LSTM_STEP_SIZES):
        x, prev_h, prev_c = (rng.normal(size=s) for s in [(n, d), (n, hidden), (n, hidden)])
        Wx = rng.normal(size=(d, 4 * hidden)) * scale
        Wh = rng.normal(size=(hidden, 4 * hidden)) * scale
        b = rng.normal(size=4 * hidden) * scale
        dnext_h, dnext_c = rng.normal(size=(n, hidden)), rng.normal(size=(n, hidden))
        next_h, next_c, cache = ref.lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
        grads = ref.lstm_step_backward(dnext_h, dnext_c, cache)
        expected = dict(zip(names, [next_h, next_c, *grads], strict=True))
        acts, tanh_c = cache[5], cache[6]

        bugged = {}
        for code, forget, square in [
            ("lstm-cell-gradient-not-through-forget-gate", False, None),
            ("tanh-derivative-at-input", True, next_c),
        ]:
            da, dprev_c = _lstm_step_grads(dnext_h, dnext_c, acts, prev_c, tanh_c, forget, square)
            values = [next_h, next_c, *_step_outputs(x, prev_h, Wx, Wh, da, dprev_c)]
            bugged[code] = dict(zip(names, values, strict=True))

        perm = _swap_o_g(hidden)
        h_p, c_p, cache_p = ref.lstm_step_forward(
            x, prev_h, prev_c, Wx[:, perm], Wh[:, perm], b[perm]
        )
        dx_p, dh_p, dc_p, dWx_p, dWh_p, db_p = ref.lstm_step_backward(dnext_h, dnext_c, cache_p)
        back = np.argsort(perm)
        variants = {
            **bugged,
            "lstm-gate-order": dict(
                zip(
                    names,
                    [h_p, c_p, dx_p, dh_p, dc_p, dWx_p[:, back], dWh_p[:, back], db_p[back]],
                    strict=True,
                )
            ),
        }
        inputs = {"x": x, "prev_h": prev_h, "prev_c": prev_c, "Wx": Wx, "Wh": Wh, "b": b}
        inputs.update(dnext_h=dnext_h, dnext_c=dnext_c)
        cases.append(_case("lstm_step", index, label, steps, names, inputs, expected, variants))
    return cases


# ------------------------------------------------------------------------- LSTM sequence

LSTM_SEQUENCE_MISTAKES = (
    _mistake(
        "bptt-not-accumulating",
        "The hidden state's gradient from the next step is not added",
        "At step t the LSTM step's backward must receive dh[:, t] + dprev_h, where dprev_h "
        "came back from step t + 1. Passing dh[:, t] alone drops every path through the "
        "recurrent weights.",
        "bptt",
    ),
    FORGET_GATE,
    _mistake(
        "lstm-cell-gradient-not-carried",
        "The cell state's gradient is not carried to the previous step",
        "Each step's backward returns dprev_c, and the step before must receive it as its "
        "dnext_c. Starting every step with dnext_c = 0 cuts the cell state's own gradient "
        "path, the one that lets an LSTM learn long dependencies.",
        "cell-state-gradient",
    ),
)


def _lstm_sequence_grads(dh, cache, carry_h=True, carry_c=True, forget=True):
    """Full BPTT through a reference LSTMCache with three bugs as switches."""
    x, h0, c0, Wx, Wh, h, c, acts, tanh_c = cache
    prev_h = np.concatenate([h0[:, None], h[:, :-1]], axis=1)
    prev_c = np.concatenate([c0[:, None], c[:, :-1]], axis=1)
    n, t_len, hidden = h.shape
    da = np.zeros_like(acts)
    dnext_h, dnext_c = np.zeros((n, hidden)), np.zeros((n, hidden))
    for t in reversed(range(t_len)):
        upstream = dh[:, t] + dnext_h if carry_h else dh[:, t]
        arriving_c = dnext_c if carry_c else np.zeros_like(dnext_c)
        da[:, t], dnext_c = _lstm_step_grads(
            upstream, arriving_c, acts[:, t], prev_c[:, t], tanh_c[:, t], forget
        )
        dnext_h = da[:, t] @ Wh.T
    d2 = da.reshape(n * t_len, -1)
    dWx = x.reshape(n * t_len, -1).T @ d2
    dWh = prev_h.reshape(n * t_len, -1).T @ d2
    return da @ Wx.T, dnext_h, dnext_c, dWx, dWh, d2.sum(axis=0)


LSTM_SEQUENCE_SIZES = [
    ("a random batch of sequences", 2, 5, 3, 3),
    ("a batch of one", 1, 3, 2, 2),
    ("longer sequences", 3, 8, 2, 2),
]


def lstm_sequence_cases(rng: np.random.Generator) -> list[Case]:
    steps = [
        {
            "call": "lstm_forward",
            "args": [{"in": n} for n in ["x", "h0", "c0", "Wx", "Wh", "b"]],
            "save": ["h", "cache"],
        },
        {
            "call": "lstm_backward",
            "args": [{"in": "dh"}, {"var": "cache"}],
            "save": ["dx", "dh0", "dc0", "dWx", "dWh", "db"],
        },
    ]
    names = ["h", "dx", "dh0", "dc0", "dWx", "dWh", "db"]
    cases = []
    for index, (label, n, t_len, d, hidden) in enumerate(LSTM_SEQUENCE_SIZES):
        x, h0, c0 = (rng.normal(size=s) for s in [(n, t_len, d), (n, hidden), (n, hidden)])
        Wx = rng.normal(size=(d, 4 * hidden)) * 0.5
        Wh = rng.normal(size=(hidden, 4 * hidden)) * 0.5
        b = rng.normal(size=4 * hidden) * 0.5
        dh = rng.normal(size=(n, t_len, hidden))
        h, cache = ref.lstm_forward(x, h0, c0, Wx, Wh, b)
        expected = dict(zip(names, [h, *ref.lstm_backward(dh, cache)], strict=True))

        bugs = [
            ("bptt-not-accumulating", {"carry_h": False}),
            ("lstm-cell-gradient-not-through-forget-gate", {"forget": False}),
            ("lstm-cell-gradient-not-carried", {"carry_c": False}),
        ]
        variants = {
            code: dict(zip(names, [h, *_lstm_sequence_grads(dh, cache, **switches)], strict=True))
            for code, switches in bugs
        }
        inputs = {"x": x, "h0": h0, "c0": c0, "Wx": Wx, "Wh": Wh, "b": b, "dh": dh}
        cases.append(_case("lstm_sequence", index, label, steps, names, inputs, expected, variants))
    return cases


# ------------------------------------------------------------------------ truncated BPTT

TRUNCATED_MISTAKES = (
    _mistake(
        "truncated-bptt-leaks",
        "The gradient leaks across chunk borders",
        "Your gradients equal full BPTT over the whole sequence. In truncated BPTT each "
        "chunk's starting state is a constant: the dh0 and dc0 that leave a chunk are "
        "dropped (PyTorch: h.detach()), so no gradient flows into the previous chunk.",
        "truncated-bptt",
    ),
    _mistake(
        "truncated-bptt-state-reset",
        "The state is reset at every chunk instead of carried",
        "Only the gradient is cut at a chunk border; the forward pass must continue from the "
        "state (h, c) that the previous chunk ended with, as in stateful training. Your "
        "chunks all start again from h0 and c0.",
        "stateful-batches",
    ),
)

# The grader's loss: 0.5 * sum_t w_t * |h_t|^2 with a weight growing along the whole
# sequence, so each chunk's loss depends on where the chunk starts.
LOSS_CODE = (
    "lambda h, start: (lambda w: (0.5 * float(np.sum(w * h * h)), w * h))"
    "(1.0 + 0.25 * np.arange(start, start + h.shape[1]).reshape(1, -1, 1))"
)


def _chunk_loss(h, start):
    w = 1.0 + 0.25 * np.arange(start, start + h.shape[1]).reshape(1, -1, 1)
    return 0.5 * float(np.sum(w * h * h)), w * h


def _truncated_outputs(x, h0, c0, Wx, Wh, b, k, reset=False):
    """(loss, dx, dWx, dWh, db, h_last, c_last) of truncated BPTT, or of the reset bug."""
    if not reset:
        chunks, (h_last, c_last) = ref.lstm_truncated_bptt(x, h0, c0, Wx, Wh, b, k, _chunk_loss)
        return [*ref.sum_chunks(chunks), h_last, c_last]
    loss, dxs, grads = 0.0, [], [0.0, 0.0, 0.0]
    for start in range(0, x.shape[1], k):
        h, cache = ref.lstm_forward(x[:, start : start + k], h0, c0, Wx, Wh, b)
        value, dh = _chunk_loss(h, start)
        dx, _, _, *weights = ref.lstm_backward(dh, cache)
        loss += value
        dxs.append(dx)
        grads = [g + w for g, w in zip(grads, weights, strict=True)]
    return [loss, np.concatenate(dxs, axis=1), *grads, h[:, -1], cache.c[:, -1]]


def _leaking_outputs(x, h0, c0, Wx, Wh, b):
    h, cache = ref.lstm_forward(x, h0, c0, Wx, Wh, b)
    loss, dh = _chunk_loss(h, 0)
    dx, _, _, dWx, dWh, db = ref.lstm_backward(dh, cache)
    return [loss, dx, dWx, dWh, db, h[:, -1], cache.c[:, -1]]


TRUNCATED_SIZES = [
    ("chunks of 3 steps over 7 (the last chunk is shorter)", 2, 7, 3, 3, 3),
    ("chunks of 2 steps over 6", 3, 6, 2, 2, 2),
    ("a batch of one, chunks of a single step", 1, 5, 2, 3, 1),
    ("a chunk longer than the sequence (full BPTT)", 2, 4, 2, 2, 6),
]


def truncated_cases(rng: np.random.Generator) -> list[Case]:
    names = ["loss", "dx", "dWx", "dWh", "db", "h_last", "c_last"]
    cases = []
    for index, (label, n, t_len, d, hidden, k) in enumerate(TRUNCATED_SIZES):
        x, h0, c0 = (rng.normal(size=s) for s in [(n, t_len, d), (n, hidden), (n, hidden)])
        Wx = rng.normal(size=(d, 4 * hidden)) * 0.5
        Wh = rng.normal(size=(hidden, 4 * hidden)) * 0.5
        b = rng.normal(size=4 * hidden) * 0.5
        steps = [
            {
                "call": "lstm_truncated_bptt",
                "args": [{"in": n} for n in ["x", "h0", "c0", "Wx", "Wh", "b"]]
                + [{"lit": k}, {"code": LOSS_CODE}],
                "save": names,
            }
        ]
        params = (x, h0, c0, Wx, Wh, b)
        expected = dict(zip(names, _truncated_outputs(*params, k), strict=True))
        expected["loss"] = np.float64(expected["loss"])
        variants = {
            "truncated-bptt-leaks": dict(zip(names, _leaking_outputs(*params), strict=True)),
            "truncated-bptt-state-reset": dict(
                zip(names, _truncated_outputs(*params, k, reset=True), strict=True)
            ),
        }
        inputs = dict(zip(["x", "h0", "c0", "Wx", "Wh", "b"], params, strict=True))
        cases.append(
            _case("truncated_bptt", index, label, steps, names, inputs, expected, variants)
        )
    return cases


CHECKS = AssignmentChecks(
    name="assignment6",
    notebook="assignment6",
    limits=Limits(probe_seconds=5.0, cell_seconds=10.0, total_seconds=90.0),
    parts=(
        Part(
            "test_rnn_step",
            "One step of a vanilla RNN",
            ("rnn_step_forward", "rnn_step_backward"),
            f"{PAGE}#bptt",
            RNN_STEP_MISTAKES,
            rnn_step_cases,
        ),
        Part(
            "test_rnn_sequence",
            "A vanilla RNN over a sequence, full BPTT",
            ("rnn_forward", "rnn_backward"),
            f"{PAGE}#bptt",
            RNN_SEQUENCE_MISTAKES,
            rnn_sequence_cases,
            time_axis=1,
        ),
        Part(
            "test_lstm_step",
            "One step of an LSTM",
            ("lstm_step_forward", "lstm_step_backward"),
            f"{PAGE}#lstm-backward",
            LSTM_STEP_MISTAKES,
            lstm_step_cases,
            gates=True,
        ),
        Part(
            "test_lstm_sequence",
            "An LSTM over a sequence, full BPTT",
            ("lstm_forward", "lstm_backward"),
            f"{PAGE}#lstm-backward",
            LSTM_SEQUENCE_MISTAKES,
            lstm_sequence_cases,
            time_axis=1,
            gates=True,
        ),
        Part(
            "test_truncated_bptt",
            "Truncated BPTT: state carried, gradient cut",
            ("lstm_truncated_bptt",),
            f"{PAGE}#truncated-bptt",
            TRUNCATED_MISTAKES,
            truncated_cases,
            scalars=frozenset({"loss"}),
            time_axis=1,
            gates=True,
        ),
    ),
)
