# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 1: a dense layer, two activations and a loss, by hand
#
# **Read first:** the chapter [*Backpropagation through dense, activation and pooling
# layers*](https://backprop-course.example.org/book/backprop-dense.html) of the course
# book, from the beginning to the section *Putting it together: a tiny regression*.
#
# You will write five small NumPy functions. Every layer follows one contract:
#
# * `thing_forward(x, *params)` returns `(out, cache)`: the output, and whatever the
#   backward pass will need;
# * `thing_backward(dout, cache)` returns `(dx, *dparams)`: the gradient of the loss with
#   respect to the input and to each parameter. A layer without parameters returns `dx`
#   alone. `dout` always has the shape of `out`; every gradient has the shape of the
#   array it differentiates.
# * **Arrays you are given stay as they were.** The grader compares every argument after
#   the call with what it passed: a forward pass (or a loss) that changes `x` in place
#   (`out = x; out[out < 0] = 0`) is wrong and loses the case, because the caller still
#   uses `x` (the cache, the next layer, accuracy on the same batch).
#   A backward pass that changes the upstream gradient it receives (`dout[mask] = 0`,
#   `dnext_c += ...`) keeps its points but gets a warning: it breaks a network in
#   which one gradient feeds two branches.
#
# Work in float64 and without Python loops over the batch. Each graded part ends with a
# cell of **visible self-checks**: run it; if it prints nothing alarming and raises no
# error, your function passes the easy tests. The autograder then runs **hidden checks**
# on fresh random inputs and edge cases (a batch of one, zeros, large values), compares
# your gradients with the reference, and tells you which mistake it recognised.
#
# Only the cells marked "YOUR CODE HERE" are graded. Do not rename the functions.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np

np.set_printoptions(precision=4, suppress=True)


def numerical_gradient_array(f, x, dout, h=1e-6):
    """Centred-difference gradient of sum(f(x) * dout) with respect to x (same shape as x)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        saved = x[i]
        x[i] = saved + h
        plus = f(x).copy()
        x[i] = saved - h
        minus = f(x).copy()
        x[i] = saved
        grad[i] = np.sum((plus - minus) * dout) / (2 * h)
    return grad


def rel_error(a, b):
    """Largest elementwise relative error, with a floor so that zeros do not divide."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)))


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
# ## Part 1: the dense layer, forward (2 points)
#
# `out = x @ w + b`, where an input `x` of shape `(N, d_1, ..., d_k)` is first flattened
# to `(N, D)` with `D = d_1 * ... * d_k`. The weight `w` has shape `(D, M)` (input
# features by units) and the bias `b` has `M` entries.


# %% nbgrader={"grade": false, "grade_id": "dense_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dense_forward(x, w, b):
    """Affine layer.

    x: (N, d_1, ..., d_k); w: (D, M) with D = d_1 * ... * d_k; b: (M,).
    Returns out: (N, M) and cache, whatever dense_backward needs.
    """
    ### BEGIN SOLUTION
    out = x.reshape(x.shape[0], -1) @ w + b
    cache = (x, w)
    ### END SOLUTION
    return out, cache


# %% nbgrader={"grade": true, "grade_id": "test_dense_forward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
x = np.linspace(-0.1, 0.5, num=2 * 4 * 5 * 6).reshape(2, 4, 5, 6)
w = np.linspace(-0.2, 0.3, num=120 * 3).reshape(120, 3)
b = np.linspace(-0.3, 0.1, num=3)
out, _ = dense_forward(x, w, b)
expected = np.array([[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]])
expect_shape("out", out, expected.shape)
print("relative error of out:", rel_error(out, expected), "(should be below 1e-7)")
expect_close("out", out, expected, hint="Flatten x to (N, D), then x @ w + b.")

# %% [markdown]
# ## Part 2: the dense layer, backward (3 points)
#
# Given `dout` of shape `(N, M)`, return `dx` with the shape of `x`, `dw` of shape
# `(D, M)` and `db` of shape `(M,)`. The batch is **summed** here, not averaged: the
# averaging over the batch belongs to the loss.


# %% nbgrader={"grade": false, "grade_id": "dense_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dense_backward(dout, cache):
    """Gradients of the affine layer.

    dout: (N, M). Returns dx (shape of x), dw (D, M), db (M,).
    """
    ### BEGIN SOLUTION
    x, w = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    ### END SOLUTION
    return dx, dw, db


# %% nbgrader={"grade": true, "grade_id": "test_dense_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
rng = np.random.default_rng(0)
x = rng.standard_normal((4, 2, 3))
w = rng.standard_normal((6, 5))
b = rng.standard_normal(5)
dout = rng.standard_normal((4, 5))
_, cache = dense_forward(x, w, b)
dx, dw, db = dense_backward(dout, cache)
expect_shape("dx", dx, x.shape)
expect_shape("dw", dw, w.shape)
expect_shape("db", db, b.shape)
dx_num = numerical_gradient_array(lambda v: dense_forward(v, w, b)[0], x, dout)
dw_num = numerical_gradient_array(lambda v: dense_forward(x, v, b)[0], w, dout)
db_num = numerical_gradient_array(lambda v: dense_forward(x, w, v)[0], b, dout)
for name, analytic, numeric in [("dx", dx, dx_num), ("dw", dw, dw_num), ("db", db, db_num)]:
    print(f"{name} relative error: {rel_error(analytic, numeric):.2e} (should be below 1e-7)")
    expect_close(name, analytic, numeric, hint="Expected is the numerical gradient.")

