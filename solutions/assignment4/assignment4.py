# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 4: gradient checking, and three broken layers to repair
#
# **Read first:** the chapter [*Gradient checking and
# debugging*](https://backprop-course.example.org/book/gradient-checking.html) of the course book
# (sections *Centred differences*, *Comparing two gradients: the relative error*, *How
# small is small enough*, *Kinks: where the derivative does not exist* and *A debugging
# procedure that works*).
#
# First you write the two tools of a gradient check: a centred-difference numerical
# gradient and the relative error between two gradients. Then you use them on three
# layers whose backward pass has a bug (they are given in a locked cell), find each bug
# and write a correct backward pass.
#
# Conventions (the grader checks each one exactly):
#
# * `numerical_gradient(f, x, h)` uses the **centred** difference
#   `(f(x + h e_i) - f(x - h e_i)) / (2 h)` for every entry `i` of `x`, one entry at a
#   time, and leaves `x` exactly as it found it. It perturbs `x` **itself**, in place:
#   the functions it checks are often closures that ignore their argument and read the
#   caller's `x` (`numerical_gradient(lambda _: loss(x), x)`), so perturbing a copy
#   measures nothing; an `x` not restored when the function returns loses the case;
# * `relative_error(a, b)` is the largest over all entries of
#   `|a - b| / max(|a| + |b|, 1e-8)`: symmetric in `a` and `b`, with a floor of `1e-8`
#   so that entries that are 0 in both arrays give 0 instead of 0 / 0;
# * the repaired layers follow the contract of the earlier assignments: the backward
#   pass returns the gradient with respect to the input, with the input's shape, and
#   changes neither `x` (a loss of points) nor `dout` (a warning) in place;
# * at a kink (a hinge term exactly 0) the course takes the slope 0 there; another
#   subgradient is another convention, and the feedback says so.
#
# Only the cells marked "YOUR CODE HERE" are graded. Do not rename the functions.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np

np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## The three layers to repair
#
# Each forward pass below is right; each backward pass has one bug. Do not edit this
# cell: your repaired versions go further down, under new names.


# %% nbgrader={"grade": false, "grade_id": "broken_layers", "locked": true, "schema_version": 3, "solution": false, "task": false}
def tanh_forward(x):
    """Elementwise tanh. x: any shape. Returns out (shape of x) and cache (x, out)."""
    out = np.tanh(x)
    return out, (x, out)


def tanh_backward_broken(dout, cache):
    """dout: shape of out. Returns dx (shape of x). Has a bug."""
    x = cache[0]
    return dout * (1.0 - x**2)


def softmax_forward(x):
    """Softmax of each row. x: (N, C). Returns s (N, C), each row summing to 1, and cache s."""
    e = np.exp(x - x.max(axis=1, keepdims=True))
    s = e / e.sum(axis=1, keepdims=True)
    return s, s


def softmax_backward_broken(dout, cache):
    """dout: (N, C). Returns dx (N, C). Has a bug."""
    s = cache
    return dout * s * (1.0 - s)


def hinge_loss_broken(scores, y):
    """Multiclass SVM loss, margin 1, averaged over the batch. Has a bug in dscores.

    scores: (N, C); y: (N,) integer labels. Returns loss (a float) and dscores (N, C).
    """
    n = scores.shape[0]
    rows = np.arange(n)
    margins = scores - scores[rows, y][:, None] + 1.0
    violated = (margins > 0).astype(float)
    margins[rows, y] = 0.0
    loss = np.maximum(margins, 0.0).sum() / n
    dscores = violated.copy()
    dscores[rows, y] = -violated.sum(axis=1)
    return loss, dscores / n


def expect_shape(name, got, shape):
    """Fail with a message that names the array unless np.shape(got) == shape."""
    assert np.shape(got) == tuple(shape), (
        f"{name} should have shape {tuple(shape)}, but it has shape {np.shape(got)}"
    )


def expect_close(name, got, expected, tol=1e-7, hint=""):
    """Fail, naming the array and showing expected and got, unless they agree to tol."""
    expected = np.asarray(expected, dtype=float)
    expect_shape(name, got, expected.shape)
    a, b = np.asarray(got, dtype=float), expected
    error = float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8), initial=0.0))
    assert error < tol, (
        f"{name} is wrong (relative error {error:.1e}, should be below {tol:.0e}). {hint}"
        f"\nexpected:\n{expected}\ngot:\n{a}"
    )


