# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 6: recurrent networks, backpropagation through time and its truncation
#
# **Read first:** the chapter [*Recurrent networks*](https://backprop-course.example.org/book/recurrent.html)
# of the course book, in particular the
# sections on backpropagation through time, the LSTM backward pass, the gradient of the
# cell state and truncated BPTT.
#
# You will write the forward and backward passes of a vanilla (tanh) RNN and of an LSTM,
# one step at a time and then over whole sequences, and finally truncated BPTT. Every
# function follows the layer contract of the course:
#
# * `thing_forward(...)` returns the outputs and a `cache` (anything you like: only your
#   own backward pass reads it);
# * `thing_backward(dout..., cache)` returns the gradient of the loss with respect to each
#   input and parameter, each with the shape of what it differentiates;
# * the arrays you are given stay as they were: the grader checks them after every call.
#   A forward pass that changes `x`, `h0`, `c0` or a weight loses the case; a backward
#   pass that changes `dh`, `dnext_h` or `dnext_c` in place (`dnext_c += ...`) keeps its
#   points with a warning, since the same array often feeds two branches (the output
#   layer and the next time step).
#
# Shapes: `N` sequences in a batch, `T` time steps, `D` input features, `H` hidden units.
# A sequence is stored batch first: `x` has shape `(N, T, D)`, the hidden states `h` have
# shape `(N, T, H)`, and `h[:, t]` is the state **after** step `t`.
#
# **LSTM gate order.** This course stacks the four gates as **i, f, o, g** (input, forget,
# output, candidate): `Wx` has shape `(D, 4H)`, `Wh` `(H, 4H)`, `b` `(4H,)`, and columns
# `0:H` belong to `i`, `H:2H` to `f`, `2H:3H` to `o`, `3H:4H` to `g`. (PyTorch stores
# i, f, g, o; other texts use other orders. The grader uses this one.)
#
# Work in float64; loop over time steps, never over the batch. Each graded part ends with
# **visible self-checks**; the autograder then runs **hidden checks** on fresh inputs
# (other sizes, a batch of one, chunk lengths that do not divide the sequence) and tells
# you which mistake it recognised. Only the cells marked "YOUR CODE HERE" are graded; do
# not rename the functions.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np

np.set_printoptions(precision=4, suppress=True)


def sigmoid(z):
    """Logistic function of an array of any shape, without overflow."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def numerical_gradient_array(f, x, dout, h=1e-6):
    """Centred-difference gradient of sum(f(x) * dout) with respect to x (shape of x)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        saved = x[i]
        x[i] = saved + h
        plus = np.array(f(x), dtype=float)
        x[i] = saved - h
        minus = np.array(f(x), dtype=float)
        x[i] = saved
        grad[i] = np.sum((plus - minus) * dout) / (2 * h)
    return grad


