"""Student answers for assignment 6: correct ones written differently, and one buggy
variant per catalogued mistake. Each maps answer-cell grade_id -> source.

The instructor's sequence functions call the step functions, so a bug in a step would
also cost the sequence parts. A buggy step therefore comes with self-contained sequence
cells (``RNN_SEQUENCE_INLINE``, ``LSTM_SEQUENCE_INLINE``, ``TRUNCATED_INLINE``): each
variant must lose points on its own part only.
"""

RNN_STEP_TEMPLATE = """
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    a = x @ Wx + prev_h @ Wh + b
    next_h = np.tanh(a)
    return next_h, (x, prev_h, Wx, Wh, a, next_h)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, a, next_h = cache
    da = dnext_h * {derivative}
    return da @ Wx.T, da @ {wh}, x.T @ da, prev_h.T @ da, da.sum(axis=0)
"""


def rnn_step(derivative="(1.0 - next_h ** 2)", wh="Wh.T"):
    return {"rnn_step": RNN_STEP_TEMPLATE.format(derivative=derivative, wh=wh)}


# A whole sequence in one function, no call to the step functions.
RNN_SEQUENCE_TEMPLATE = """
def rnn_forward(x, h0, Wx, Wh, b):
    n, steps, _ = x.shape
    h = np.empty((n, steps, h0.shape[1]))
    state = h0
    for t in range(steps):
        state = np.tanh(x[:, t] @ Wx + state @ Wh + b)
        h[:, t] = state
    return h, {{"x": x, "h0": h0, "Wx": Wx, "Wh": Wh, "h": h}}


def rnn_backward(dh, cache):
    x, h0, Wx, Wh, h = (cache[k] for k in ("x", "h0", "Wx", "Wh", "h"))
    steps = x.shape[1]
    prev = np.concatenate([h0[:, None, :], h[:, :-1, :]], axis=1)
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[0])
    carried = np.zeros_like(h0)
    for t in range(steps - 1, -1, -1):
        da = ({upstream}) * (1.0 - h[:, t] ** 2)
        dx[:, t] = da @ Wx.T
        dWx {assign} x[:, t].T @ da
        dWh {assign} prev[:, t].T @ da
        db {assign} da.sum(axis=0)
        carried = da @ Wh.T
    return dx, carried, dWx, dWh, db
"""


def rnn_sequence(upstream="dh[:, t] + carried", assign="+="):
    return {"rnn_sequence": RNN_SEQUENCE_TEMPLATE.format(upstream=upstream, assign=assign)}


RNN_SEQUENCE_INLINE = rnn_sequence()

LSTM_STEP_TEMPLATE = """
def _gates(a, hidden):
    i = 1.0 / (1.0 + np.exp(-np.clip(a[:, :hidden], -500, 500)))
    f = 1.0 / (1.0 + np.exp(-np.clip(a[:, hidden : 2 * hidden], -500, 500)))
    {o_and_g}
    return i, f, o, g


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    hidden = prev_h.shape[1]
    i, f, o, g = _gates(x @ Wx + prev_h @ Wh + b, hidden)
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, c = cache
    tc = np.tanh(c)
    dc = dnext_c + dnext_h * o * {tanh_derivative}
    parts = [dc * g * i * (1 - i), dc * prev_c * f * (1 - f), dnext_h * tc * o * (1 - o)]
    parts.append(dc * i * (1 - g ** 2))
    {reorder}
    da = np.concatenate(parts, axis=1)
    return da @ Wx.T, da @ Wh.T, {dprev_c}, x.T @ da, prev_h.T @ da, da.sum(axis=0)
"""

COURSE_ORDER = """o = 1.0 / (1.0 + np.exp(-np.clip(a[:, 2 * hidden : 3 * hidden], -500, 500)))
    g = np.tanh(a[:, 3 * hidden :])"""

PYTORCH_ORDER = """g = np.tanh(a[:, 2 * hidden : 3 * hidden])
    o = 1.0 / (1.0 + np.exp(-np.clip(a[:, 3 * hidden :], -500, 500)))"""


def lstm_step(
    o_and_g=COURSE_ORDER, tanh_derivative="(1 - tc ** 2)", dprev_c="dc * f", reorder="pass"
):
    source = LSTM_STEP_TEMPLATE.format(
        o_and_g=o_and_g, tanh_derivative=tanh_derivative, dprev_c=dprev_c, reorder=reorder
    )
    return {"lstm_step": source}


