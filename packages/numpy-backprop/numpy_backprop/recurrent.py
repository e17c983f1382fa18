"""Vanilla RNN and LSTM, one step and whole sequences, with full and truncated BPTT.

Shapes: N batch, T time steps, D input features, H hidden units.
A sequence layer maps x (N, T, D) to hidden states h (N, T, H); its backward
takes dh (N, T, H), the loss gradient arriving at every hidden state from above.

LSTM gate order (fixed by the course): i, f, o, g, so Wx (D, 4H), Wh (H, 4H) and
b (4H,) hold the input, forget, output and candidate blocks in that order:
    a = x Wx + h_prev Wh + b,  i, f, o = sigmoid(a[:, :3H]),  g = tanh(a[:, 3H:]),
    c = f * c_prev + i * g,    h = o * tanh(c).
(PyTorch stores i, f, g, o: swap the last two blocks when converting.)

Time steps run in a Python loop; everything inside a step is vectorised, and the
weight gradients are formed after the loop with one matrix product over all steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .layers import sigmoid


def _previous_states(h0: np.ndarray, h: np.ndarray) -> np.ndarray:
    """(N, T, H) array whose step t holds the state entering step t: h0, h_0, ..., h_{T-2}."""
    return np.concatenate([h0[:, None, :], h[:, :-1, :]], axis=1)


def _sequence_weight_grads(x, h_prev, da):
    """dWx (D, K), dWh (H, K), db (K,) from x (N, T, D), h_prev (N, T, H), da (N, T, K)."""
    k = da.shape[-1]
    da2 = da.reshape(-1, k)
    dwx = x.reshape(-1, x.shape[-1]).T @ da2
    dwh = h_prev.reshape(-1, h_prev.shape[-1]).T @ da2
    return dwx, dwh, da2.sum(axis=0)


# ----------------------------------------------------------------------------- vanilla RNN


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """One tanh RNN step: next_h = tanh(x Wx + prev_h Wh + b).

    x: (N, D); prev_h: (N, H); Wx: (D, H); Wh: (H, H); b: (H,).
    Returns next_h (N, H) and cache.
    """
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    """Backward of one RNN step. dnext_h: (N, H).

    Returns dx (N, D), dprev_h (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1.0 - next_h * next_h)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    """tanh RNN over a sequence. x: (N, T, D); h0: (N, H); Wx: (D, H); Wh: (H, H); b: (H,).

    Returns h (N, T, H), the hidden state after every step, and cache.
    """
    n, t_len, _ = x.shape
    xw = (x.reshape(n * t_len, -1) @ Wx).reshape(n, t_len, -1) + b
    h = np.empty_like(xw)
    prev = h0
    for t in range(t_len):
        prev = np.tanh(xw[:, t] + prev @ Wh)
        h[:, t] = prev
    return h, (x, h0, Wx, Wh, h)