def rel_error(a, b):
    """Largest elementwise relative error, with a floor so that zeros do not divide."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)))


def grad_error(analytic, numeric):
    """Largest |analytic - numeric| relative to the largest entry of either array.

    A centred difference is only rounding noise for entries many times smaller than
    the largest one, so gradients are compared on the scale of the whole array.
    """
    a, n = np.asarray(analytic, dtype=float), np.asarray(numeric, dtype=float)
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(n), initial=0.0), 1e-8)
    return float(np.max(np.abs(a - n), initial=0.0) / scale)


def check_gradients(named, tol=1e-7):
    """named: list of (name, analytic, numerical). Prints each error; fails above tol."""
    for name, analytic, numeric in named:
        expect_shape(name, analytic, np.shape(numeric))
        error = grad_error(analytic, numeric)
        print(f"{name:8s} relative error {error:.2e} (should be below {tol:.0e})")
        assert error < tol, (
            f"{name} disagrees with the numerical gradient (error {error:.1e})"
            f"\nexpected (numerical):\n{np.asarray(numeric)}\ngot:\n{np.asarray(analytic)}"
        )


def expect_shape(name, got, shape):
    """Fail with a message that names the array unless np.shape(got) == shape."""
    assert np.shape(got) == tuple(shape), (
        f"{name} should have shape {tuple(shape)}, but it has shape {np.shape(got)}"
    )


def expect_close(name, got, expected, tol=1e-7, hint=""):
    """Fail, naming the array and showing expected and got, unless they agree to tol."""
    expected = np.asarray(expected, dtype=float)
    expect_shape(name, got, expected.shape)
    error = rel_error(got, expected)
    assert error < tol, (
        f"{name} is wrong (relative error {error:.1e}, should be below {tol:.0e}). {hint}"
        f"\nexpected:\n{expected}\ngot:\n{np.asarray(got)}"
    )


# %% [markdown]
# ## Part 1: one step of a vanilla RNN (2 points)
#
# $$h_t = \tanh(a_t), \qquad a_t = x_t W_x + h_{t-1} W_h + b.$$
#
# In the backward pass, the derivative of the tanh is $1 - \tanh^2(a_t) = 1 - h_t^2$:
# evaluate it with the step's **output** $h_t$, not with $a_t$. `Wh` is square, so a
# missing transpose in `dprev_h` still runs without a shape error: `prev_h @ Wh` maps the
# previous state to this step, so the gradient goes back through `Wh.T`.


# %% nbgrader={"grade": false, "grade_id": "rnn_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """One tanh RNN step.

    x: (N, D); prev_h: (N, H); Wx: (D, H); Wh: (H, H); b: (H,).
    Returns next_h (N, H) and cache.
    """
    ### BEGIN SOLUTION
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    cache = (x, prev_h, Wx, Wh, next_h)
    ### END SOLUTION
    return next_h, cache


def rnn_step_backward(dnext_h, cache):
    """Backward of one RNN step. dnext_h: (N, H), the gradient arriving at next_h.

    Returns dx (N, D), dprev_h (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    ### BEGIN SOLUTION
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1.0 - next_h**2)
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    ### END SOLUTION
    return dx, dprev_h, dWx, dWh, db


# %% nbgrader={"grade": true, "grade_id": "test_rnn_step", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
x = np.linspace(-1.0, 0.8, num=2 * 5).reshape(2, 5)
prev_h = np.linspace(0.3, -0.6, num=2 * 3).reshape(2, 3)
Wx = np.linspace(-0.5, 0.4, num=5 * 3).reshape(5, 3)
Wh = np.linspace(0.6, -0.2, num=3 * 3).reshape(3, 3)
b = np.array([0.1, -0.2, 0.05])
next_h, _ = rnn_step_forward(x, prev_h, Wx, Wh, b)
expected = np.array([[0.77968687, 0.47438552, 0.49060526], [-0.01285643, -0.0582198, 0.41884108]])
print(f"next_h relative error {rel_error(next_h, expected):.2e} (should be below 1e-6)")
expect_close("next_h", next_h, expected, tol=1e-6)

rng = np.random.default_rng(6)
x, prev_h = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
Wx, Wh, b = rng.normal(size=(5, 3)) * 0.5, rng.normal(size=(3, 3)) * 0.5, rng.normal(size=3)
dnext_h = rng.normal(size=(4, 3))
_, cache = rnn_step_forward(x, prev_h, Wx, Wh, b)
dx, dprev_h, dWx, dWh, db = rnn_step_backward(dnext_h, cache)
args = [x, prev_h, Wx, Wh, b]
numeric = [
    numerical_gradient_array(
        lambda v, j=j: rnn_step_forward(*args[:j], v, *args[j + 1 :])[0], args[j], dnext_h
    )
    for j in range(5)
]
check_gradients(
    list(
        zip(
            ["dx", "dprev_h", "dWx", "dWh", "db"], [dx, dprev_h, dWx, dWh, db], numeric, strict=True
        )
    )
)

# %% [markdown]
# ## Part 2: a vanilla RNN over a sequence, and full BPTT (3 points)
#
# `rnn_forward` runs the step over `t = 0, ..., T-1`, starting from `h0`.
# `rnn_backward` receives `dh` of shape `(N, T, H)`: the gradient that reaches every hidden
# state **from above** (from the loss at that step). A hidden state $h_t$ also feeds the
# next step, so the total gradient at $h_t$ is
#
# $$\frac{\partial L}{\partial h_t} = \texttt{dh[:, t]} + \text{(gradient coming back from step } t+1),$$
#
# which is why the loop runs **backwards** and carries `dprev_h` from one step to the
# one before. The weights are shared by every step, so their gradients are the **sum** of
# the gradients of all steps. `dh0` is the gradient that leaves the first step.