# A whole LSTM sequence without the step functions, the gates computed for all steps.
LSTM_SEQUENCE_TEMPLATE = """
def _lstm_sig(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def lstm_forward(x, h0, c0, Wx, Wh, b):
    n, steps, _ = x.shape
    hidden = h0.shape[1]
    h = np.empty((n, steps, hidden))
    c = np.empty((n, steps, hidden))
    gates = np.empty((n, steps, 4 * hidden))
    h_t, c_t = h0, c0
    for t in range(steps):
        a = x[:, t] @ Wx + h_t @ Wh + b
        gates[:, t, : 3 * hidden] = _lstm_sig(a[:, : 3 * hidden])
        gates[:, t, 3 * hidden :] = np.tanh(a[:, 3 * hidden :])
        i, f, o, g = np.split(gates[:, t], 4, axis=1)
        c_t = f * c_t + i * g
        h_t = o * np.tanh(c_t)
        h[:, t], c[:, t] = h_t, c_t
    return h, dict(x=x, h0=h0, c0=c0, Wx=Wx, Wh=Wh, h=h, c=c, gates=gates, c_last=c_t)


def lstm_backward(dh, cache):
    x, Wx, Wh, h, c, gates = (cache[k] for k in ("x", "Wx", "Wh", "h", "c", "gates"))
    prev_h = np.concatenate([cache["h0"][:, None], h[:, :-1]], axis=1)
    prev_c = np.concatenate([cache["c0"][:, None], c[:, :-1]], axis=1)
    n, steps, hidden = h.shape
    da = np.zeros_like(gates)
    dh_next = np.zeros((n, hidden))
    dc_next = np.zeros((n, hidden))
    for t in reversed(range(steps)):
        i, f, o, g = np.split(gates[:, t], 4, axis=1)
        tc = np.tanh(c[:, t])
        up = {upstream}
        dc = {arriving_c} + up * o * (1 - tc * tc)
        da[:, t] = np.hstack(
            [dc * g * i * (1 - i), dc * prev_c[:, t] * f * (1 - f), up * tc * o * (1 - o),
             dc * i * (1 - g * g)]
        )
        dh_next = da[:, t] @ Wh.T
        dc_next = {dprev_c}
    flat = da.reshape(n * steps, -1)
    dWx = np.einsum("ntd,ntk->dk", x, da)
    dWh = prev_h.reshape(n * steps, -1).T @ flat
    return np.einsum("ntk,dk->ntd", da, Wx), dh_next, dc_next, dWx, dWh, flat.sum(axis=0)
"""


def lstm_sequence(upstream="dh[:, t] + dh_next", arriving_c="dc_next", dprev_c="dc * f"):
    source = LSTM_SEQUENCE_TEMPLATE.format(
        upstream=upstream, arriving_c=arriving_c, dprev_c=dprev_c
    )
    return {"lstm_sequence": source}


LSTM_SEQUENCE_INLINE = lstm_sequence()

# Truncated BPTT that relies on nothing but NumPy: it keeps its own forward pass.
TRUNCATED_TEMPLATE = """
def _tb_forward(x, h0, c0, Wx, Wh, b):
    hidden = h0.shape[1]
    states, h_t, c_t = [], h0, c0
    for t in range(x.shape[1]):
        a = x[:, t] @ Wx + h_t @ Wh + b
        s = 1.0 / (1.0 + np.exp(-a[:, : 3 * hidden]))
        i, f, o = s[:, :hidden], s[:, hidden : 2 * hidden], s[:, 2 * hidden :]
        g = np.tanh(a[:, 3 * hidden :])
        states.append((x[:, t], h_t, c_t, i, f, o, g))
        c_t = f * c_t + i * g
        h_t = o * np.tanh(c_t)
        states[-1] += (c_t, h_t)
    return states


def _tb_backward(states, dh, Wx, Wh, b):
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dx = []
    dh_next, dc_next = np.zeros_like(dh[:, 0]), np.zeros_like(dh[:, 0])
    for t in range(len(states) - 1, -1, -1):
        x_t, h_prev, c_prev, i, f, o, g, c_t, h_t = states[t]
        up = dh[:, t] + dh_next
        tc = np.tanh(c_t)
        dc = dc_next + up * o * (1 - tc ** 2)
        da = np.hstack([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), up * tc * o * (1 - o),
                        dc * i * (1 - g ** 2)])
        dx.append(da @ Wx.T)
        dWx += x_t.T @ da
        dWh += h_prev.T @ da
        db += da.sum(axis=0)
        dh_next, dc_next = da @ Wh.T, dc * f
    return np.stack(dx[::-1], axis=1), dh_next, dc_next, dWx, dWh, db


def lstm_truncated_bptt(x, h0, c0, Wx, Wh, b, k, loss_fn):
    steps = x.shape[1]
    {chunking}
    return total, dx, dWx, dWh, db, h_t, c_t
"""