# %% [markdown]
# ## Part 1: the numerical gradient (4 points)
#
# For a function `f` that maps an array `x` to a number, estimate every partial
# derivative with the centred difference. Its error shrinks like $h^2$; the one-sided
# difference `(f(x + h e_i) - f(x)) / h` is only accurate to order $h$, which on a
# strongly curved function is far too coarse to tell a right gradient from a slightly
# wrong one. Change one entry at a time (changing all of them at once measures a
# derivative along the diagonal, not a partial derivative), and put each entry back
# before moving on: `f` may depend on all entries together.


# %% nbgrader={"grade": false, "grade_id": "numerical_gradient", "locked": false, "schema_version": 3, "solution": true, "task": false}
def numerical_gradient(f, x, h=1e-5):
    """Centred-difference gradient of the scalar function f at x.

    f: maps an array shaped like x to a float; x: float array of any shape, modified
    while the function runs and restored exactly before it returns; h: the step.
    Returns grad, shape of x, with grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2 h).
    """
    ### BEGIN SOLUTION
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + h
        plus = f(x)
        x[i] = saved - h
        minus = f(x)
        x[i] = saved
        grad[i] = (plus - minus) / (2.0 * h)
    ### END SOLUTION
    return grad


# %% nbgrader={"grade": true, "grade_id": "test_numerical_gradient", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
x = np.linspace(-1.0, 1.0, num=6).reshape(2, 3)
x_before = x.copy()
grad = numerical_gradient(lambda v: float(np.sum(v**3)), x, h=1e-4)
expect_shape("grad", grad, x.shape)
assert np.array_equal(x, x_before), "x must be exactly as it was before the call"
error = np.max(np.abs(grad - 3 * x**2))
print(f"largest error on sum(x**3) with h = 1e-4: {error:.1e} (centred: about h**2 = 1e-8)")
assert error < 1e-7, "is the difference centred? a one-sided one is off by about 3 h |x|"

# A function that couples the entries: forgetting to restore x[i] changes later entries.
a = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]])
x = np.array([0.5, -1.0, 2.0])
grad = numerical_gradient(lambda v: float(0.5 * v @ a @ v), x, h=1e-3)
print("gradient of 0.5 x.A.x:", grad, " exact:", a @ x)
expect_close("grad", grad, a @ x, tol=1e-9, hint="The gradient of 0.5 x^T A x is A x.")

# %% [markdown]
# ## Part 2: the relative error (2 points)
#
# Two gradients never agree to the last digit, so compare them relative to their size,
# entry by entry, and report the worst entry. Without the floor, an entry that is 0 in
# both arrays gives 0 / 0 = NaN, and a NaN spoils the maximum.


# %% nbgrader={"grade": false, "grade_id": "relative_error", "locked": false, "schema_version": 3, "solution": true, "task": false}
def relative_error(a, b):
    """max over entries of |a - b| / max(|a| + |b|, 1e-8). a, b: arrays of one shape.

    Returns a float; 0.0 when a and b are equal (zeros included).
    """
    ### BEGIN SOLUTION
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    error = np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8))
    ### END SOLUTION
    return float(error)


# %% nbgrader={"grade": true, "grade_id": "test_relative_error", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
assert abs(relative_error(np.array([2.0, 1.0]), np.array([1.0, 1.0])) - 1 / 3) < 1e-12
with np.errstate(invalid="raise", divide="raise"):
    zeros = relative_error(np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 1.0 + 1e-9]))
print("relative error with exact zeros:", zeros, "(should be about 5e-10)")
assert np.isfinite(zeros) and zeros < 1e-9, "entries that are 0 in both arrays must not divide"

# %% [markdown]
# ## Part 3: repair the tanh layer (2 points)
#
# Run the check below on `tanh_backward_broken` to see it fail, read the broken code in
# the locked cell, and write a correct `tanh_backward`. It receives the cache of the
# given `tanh_forward`, `(x, out)`.


# %% nbgrader={"grade": false, "grade_id": "tanh", "locked": false, "schema_version": 3, "solution": true, "task": false}
def tanh_backward(dout, cache):
    """Gradient of tanh. dout: shape of out; cache: (x, out) from tanh_forward.

    Returns dx, shape of x.
    """
    ### BEGIN SOLUTION
    _, out = cache
    dx = dout * (1.0 - out**2)
    ### END SOLUTION
    return dx


# %% nbgrader={"grade": true, "grade_id": "test_tanh", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
rng = np.random.default_rng(4)
x = rng.standard_normal((3, 4))
dout = rng.standard_normal((3, 4))
numeric = numerical_gradient(lambda v: float(np.sum(tanh_forward(v)[0] * dout)), x)
_, cache = tanh_forward(x)
print(f"broken:   {relative_error(tanh_backward_broken(dout, cache), numeric):.1e}")
print(f"repaired: {relative_error(tanh_backward(dout, cache), numeric):.1e} (below 1e-7)")
expect_close("dx", tanh_backward(dout, cache), numeric, hint="Expected is the numerical gradient.")