def rnn_backward(dh, cache):
    """Full BPTT for rnn_forward. dh: (N, T, H), upstream gradient of every hidden state.

    Returns dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    x, h0, Wx, Wh, h = cache
    da = np.empty_like(h)
    dprev = np.zeros_like(h0)
    for t in reversed(range(h.shape[1])):
        da[:, t] = (dh[:, t] + dprev) * (1.0 - h[:, t] * h[:, t])
        dprev = da[:, t] @ Wh.T
    dx = da @ Wx.T
    dwx, dwh, db = _sequence_weight_grads(x, _previous_states(h0, h), da)
    return dx, dprev, dwx, dwh, db


# ----------------------------------------------------------------------------- LSTM


def _lstm_activations(a: np.ndarray) -> np.ndarray:
    """Gate values (..., 4H) from pre-activations a (..., 4H): sigmoid on i, f, o; tanh on g."""
    hid = a.shape[-1] // 4
    acts = np.empty_like(a)
    acts[..., : 3 * hid] = sigmoid(a[..., : 3 * hid])
    acts[..., 3 * hid :] = np.tanh(a[..., 3 * hid :])
    return acts


def _lstm_cell(acts, prev_c):
    """next_c, tanh(next_c), next_h (each (N, H)) from gate values acts (N, 4H)."""
    i, f, o, g = np.split(acts, 4, axis=-1)
    next_c = f * prev_c + i * g
    tanh_c = np.tanh(next_c)
    return next_c, tanh_c, o * tanh_c


def _lstm_cell_backward(dnext_h, dnext_c, acts, prev_c, tanh_c):
    """da (N, 4H), gradient of the pre-activations, and dprev_c (N, H).

    dnext_c is the gradient reaching c from the next step; the path through
    h = o * tanh(c) is added to it here, and dprev_c = dc * f carries it on.
    """
    i, f, o, g = np.split(acts, 4, axis=-1)
    dc = dnext_c + dnext_h * o * (1.0 - tanh_c * tanh_c)
    da = np.concatenate(
        [
            dc * g * i * (1.0 - i),
            dc * prev_c * f * (1.0 - f),
            dnext_h * tanh_c * o * (1.0 - o),
            dc * i * (1.0 - g * g),
        ],
        axis=-1,
    )
    return da, dc * f


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """One LSTM step, gate order i, f, o, g.

    x: (N, D); prev_h, prev_c: (N, H); Wx: (D, 4H); Wh: (H, 4H); b: (4H,).
    Returns next_h (N, H), next_c (N, H) and cache.
    """
    acts = _lstm_activations(x @ Wx + prev_h @ Wh + b)
    next_c, tanh_c, next_h = _lstm_cell(acts, prev_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, acts, tanh_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    """Backward of one LSTM step. dnext_h, dnext_c: (N, H).

    Returns dx (N, D), dprev_h (N, H), dprev_c (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    x, prev_h, prev_c, Wx, Wh, acts, tanh_c = cache
    da, dprev_c = _lstm_cell_backward(dnext_h, dnext_c, acts, prev_c, tanh_c)
    return da @ Wx.T, da @ Wh.T, dprev_c, x.T @ da, prev_h.T @ da, da.sum(axis=0)


class LSTMCache(NamedTuple):
    """What lstm_backward needs; ``c[:, -1]`` is the cell state to carry into a next chunk."""

    x: np.ndarray  # (N, T, D)
    h0: np.ndarray  # (N, H)
    c0: np.ndarray  # (N, H)
    Wx: np.ndarray  # (D, 4H)
    Wh: np.ndarray  # (H, 4H)
    h: np.ndarray  # (N, T, H)
    c: np.ndarray  # (N, T, H)
    acts: np.ndarray  # (N, T, 4H) gate values
    tanh_c: np.ndarray  # (N, T, H)


def lstm_forward(x, h0, c0, Wx, Wh, b):
    """LSTM over a sequence. x: (N, T, D); h0: (N, H); c0: (N, H) or None for zeros.

    Wx: (D, 4H); Wh: (H, 4H); b: (4H,). Returns h (N, T, H) and an LSTMCache.
    The loop runs time-major, so every step reads and writes contiguous (N, ...) blocks
    in place; the (N, T, ...) arrays returned are views of those blocks.
    """
    n, t_len, _ = x.shape
    hid = h0.shape[1]
    c0 = np.zeros_like(h0) if c0 is None else c0
    x_tm = np.ascontiguousarray(x.transpose(1, 0, 2))  # (T, N, D)
    acts = (x_tm.reshape(t_len * n, -1) @ Wx).reshape(t_len, n, 4 * hid)
    acts += b
    h, c, tanh_c = (np.empty((t_len, n, hid)) for _ in range(3))
    ig = np.empty((n, hid))
    prev_h, prev_c = h0, c0
    for t in range(t_len):
        a = acts[t]
        a += prev_h @ Wh
        a[:, : 3 * hid] = sigmoid(a[:, : 3 * hid])
        np.tanh(a[:, 3 * hid :], out=a[:, 3 * hid :])
        i, f, o, g = (a[:, k * hid : (k + 1) * hid] for k in range(4))
        np.multiply(f, prev_c, out=c[t])
        c[t] += np.multiply(i, g, out=ig)
        np.tanh(c[t], out=tanh_c[t])
        np.multiply(o, tanh_c[t], out=h[t])
        prev_h, prev_c = h[t], c[t]
    h, c, acts, tanh_c = (z.transpose(1, 0, 2) for z in (h, c, acts, tanh_c))
    return h, LSTMCache(x, h0, c0, Wx, Wh, h, c, acts, tanh_c)


def lstm_backward(dh, cache: LSTMCache, dc_last=None):
    """Full BPTT for lstm_forward. dh: (N, T, H), upstream gradient of every hidden state.

    dc_last: optional (N, H) gradient arriving at the last cell state from beyond
    the sequence (zero by default). At each step the gradient coming back from the
    next step (dprev_h) is ADDED to dh[:, t], and dc flows back through f.
    Returns dx (N, T, D), dh0 (N, H), dc0 (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    x, h0, c0, Wx, Wh, h, c, acts, tanh_c = cache
    n, t_len, hid = h.shape
    acts_tm, c_tm, tanh_tm, dh_tm = (z.transpose(1, 0, 2) for z in (acts, c, tanh_c, dh))
    da = np.empty((t_len, n, 4 * hid))
    dprev_h = np.zeros_like(h0)
    dc = np.zeros_like(c0) if dc_last is None else np.array(dc_last, dtype=np.float64)
    dh_t, scratch = np.empty((n, hid)), np.empty((n, hid))
    wh_t = np.ascontiguousarray(Wh.T)
    for t in reversed(range(t_len)):
        i, f, o, g = (acts_tm[t][:, k * hid : (k + 1) * hid] for k in range(4))
        tc, prev_c = tanh_tm[t], (c_tm[t - 1] if t > 0 else c0)
        np.add(dh_tm[t], dprev_h, out=dh_t)
        # dc = dnext_c + dh * o * (1 - tanh(c)^2): the path through h = o * tanh(c)
        np.multiply(tc, tc, out=scratch)
        np.subtract(1.0, scratch, out=scratch)
        scratch *= o
        scratch *= dh_t
        dc += scratch
        di, df, do, dg = (da[t][:, k * hid : (k + 1) * hid] for k in range(4))
        np.subtract(1.0, i, out=di)
        di *= i
        di *= g
        di *= dc
        np.subtract(1.0, f, out=df)
        df *= f
        df *= prev_c
        df *= dc
        np.subtract(1.0, o, out=do)
        do *= o
        do *= tc
        do *= dh_t
        np.multiply(g, g, out=dg)
        np.subtract(1.0, dg, out=dg)
        dg *= i
        dg *= dc
        dc *= f  # carried on to the previous cell state
        dprev_h = da[t] @ wh_t
    da_flat = da.reshape(t_len * n, -1)
    dx = (da_flat @ Wx.T).reshape(t_len, n, -1).transpose(1, 0, 2)
    x_flat = x.transpose(1, 0, 2).reshape(t_len * n, -1)
    h_prev = np.concatenate([h0[None], h.transpose(1, 0, 2)[:-1]]).reshape(t_len * n, hid)
    return dx, dprev_h, dc, x_flat.T @ da_flat, h_prev.T @ da_flat, da_flat.sum(axis=0)


# ----------------------------------------------------------------------------- truncated BPTT


class Chunk(NamedTuple):
    """Result of one truncated-BPTT chunk covering steps start .. stop-1."""

    start: int
    stop: int
    loss: float
    dx: np.ndarray  # (N, stop - start, D)
    dWx: np.ndarray  # (D, 4H)
    dWh: np.ndarray  # (H, 4H)
    db: np.ndarray  # (4H,)


LossFn = Callable[[np.ndarray, int], tuple[float, np.ndarray]]


def lstm_truncated_bptt(x, h0, c0, Wx, Wh, b, k: int, loss_fn: LossFn):
    """Truncated BPTT: run x (N, T, D) in chunks of k steps (the last may be shorter).

    The state (h, c) is carried forward across chunk boundaries, but the gradient
    is cut there: each chunk is backpropagated on its own, as if its starting
    state were a constant (no dh0, dc0 flows into the previous chunk).
    loss_fn(h_chunk, start) -> (loss, dh_chunk): the loss of the chunk's hidden
    states h_chunk (N, k, H) that begin at step ``start``, and its gradient.
    Weights are not updated between chunks (a trainer would do that).
    Returns (chunks, (h_T, c_T)): a list of Chunk, and the final state, each (N, H).
    Each chunk's gradients equal full BPTT of that chunk's loss with the chunk's
    starting state held fixed; sum them with ``sum_chunks``.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    h_prev = h0
    c_prev = np.zeros_like(h0) if c0 is None else c0
    chunks = []
    for start in range(0, x.shape[1], k):
        stop = min(start + k, x.shape[1])
        h, cache = lstm_forward(x[:, start:stop], h_prev, c_prev, Wx, Wh, b)
        loss, dh = loss_fn(h, start)
        dx, _, _, dwx, dwh, db = lstm_backward(dh, cache)
        chunks.append(Chunk(start, stop, float(loss), dx, dwx, dwh, db))
        h_prev, c_prev = h[:, -1], cache.c[:, -1]
    return chunks, (h_prev, c_prev)


def sum_chunks(chunks):
    """Sum chunks: (loss, dx (N, T, D) concatenated over time, dWx, dWh, db summed)."""
    return (
        sum(ch.loss for ch in chunks),
        np.concatenate([ch.dx for ch in chunks], axis=1),
        sum(ch.dWx for ch in chunks),
        sum(ch.dWh for ch in chunks),
        sum(ch.db for ch in chunks),
    )


# ----------------------------------------------------------------------------- clipping


def clip_by_global_norm(grads, max_norm: float):
    """Rescale a group of gradients so that their joint L2 norm is at most max_norm.

    grads: a list/tuple of arrays or a dict of arrays. The norm is
    sqrt(sum over all arrays of sum(g**2)); if it exceeds max_norm every array is
    multiplied by max_norm / norm (directions kept), else nothing changes.
    Returns (clipped, norm): new arrays in the same container type, and the norm
    before clipping. The inputs are not modified.
    """
    items = list(grads.values()) if isinstance(grads, dict) else list(grads)
    norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in items)))
    scale = max_norm / norm if norm > max_norm else 1.0
    if isinstance(grads, dict):
        return {key: g * scale for key, g in grads.items()}, norm
    return type(grads)(g * scale for g in items), norm