CORRECT_CHUNKING = """total, pieces = 0.0, []
    dWx, dWh, db = 0.0, 0.0, 0.0
    h_t, c_t = h0, c0
    for start in range(0, steps, k):
        states = _tb_forward(x[:, start : start + k], h_t, c_t, Wx, Wh, b)
        h_chunk = np.stack([s[-1] for s in states], axis=1)
        value, dh = loss_fn(h_chunk, start)
        ddx, _, _, gx, gh, gb = _tb_backward(states, dh, Wx, Wh, b)
        total, dWx, dWh, db = total + value, dWx + gx, dWh + gh, db + gb
        pieces.append(ddx)
        h_t, c_t = states[-1][-1], states[-1][-2]
    dx = np.concatenate(pieces, axis=1)"""

# The state is reset: every chunk starts from h0, c0.
RESET_CHUNKING = CORRECT_CHUNKING.replace(
    "states = _tb_forward(x[:, start : start + k], h_t, c_t, Wx, Wh, b)",
    "states = _tb_forward(x[:, start : start + k], h0, c0, Wx, Wh, b)",
)

# The gradient leaks: one forward pass, the chunk losses, one backward pass over everything.
LEAKING_CHUNKING = """states = _tb_forward(x, h0, c0, Wx, Wh, b)
    h_all = np.stack([s[-1] for s in states], axis=1)
    total, grads = 0.0, []
    for start in range(0, steps, k):
        value, dh = loss_fn(h_all[:, start : start + k], start)
        total += value
        grads.append(dh)
    dx, _, _, dWx, dWh, db = _tb_backward(states, np.concatenate(grads, axis=1), Wx, Wh, b)
    h_t, c_t = states[-1][-1], states[-1][-2]"""


def truncated(chunking=CORRECT_CHUNKING):
    return {"truncated_bptt": TRUNCATED_TEMPLATE.format(chunking=chunking)}


TRUNCATED_INLINE = truncated()
LSTM_DOWNSTREAM = {**LSTM_SEQUENCE_INLINE, **TRUNCATED_INLINE}

CORRECT = {
    "instructor": {},
    "self_contained_cells": {
        **rnn_step(),
        **RNN_SEQUENCE_INLINE,
        **lstm_step(),
        **LSTM_SEQUENCE_INLINE,
        **TRUNCATED_INLINE,
    },
    "other_algebra": {
        # 1 / cosh(a)**2 is the tanh derivative at the INPUT, written correctly.
        **rnn_step(derivative="(1.0 / np.cosh(a) ** 2)"),
        **lstm_step(tanh_derivative="(1.0 / np.cosh(c) ** 2)"),
        **LSTM_SEQUENCE_INLINE,
        "truncated_bptt": """
def lstm_truncated_bptt(x, h0, c0, Wx, Wh, b, k, loss_fn):
    total = 0.0
    dx_parts, dWx, dWh, db = [], np.zeros(Wx.shape), np.zeros(Wh.shape), np.zeros(b.shape)
    h_t, c_t = np.array(h0), np.array(c0)
    bounds = list(range(0, x.shape[1], k)) + [x.shape[1]]
    for start, stop in zip(bounds[:-1], bounds[1:]):
        h_chunk, cache = lstm_forward(x[:, start:stop], h_t, c_t, Wx, Wh, b)
        value, dh = loss_fn(h_chunk, start)
        grads = lstm_backward(dh, cache)
        total += value
        dx_parts.append(grads[0])
        dWx, dWh, db = dWx + grads[3], dWh + grads[4], db + grads[5]
        h_t, c_t = h_chunk[:, -1].copy(), cache["c_last"].copy()
    return total, np.concatenate(dx_parts, axis=1), dWx, dWh, db, h_t, c_t
""",
    },
}