# %% [markdown]
# ## Part 4: repair the softmax layer (2 points)
#
# Every output of a softmax row depends on every input of that row, so its Jacobian is
# not diagonal. `softmax_backward` receives the cache of `softmax_forward`, the
# probabilities `s` of shape `(N, C)`.


# %% nbgrader={"grade": false, "grade_id": "softmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
def softmax_backward(dout, cache):
    """Gradient of a row-wise softmax. dout: (N, C); cache: s (N, C) from softmax_forward.

    Returns dx (N, C).
    """
    ### BEGIN SOLUTION
    weighted = np.sum(dout * cache, axis=1, keepdims=True)
    dx = cache * (dout - weighted)
    ### END SOLUTION
    return dx


# %% nbgrader={"grade": true, "grade_id": "test_softmax", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
rng = np.random.default_rng(5)
x = rng.standard_normal((4, 5))
dout = rng.standard_normal((4, 5))
numeric = numerical_gradient(lambda v: float(np.sum(softmax_forward(v)[0] * dout)), x)
s, cache = softmax_forward(x)
print(f"broken:   {relative_error(softmax_backward_broken(dout, cache), numeric):.1e}")
print(f"repaired: {relative_error(softmax_backward(dout, cache), numeric):.1e} (below 1e-7)")
expect_close(
    "dx", softmax_backward(dout, cache), numeric, hint="Expected is the numerical gradient."
)

# %% [markdown]
# ## Part 5: repair the hinge loss (2 points)
#
# The multiclass SVM loss of one example is $\sum_{j \ne y} \max(0, s_j - s_y + 1)$,
# averaged over the batch. It has **kinks** where a term is exactly 0; a numerical
# check straddling a kink disagrees with any analytic choice, so check at random
# (kink-free) scores first. At a kink this course takes the subgradient 0: a term that
# is exactly 0 counts as *not* violated. `hinge_loss` returns the loss and its gradient.


# %% nbgrader={"grade": false, "grade_id": "hinge", "locked": false, "schema_version": 3, "solution": true, "task": false}
def hinge_loss(scores, y):
    """Multiclass SVM loss with margin 1, averaged over the batch.

    scores: (N, C); y: (N,) integer labels. Returns loss (a float) and dscores (N, C):
    1/N for every violated class j != y (term strictly positive), and minus the number
    of violated classes, over N, at the correct class.
    """
    ### BEGIN SOLUTION
    count = scores.shape[0]
    idx = np.arange(count)
    terms = scores - scores[idx, y][:, None] + 1.0
    terms[idx, y] = 0.0
    loss = np.sum(np.maximum(terms, 0.0)) / count
    active = (terms > 0).astype(float)
    active[idx, y] = -active.sum(axis=1)
    dscores = active / count
    ### END SOLUTION
    return loss, dscores


# %% nbgrader={"grade": true, "grade_id": "test_hinge", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
rng = np.random.default_rng(6)
scores = rng.standard_normal((5, 4))
y = rng.integers(0, 4, size=5)
numeric = numerical_gradient(lambda v: hinge_loss_broken(v, y)[0], scores)
print(f"broken:   {relative_error(hinge_loss_broken(scores, y)[1], numeric):.1e}")
loss, dscores = hinge_loss(scores, y)
print(f"repaired: {relative_error(dscores, numeric):.1e} (below 1e-7)")
expect_close(
    "loss", loss, hinge_loss_broken(scores, y)[0], tol=1e-12, hint="The loss itself was right."
)
expect_close("dscores", dscores, numeric, hint="Expected is the numerical gradient.")

# At a kink: scores (2, 1, 0) with label 1 give the terms 2 - 1 + 1 = 2 (violated) and
# 0 - 1 + 1 = 0 (exactly at the kink: not violated).
_, dscores = hinge_loss(np.array([[2.0, 1.0, 0.0]]), np.array([1]))
expect_close("dscores", dscores, [[1.0, -1.0, 0.0]], tol=1e-12)

# %% [markdown]
# ## Before you submit
#
# Restart the kernel and run all cells. The hidden checks give your `numerical_gradient`
# functions of their own (strongly curved ones, and ones that couple the entries of
# `x`), compare your relative error on arrays with exact zeros, and call your repaired
# layers on other shapes, saturated inputs and scores that sit exactly on a kink.