# %% [markdown]
# ## Part 3: the sigmoid, forward and backward (2 points)
#
# $\sigma(z) = 1 / (1 + e^{-z})$. Two things matter here:
#
# * **stability**: for large $|z|$, `np.exp` of a large positive number overflows.
#   Compute the sigmoid so that it never does (hint: only ever take `exp` of `-|z|`);
# * the derivative $\sigma'(z) = \sigma(z)(1 - \sigma(z))$ is a function of the
#   **output**: evaluate it at $\sigma(z)$, not at $z$.


# %% nbgrader={"grade": false, "grade_id": "sigmoid", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sigmoid_forward(x):
    """Elementwise logistic function. x: any shape. Returns out (shape of x) and cache."""
    ### BEGIN SOLUTION
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    cache = out
    ### END SOLUTION
    return out, cache


def sigmoid_backward(dout, cache):
    """dout: shape of out. Returns dx (shape of x)."""
    ### BEGIN SOLUTION
    s = cache
    dx = dout * s * (1.0 - s)
    ### END SOLUTION
    return dx


# %% nbgrader={"grade": true, "grade_id": "test_sigmoid", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
x = np.linspace(-3.0, 3.0, num=7)
out, cache = sigmoid_forward(x)
expected = [0.04742587, 0.11920292, 0.26894142, 0.5, 0.73105858, 0.88079708, 0.95257413]
expect_close("out", out, expected)
# What is graded: finite outputs with the right limits for large |x|. A warning from
# np.exp about an overflow is only reported here, not failed.
overflows = []
with np.errstate(over="call", call=lambda kind, flag: overflows.append(kind)):
    big, _ = sigmoid_forward(np.array([-1000.0, 1000.0]))
expect_close("sigmoid_forward([-1000, 1000])", big, [0.0, 1.0], hint="It must not be NaN.")
if overflows:
    print("note: np.exp overflowed inside your sigmoid (harmless here, but see the hint above)")
dout = np.linspace(-1.0, 1.0, num=7)
dx = sigmoid_backward(dout, cache)
dx_num = numerical_gradient_array(lambda v: sigmoid_forward(v)[0], x, dout)
print(f"dx relative error: {rel_error(dx, dx_num):.2e} (should be below 1e-7)")
expect_close(
    "dx", dx, dx_num, hint="Evaluate sigma'(z) = s (1 - s) at the output s, not at the input z."
)

# %% [markdown]
# ## Part 4: ReLU, forward and backward (2 points)
#
# `relu(x) = max(0, x)`. At exactly `x == 0` the function has a kink and any value in
# [0, 1] is a valid subgradient. **This course fixes the subgradient at 0 to be 0**
# (the choice of PyTorch's `relu`; `clamp(min=0)` chooses 1). With integer-valued data,
# exact zeros are common, so this matters.


# %% nbgrader={"grade": false, "grade_id": "relu", "locked": false, "schema_version": 3, "solution": true, "task": false}
def relu_forward(x):
    """Elementwise max(0, x). x: any shape. Returns out (shape of x) and cache."""
    ### BEGIN SOLUTION
    out = np.maximum(x, 0.0)
    cache = x
    ### END SOLUTION
    return out, cache


def relu_backward(dout, cache):
    """dout: shape of out. Returns dx (shape of x); the gradient at x == 0 is 0."""
    ### BEGIN SOLUTION
    x = cache
    dx = dout * (x > 0)
    ### END SOLUTION
    return dx


# %% nbgrader={"grade": true, "grade_id": "test_relu", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
x = np.array([[-2.0, -0.5, 0.0], [0.5, 2.0, 0.0]])
out, cache = relu_forward(x)
expect_close("out", out, [[0.0, 0.0, 0.0], [0.5, 2.0, 0.0]], tol=1e-12)
dx = relu_backward(np.ones_like(x), cache)
expect_close(
    "dx", dx, [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]], tol=1e-12, hint="The gradient at 0 is 0."
)
print("relu looks right")

# %% [markdown]
# ## Part 5: the mean squared error (2 points)
#
# For predictions `pred` and targets `y` of shape `(N, ...)`:
#
# $$L = \frac{1}{2N} \sum (\text{pred} - y)^2, \qquad
#   \frac{\partial L}{\partial\, \text{pred}} = \frac{\text{pred} - y}{N}.$$
#
# The $\tfrac12$ cancels the 2 of the square; $N$ is the batch size (axis 0). Mind the
# sign: the derivative points from the target towards the prediction.


# %% nbgrader={"grade": false, "grade_id": "mse", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mse_loss(pred, y):
    """pred, y: (N, ...). Returns loss (a float) and dpred (shape of pred)."""
    ### BEGIN SOLUTION
    n = pred.shape[0]
    diff = pred - y
    loss = 0.5 * np.sum(diff**2) / n
    dpred = diff / n
    ### END SOLUTION
    return loss, dpred


# %% nbgrader={"grade": true, "grade_id": "test_mse", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
pred = np.linspace(-1.0, 1.0, num=6).reshape(3, 2)
y = np.zeros((3, 2))
loss, dpred = mse_loss(pred, y)
print("loss:", loss, "(should be 0.4666...)")
expect_close("loss", loss, 0.4666666666666667, tol=1e-9, hint="L = sum((pred - y)**2) / (2 N).")
dpred_num = numerical_gradient_array(lambda p: np.array(mse_loss(p, y)[0]), pred, np.array(1.0))
print(f"dpred relative error: {rel_error(dpred, dpred_num):.2e} (should be below 1e-7)")
expect_close(
    "dpred", dpred, dpred_num, hint="Expected is the numerical gradient; mind the sign of pred - y."
)

# %% [markdown]
# ## Before you submit
#
# Restart the kernel and run all cells. Every self-check above should pass. The hidden
# checks use other shapes and values, so code that only works on these examples will
# not get the points.