# variant name -> (answers, grade_id of the part that must fail, expected mistake code)
BUGGY = {
    "rnn_tanh_derivative_at_input": (
        {**rnn_step(derivative="(1.0 - a ** 2)"), **RNN_SEQUENCE_INLINE},
        "test_rnn_step",
        "tanh-derivative-at-input",
    ),
    "rnn_wh_not_transposed": (
        {**rnn_step(wh="Wh"), **RNN_SEQUENCE_INLINE},
        "test_rnn_step",
        "recurrent-weight-not-transposed",
    ),
    "rnn_bptt_not_accumulating": (
        rnn_sequence(upstream="dh[:, t]"),
        "test_rnn_sequence",
        "bptt-not-accumulating",
    ),
    "rnn_weight_gradients_overwritten": (
        rnn_sequence(assign="="),
        "test_rnn_sequence",
        "bptt-weight-gradients-overwritten",
    ),
    "lstm_step_no_forget_gate": (
        {**lstm_step(dprev_c="dc"), **LSTM_DOWNSTREAM},
        "test_lstm_step",
        "lstm-cell-gradient-not-through-forget-gate",
    ),
    "lstm_step_pytorch_gate_order": (
        {
            **lstm_step(o_and_g=PYTORCH_ORDER, reorder="parts[2], parts[3] = parts[3], parts[2]"),
            **LSTM_DOWNSTREAM,
        },
        "test_lstm_step",
        "lstm-gate-order",
    ),
    "lstm_step_tanh_derivative_at_c": (
        {**lstm_step(tanh_derivative="(1 - c ** 2)"), **LSTM_DOWNSTREAM},
        "test_lstm_step",
        "tanh-derivative-at-input",
    ),
    "lstm_sequence_not_accumulating": (
        {**lstm_sequence(upstream="dh[:, t]"), **TRUNCATED_INLINE},
        "test_lstm_sequence",
        "bptt-not-accumulating",
    ),
    "lstm_sequence_no_forget_gate": (
        {**lstm_sequence(dprev_c="dc"), **TRUNCATED_INLINE},
        "test_lstm_sequence",
        "lstm-cell-gradient-not-through-forget-gate",
    ),
    "lstm_sequence_cell_gradient_dropped": (
        {**lstm_sequence(arriving_c="0.0"), **TRUNCATED_INLINE},
        "test_lstm_sequence",
        "lstm-cell-gradient-not-carried",
    ),
    "truncated_leaks_across_chunks": (
        truncated(LEAKING_CHUNKING),
        "test_truncated_bptt",
        "truncated-bptt-leaks",
    ),
    "truncated_resets_the_state": (
        truncated(RESET_CHUNKING),
        "test_truncated_bptt",
        "truncated-bptt-state-reset",
    ),
}

# Mistakes outside the catalogue: the judge describes how the output relates to the right one.
STRUCTURAL = {
    "rnn_backward_skips_the_first_step": (
        {
            "rnn_sequence": RNN_SEQUENCE_INLINE["rnn_sequence"].replace(
                "range(steps - 1, -1, -1)", "range(steps - 1, 0, -1)"
            )
        },
        "test_rnn_sequence",
        "structure:dx:steps: the first time step",
    ),
    "lstm_step_forget_gate_derivative_missing": (
        {
            "lstm_step": lstm_step()["lstm_step"].replace(
                "dc * prev_c * f * (1 - f)", "dc * prev_c * f"
            ),
            **LSTM_DOWNSTREAM,
        },
        "test_lstm_step",
        "structure:db:gate-1",
    ),
}

# Upstream gradients changed in place: full marks, and a warning that names the argument.
WARNED = {
    "lstm_step_adds_into_dnext_c": (
        {
            "lstm_step": lstm_step()["lstm_step"].replace(
                "    dc = dnext_c + dnext_h * o * (1 - tc ** 2)",
                "    dnext_c += dnext_h * o * (1 - tc ** 2)\n    dc = dnext_c",
            ),
            **LSTM_DOWNSTREAM,
        },
        "test_lstm_step",
        "warning:dnext_c",
    ),
}