# %% nbgrader={"grade": false, "grade_id": "rnn_sequence", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_forward(x, h0, Wx, Wh, b):
    """tanh RNN over a sequence.

    x: (N, T, D); h0: (N, H); Wx: (D, H); Wh: (H, H); b: (H,).
    Returns h (N, T, H), the state after every step, and cache.
    """
    ### BEGIN SOLUTION
    n, steps, _ = x.shape
    h = np.zeros((n, steps, h0.shape[1]))
    caches = []
    current = h0
    for t in range(steps):
        current, step_cache = rnn_step_forward(x[:, t], current, Wx, Wh, b)
        h[:, t] = current
        caches.append(step_cache)
    cache = caches
    ### END SOLUTION
    return h, cache


def rnn_backward(dh, cache):
    """Full backpropagation through time. dh: (N, T, H), upstream gradient of every state.

    Returns dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    ### BEGIN SOLUTION
    caches = cache
    n, steps, hidden = dh.shape
    Wx, Wh = caches[0][2], caches[0][3]
    dx = np.zeros((n, steps, Wx.shape[0]))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(hidden)
    dprev_h = np.zeros((n, hidden))
    for t in reversed(range(steps)):
        dx[:, t], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dprev_h, caches[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    dh0 = dprev_h
    ### END SOLUTION
    return dx, dh0, dWx, dWh, db


# %% nbgrader={"grade": true, "grade_id": "test_rnn_sequence", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
rng = np.random.default_rng(16)
x, h0 = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 4))
Wx, Wh, b = rng.normal(size=(3, 4)) * 0.5, rng.normal(size=(4, 4)) * 0.5, rng.normal(size=4)
h, cache = rnn_forward(x, h0, Wx, Wh, b)
assert h.shape == (2, 5, 4), f"h should have shape (2, 5, 4), not {h.shape}"
state = h0
for t in range(5):
    state, _ = rnn_step_forward(x[:, t], state, Wx, Wh, b)
    assert rel_error(h[:, t], state) < 1e-12, f"h[:, {t}] is not the state after step {t}"
dh = rng.normal(size=h.shape)
dx, dh0, dWx, dWh, db = rnn_backward(dh, cache)
args = [x, h0, Wx, Wh, b]
numeric = [
    numerical_gradient_array(
        lambda v, j=j: rnn_forward(*args[:j], v, *args[j + 1 :])[0], args[j], dh
    )
    for j in range(5)
]
check_gradients(
    list(zip(["dx", "dh0", "dWx", "dWh", "db"], [dx, dh0, dWx, dWh, db], numeric, strict=True))
)

# %% [markdown]
# ## Part 3: one step of an LSTM (3 points)
#
# With the gate order i, f, o, g:
#
# $$a = x W_x + h_{t-1} W_h + b, \quad i, f, o = \sigma(a_i), \sigma(a_f), \sigma(a_o),
#   \quad g = \tanh(a_g),$$
# $$c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t).$$
#
# The backward pass receives **two** upstream gradients, `dnext_h` and `dnext_c` (the
# cell state is an output of the step as well: the next step reads it). Work it out in
# this order:
#
# 1. the total gradient at the cell state: `dc = dnext_c + dnext_h * o * (1 - tanh(c_t)**2)`;
# 2. the gradient of each gate's **output**: `di = dc * g`, `df = dc * c_prev`,
#    `do = dnext_h * tanh(c_t)`, `dg = dc * i`;
# 3. each gate's **pre-activation** gradient is its output gradient times its own
#    derivative: `s * (1 - s)` for the sigmoid gates, `1 - g**2` for `g`;
# 4. stack them in the order i, f, o, g into `da` of shape `(N, 4H)` and finish like a
#    dense layer;
# 5. the cell state's own path back in time runs through the forget gate:
#    `dprev_c = dc * f`.


# %% nbgrader={"grade": false, "grade_id": "lstm_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """One LSTM step, gate order i, f, o, g.

    x: (N, D); prev_h, prev_c: (N, H); Wx: (D, 4H); Wh: (H, 4H); b: (4H,).
    Returns next_h (N, H), next_c (N, H) and cache.
    """
    ### BEGIN SOLUTION
    hidden = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i = sigmoid(a[:, :hidden])
    f = sigmoid(a[:, hidden : 2 * hidden])
    o = sigmoid(a[:, 2 * hidden : 3 * hidden])
    g = np.tanh(a[:, 3 * hidden :])
    next_c = f * prev_c + i * g
    tanh_c = np.tanh(next_c)
    next_h = o * tanh_c
    cache = (x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c)
    ### END SOLUTION
    return next_h, next_c, cache


def lstm_step_backward(dnext_h, dnext_c, cache):
    """Backward of one LSTM step. dnext_h, dnext_c: (N, H).

    Returns dx (N, D), dprev_h (N, H), dprev_c (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    ### BEGIN SOLUTION
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c = cache
    dc = dnext_c + dnext_h * o * (1.0 - tanh_c**2)
    da_i = dc * g * i * (1.0 - i)
    da_f = dc * prev_c * f * (1.0 - f)
    da_o = dnext_h * tanh_c * o * (1.0 - o)
    da_g = dc * i * (1.0 - g**2)
    da = np.concatenate([da_i, da_f, da_o, da_g], axis=1)
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dprev_c = f * dc
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    ### END SOLUTION
    return dx, dprev_h, dprev_c, dWx, dWh, db


# %% nbgrader={"grade": true, "grade_id": "test_lstm_step", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
x = np.linspace(0.9, -0.5, num=2 * 3).reshape(2, 3)
prev_h = np.linspace(-0.4, 0.4, num=2 * 2).reshape(2, 2)
prev_c = np.linspace(1.0, -1.0, num=2 * 2).reshape(2, 2)
Wx = np.linspace(-0.8, 1.1, num=3 * 8).reshape(3, 8)
Wh = np.linspace(0.5, -0.9, num=2 * 8).reshape(2, 8)
b = np.linspace(-0.2, 0.3, num=8)
next_h, next_c, _ = lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
expected_h = np.array([[0.26122698, 0.22096626], [-0.11552357, -0.17725746]])
expected_c = np.array([[0.54502206, 0.39112753], [-0.34844345, -0.58358078]])
print(f"next_h relative error {rel_error(next_h, expected_h):.2e} (should be below 1e-6)")
print(f"next_c relative error {rel_error(next_c, expected_c):.2e} (should be below 1e-6)")
expect_close("next_h", next_h, expected_h, tol=1e-6, hint="Check the gate order i, f, o, g.")
expect_close("next_c", next_c, expected_c, tol=1e-6, hint="Check the gate order i, f, o, g.")

rng = np.random.default_rng(26)
x, prev_h, prev_c = rng.normal(size=(3, 4)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
Wx, Wh, b = rng.normal(size=(4, 8)) * 0.5, rng.normal(size=(2, 8)) * 0.5, rng.normal(size=8)
dnext_h, dnext_c = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
_, _, cache = lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
grads = lstm_step_backward(dnext_h, dnext_c, cache)
args = [x, prev_h, prev_c, Wx, Wh, b]


def both_outputs(j):
    """sum(next_h * dnext_h + next_c * dnext_c) as a function of argument j."""

    def f(v):
        next_h, next_c, _ = lstm_step_forward(*args[:j], v, *args[j + 1 :])
        return np.concatenate([next_h, next_c])

    return f


stacked = np.concatenate([dnext_h, dnext_c])
numeric = [numerical_gradient_array(both_outputs(j), args[j], stacked) for j in range(6)]
names = ["dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"]
check_gradients(list(zip(names, grads, numeric, strict=True)))

# %% [markdown]
# ## Part 4: an LSTM over a sequence, and full BPTT (3 points)
#
# `lstm_forward` runs the step over the sequence from the states `h0` and `c0`, and
# returns the hidden states `h` of shape `(N, T, H)`. The loss reads only the hidden
# states, so `lstm_backward` receives only `dh` `(N, T, H)`; the cell state's gradient
# starts at zero after the last step and is then carried back step by step, together
# with the hidden state's gradient (added to `dh[:, t]`). Return `dh0` and `dc0`, the
# gradients that leave the first step. Part 5 will need the last cell state $c_{T-1}$:
# keep it in your cache.


# %% nbgrader={"grade": false, "grade_id": "lstm_sequence", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lstm_forward(x, h0, c0, Wx, Wh, b):
    """LSTM over a sequence. x: (N, T, D); h0, c0: (N, H); Wx: (D, 4H); Wh: (H, 4H); b: (4H,).

    Returns h (N, T, H) and cache.
    """
    ### BEGIN SOLUTION
    n, steps, _ = x.shape
    h = np.zeros((n, steps, h0.shape[1]))
    caches = []
    state_h, state_c = h0, c0
    for t in range(steps):
        state_h, state_c, step_cache = lstm_step_forward(x[:, t], state_h, state_c, Wx, Wh, b)
        h[:, t] = state_h
        caches.append(step_cache)
    cache = (caches, state_c)
    ### END SOLUTION
    return h, cache


def lstm_backward(dh, cache):
    """Full BPTT for lstm_forward. dh: (N, T, H), upstream gradient of every hidden state.

    Returns dx (N, T, D), dh0 (N, H), dc0 (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    ### BEGIN SOLUTION
    caches, _ = cache
    n, steps, hidden = dh.shape
    Wx, Wh = caches[0][3], caches[0][4]
    dx = np.zeros((n, steps, Wx.shape[0]))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(4 * hidden)
    dprev_h, dprev_c = np.zeros((n, hidden)), np.zeros((n, hidden))
    for t in reversed(range(steps)):
        step_grads = lstm_step_backward(dh[:, t] + dprev_h, dprev_c, caches[t])
        dx[:, t], dprev_h, dprev_c, dWx_t, dWh_t, db_t = step_grads
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    dh0, dc0 = dprev_h, dprev_c
    ### END SOLUTION
    return dx, dh0, dc0, dWx, dWh, db


# %% nbgrader={"grade": true, "grade_id": "test_lstm_sequence", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
rng = np.random.default_rng(36)
x, h0, c0 = rng.normal(size=(2, 6, 3)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
Wx, Wh, b = rng.normal(size=(3, 16)) * 0.5, rng.normal(size=(4, 16)) * 0.5, rng.normal(size=16)
h, cache = lstm_forward(x, h0, c0, Wx, Wh, b)
expect_shape("h", h, (2, 6, 4))
dh = rng.normal(size=h.shape)
grads = lstm_backward(dh, cache)
args = [x, h0, c0, Wx, Wh, b]
numeric = [
    numerical_gradient_array(
        lambda v, j=j: lstm_forward(*args[:j], v, *args[j + 1 :])[0], args[j], dh
    )
    for j in range(6)
]
check_gradients(list(zip(["dx", "dh0", "dc0", "dWx", "dWh", "db"], grads, numeric, strict=True)))

# %% [markdown]
# ## Part 5: truncated BPTT (3 points)
#
# Long sequences are cut into chunks of `k` steps (the last chunk may be shorter). For each
# chunk, in order:
#
# 1. run `lstm_forward` on the chunk, starting from the state `(h, c)` that the previous
#    chunk ended with (the first chunk starts from `h0`, `c0`): the **state is carried**;
# 2. compute the chunk's loss and its gradient with `loss, dh_chunk = loss_fn(h_chunk,
#    start)`, where `h_chunk` has shape `(N, chunk length, H)` and `start` is the index of
#    the chunk's first step in the whole sequence;
# 3. backpropagate through the chunk only. The chunk's starting state is treated as a
#    constant: the gradients `dh0`, `dc0` that leave the chunk are **dropped**, not sent
#    into the previous chunk (this is what `detach()` does in PyTorch). The **gradient is
#    cut**.
#
# Return the total loss, `dx` for the whole sequence `(N, T, D)`, the weight gradients
# summed over the chunks, and the final state `h_last`, `c_last` `(N, H)` from which the
# next batch of a stateful training loop would continue. With `k >= T` this is full BPTT.
# The grader passes its own `loss_fn`.


# %% nbgrader={"grade": false, "grade_id": "truncated_bptt", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lstm_truncated_bptt(x, h0, c0, Wx, Wh, b, k, loss_fn):
    """Truncated BPTT over chunks of k steps, state carried, gradient cut at chunk borders.

    x: (N, T, D); h0, c0: (N, H); Wx: (D, 4H); Wh: (H, 4H); b: (4H,); k: int >= 1;
    loss_fn(h_chunk, start) -> (loss, dh_chunk), h_chunk and dh_chunk (N, chunk length, H).
    Returns loss (float, summed over chunks), dx (N, T, D), dWx (D, 4H), dWh (H, 4H),
    db (4H,), h_last (N, H), c_last (N, H).
    """
    ### BEGIN SOLUTION
    steps = x.shape[1]
    loss = 0.0
    dx = np.zeros_like(x, dtype=float)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    state_h, state_c = h0, c0
    for start in range(0, steps, k):
        stop = min(start + k, steps)
        h_chunk, cache = lstm_forward(x[:, start:stop], state_h, state_c, Wx, Wh, b)
        chunk_loss, dh_chunk = loss_fn(h_chunk, start)
        dx_chunk, _, _, dWx_chunk, dWh_chunk, db_chunk = lstm_backward(dh_chunk, cache)
        loss += chunk_loss
        dx[:, start:stop] = dx_chunk
        dWx += dWx_chunk
        dWh += dWh_chunk
        db += db_chunk
        state_h, state_c = h_chunk[:, -1], cache[1]
    h_last, c_last = state_h, state_c
    ### END SOLUTION
    return loss, dx, dWx, dWh, db, h_last, c_last


# %% nbgrader={"grade": true, "grade_id": "test_truncated_bptt", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
rng = np.random.default_rng(46)
x, h0, c0 = rng.normal(size=(2, 7, 3)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
Wx, Wh, b = rng.normal(size=(3, 16)) * 0.5, rng.normal(size=(4, 16)) * 0.5, rng.normal(size=16)
target = rng.normal(size=(2, 7, 4))


def loss_fn(h_chunk, start):
    """Squared distance of the chunk's states to the matching slice of a target."""
    diff = h_chunk - target[:, start : start + h_chunk.shape[1]]
    return 0.5 * float(np.sum(diff**2)), diff


# 1. With k >= T, truncated BPTT is full BPTT.
h, cache = lstm_forward(x, h0, c0, Wx, Wh, b)
full_loss, dh = loss_fn(h, 0)
dx_full, _, _, dWx_full, dWh_full, db_full = lstm_backward(dh, cache)
loss, dx, dWx, dWh, db, h_last, c_last = lstm_truncated_bptt(x, h0, c0, Wx, Wh, b, 7, loss_fn)
expect_close("loss (k = 7)", loss, full_loss, tol=1e-10, hint="With k >= T it is full BPTT.")
expect_close("h_last (k = 7)", h_last, h[:, -1], tol=1e-12)
check_gradients([("dx", dx, dx_full), ("dWx", dWx, dWx_full), ("db", db, db_full)], tol=1e-10)

# 2. With k = 3 the forward pass is unchanged (the state is carried) ...
loss, dx, dWx, dWh, db, h_last, c_last = lstm_truncated_bptt(x, h0, c0, Wx, Wh, b, 3, loss_fn)
expect_close("loss (k = 3)", loss, full_loss, tol=1e-10, hint="Carry (h, c) into the next chunk.")
expect_close("h_last", h_last, h[:, -1], tol=1e-12, hint="The state after the last step.")


# ... but each chunk's gradient treats the chunk's starting state as a constant: the
# numerical gradient of the summed chunk losses, with every chunk started from the
# (fixed) state the unperturbed forward pass reached there.
# Your cache is yours alone, so the cell states are recomputed here by a small LSTM.
def cell_states(x, h, c, Wx, Wh, b):
    """The (h, c) pairs (N, H) after every step of an LSTM with gate order i, f, o, g."""
    states, hidden = [], h.shape[1]
    for t in range(x.shape[1]):
        a = x[:, t] @ Wx + h @ Wh + b
        i, f, o = (sigmoid(a[:, k * hidden : (k + 1) * hidden]) for k in range(3))
        c = f * c + i * np.tanh(a[:, 3 * hidden :])
        h = o * np.tanh(c)
        states.append((h, c))
    return states


states = cell_states(x, h0, c0, Wx, Wh, b)
expect_close("c_last", c_last, states[-1][1], tol=1e-10, hint="The cell state after the last step.")
starts = [(h0, c0), states[2], states[5]]


def detached_loss(Wx_):
    return sum(
        loss_fn(lstm_forward(x[:, s : s + 3], *state, Wx_, Wh, b)[0], s)[0]
        for s, state in zip((0, 3, 6), starts, strict=True)
    )


dWx_num = numerical_gradient_array(detached_loss, Wx, np.array(1.0))
check_gradients([("dWx", dWx, dWx_num)])
print(f"truncation changed dWx by {grad_error(dWx, dWx_full):.2f} relative to full BPTT")
