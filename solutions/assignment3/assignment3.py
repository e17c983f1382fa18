# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 3: output deltas and losses on logits
#
# **Read first:** the chapter [*Output-layer deltas*](https://backprop-course.example.org/book/output-deltas.html) of the
# course book (sections *MSE
# with a sigmoid output*, *Sigmoid output with binary cross-entropy*, *Softmax output
# with cross-entropy*, *Why the argument is called "logits"*, *Computing softmax and
# log-softmax stably* and *Keeping f'(z) under cross-entropy is wrong*).
#
# The backward pass of a network starts at the loss. What it hands to the last layer is
# the **output delta**: the gradient of the loss with respect to the output layer's
# pre-activation `z` (the *logits*). You will write three losses that take logits and
# return `(loss, dz)`:
#
# | output | loss | output delta `dz` |
# | --- | --- | --- |
# | sigmoid | mean squared error | `(a - y) * a * (1 - a) / N` with `a = sigmoid(z)` |
# | sigmoid | binary cross-entropy | `(a - y) / N` |
# | softmax | cross-entropy, integer labels | `(softmax(z) - onehot(y)) / N` |
#
# The derivative of the sigmoid, `a * (1 - a)`, appears in the first row and not in the
# other two: under cross-entropy it cancels against the derivative of the log. Part 2
# makes you check that with numbers.
#
# Conventions (the grader checks each one exactly):
#
# * `N` is the batch size, the length of axis 0. Every loss is a **mean over the batch**
#   (a sum over the other axes), and `dz` carries the same single `1/N`;
# * the MSE has the factor 1/2: `sum((a - y)**2) / (2 N)`;
# * the losses must stay finite for logits of any finite size (we test up to 1e4);
# * `loss` is a Python or NumPy float; `dz` has exactly the shape of `z`;
# * `z` and `y` stay as they were (the grader checks them after the call): a loss that
#   changes the caller's logits or labels in place is wrong and loses the case.
#
# Only the cells marked "YOUR CODE HERE" are graded. Do not rename the functions.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np

np.set_printoptions(precision=4, suppress=True)


def sigmoid(z):
    """Logistic function that never overflows: exp is only taken of -|z|."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def numerical_gradient(f, x, h=1e-6):
    """Centred-difference gradient of the scalar f(x) with respect to x (same shape as x)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        saved = x[i]
        x[i] = saved + h
        plus = f(x)
        x[i] = saved - h
        minus = f(x)
        x[i] = saved
        grad[i] = (plus - minus) / (2 * h)
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
    a, b = np.asarray(got, dtype=float), expected
    error = float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8), initial=0.0))
    assert error < tol, (
        f"{name} is wrong (relative error {error:.1e}, should be below {tol:.0e}). {hint}"
        f"\nexpected:\n{expected}\ngot:\n{a}"
    )


# %% [markdown]
# ## Part 1: a sigmoid output with the mean squared error (3 points)
#
# With `a = sigmoid(z)` and `L = sum((a - y)**2) / (2 N)`, the chain rule gives
# `dL/da = (a - y) / N` and then `dz = dL/da * a * (1 - a)`. The sigmoid's derivative
# stays in the delta here: nothing cancels it. Near `a = 0` or `a = 1` it is tiny, which
# is why a saturated sigmoid trained with squared error learns slowly.


# %% nbgrader={"grade": false, "grade_id": "sigmoid_mse", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sigmoid_mse_loss(z, y):
    """Mean squared error of a sigmoid output, taking logits.

    z: (N, ...) logits; y: targets in [0, 1], shape of z.
    Returns loss = sum((sigmoid(z) - y)**2) / (2 N), a float, and dz (shape of z).
    """
    ### BEGIN SOLUTION
    n = z.shape[0]
    out = sigmoid(z)
    loss = 0.5 * np.sum((out - y) ** 2) / n
    dz = (out - y) * out * (1.0 - out) / n
    ### END SOLUTION
    return loss, dz


# %% nbgrader={"grade": true, "grade_id": "test_sigmoid_mse", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
z = np.linspace(-2.0, 2.0, num=6).reshape(3, 2)
y = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.25]])
loss, dz = sigmoid_mse_loss(z, y)
print("loss:", loss, "(should be 0.29861...)")
expect_close("loss", loss, 0.2986173368585, tol=1e-9)
expect_shape("dz", dz, z.shape)
dz_num = numerical_gradient(lambda v: sigmoid_mse_loss(v, y)[0], z)
print(f"dz relative error: {rel_error(dz, dz_num):.2e} (should be below 1e-7)")
expect_close("dz", dz, dz_num, tol=1e-7)

# %% [markdown]
# ## Part 2: a sigmoid output with binary cross-entropy, on logits (4 points)
#
# $$L = -\frac1N \sum \big( y \log a + (1 - y) \log(1 - a) \big), \qquad a = \sigma(z).$$
#
# Written like this it breaks for large logits: `sigmoid(40.0)` is exactly `1.0` in
# float64, and `log(1 - 1.0)` is `-inf`. Rewrite each term with the logit itself:
# $-y \log \sigma(z) - (1 - y) \log(1 - \sigma(z)) = \max(z, 0) - z y + \log(1 + e^{-|z|})$,
# where `np.log1p(np.exp(-np.abs(z)))` never overflows. The delta is simply
# `(sigmoid(z) - y) / N`: the `a * (1 - a)` of the sigmoid cancels, so do **not**
# multiply by it (learner question Q7).


# %% nbgrader={"grade": false, "grade_id": "sigmoid_bce", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sigmoid_bce_loss(z, y):
    """Binary cross-entropy of a sigmoid output, taking logits, averaged over the batch.

    z: (N, ...) logits; y: targets in [0, 1], shape of z.
    Returns loss (a float, finite for any finite z) and dz = (sigmoid(z) - y) / N.
    """
    ### BEGIN SOLUTION
    n = z.shape[0]
    loss = np.sum(np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))) / n
    dz = (sigmoid(z) - y) / n
    ### END SOLUTION
    return loss, dz


# %% nbgrader={"grade": true, "grade_id": "test_sigmoid_bce", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
z = np.linspace(-3.0, 3.0, num=8).reshape(4, 2)
y = np.array([[0.0, 1.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.3]])
loss, dz = sigmoid_bce_loss(z, y)
print("loss:", loss, "(should be 2.37048...)")
expect_close("loss", loss, 2.370483044829, tol=1e-9)
dz_num = numerical_gradient(lambda v: sigmoid_bce_loss(v, y)[0], z)
print(f"dz relative error: {rel_error(dz, dz_num):.2e} (should be below 1e-7)")
expect_close("dz", dz, dz_num, tol=1e-7)

# Q7 in numbers: the delta with the sigmoid derivative multiplied in is off by the factor
# a * (1 - a), which is at most 1/4: the gradient check fails by about an order of magnitude.
a = sigmoid(z)
wrong = dz * a * (1 - a)
print(f"with the extra a * (1 - a): relative error {rel_error(wrong, dz_num):.2f}")

with np.errstate(all="ignore"):  # graded: finite, exact values; warnings are not
    big_loss, big_dz = sigmoid_bce_loss(np.array([[-1000.0, 40.0], [1000.0, -40.0]]), np.eye(2))
print("loss at logits of +-1000 and +-40:", big_loss)
assert np.isfinite(big_loss) and np.all(np.isfinite(big_dz)), "the loss is not stable"
expect_close("big_loss", big_loss, 1040.0, tol=1e-9)

# %% [markdown]
# ## Part 3: softmax cross-entropy with integer labels (5 points)
#
# For scores `z` of shape `(N, C)` and labels `y` of shape `(N,)` with integers in
# `[0, C)`, the loss is $L = -\frac1N \sum_i \log \mathrm{softmax}(z_i)_{y_i}$ and the
# delta is `(softmax(z) - onehot(y)) / N`.
#
# * Compute `log softmax` with the **log-sum-exp shift**: subtract each row's maximum
#   before `exp`. Then no `exp` overflows, and `log` is never taken of a probability
#   that rounded to 0.
# * The softmax runs along the classes (axis 1), one distribution per example.
# * `y` holds labels, not one-hot rows: pick one entry per row with
#   `logp[np.arange(N), y]`.


# %% nbgrader={"grade": false, "grade_id": "softmax_ce", "locked": false, "schema_version": 3, "solution": true, "task": false}
def softmax_cross_entropy(z, y):
    """Softmax cross-entropy on logits with integer labels, averaged over the batch.

    z: (N, C) logits; y: (N,) integers in [0, C).
    Returns loss (a float, finite for any finite z) and dz = (softmax(z) - onehot(y)) / N.
    """
    ### BEGIN SOLUTION
    n = z.shape[0]
    shifted = z - z.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(n)
    loss = -logp[rows, y].sum() / n
    dz = np.exp(logp)
    dz[rows, y] -= 1.0
    dz /= n
    ### END SOLUTION
    return loss, dz


# %% nbgrader={"grade": true, "grade_id": "test_softmax_ce", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
z = np.linspace(-1.0, 2.0, num=12).reshape(3, 4)
y = np.array([3, 0, 1])
loss, dz = softmax_cross_entropy(z, y)
print("loss:", loss, "(should be 1.47776...)")
expect_close("loss", loss, 1.477755746103, tol=1e-9)
expect_shape("dz", dz, z.shape)
dz_num = numerical_gradient(lambda v: softmax_cross_entropy(v, y)[0], z)
print(f"dz relative error: {rel_error(dz, dz_num):.2e} (should be below 1e-7)")
expect_close("dz", dz, dz_num, tol=1e-7)
assert abs(dz.sum()) < 1e-12, "each row of softmax - onehot sums to 0"

loss, _ = softmax_cross_entropy(np.zeros((5, 10)), np.arange(5))
print("loss at equal logits:", loss, "(chance level ln 10 = 2.302...)")
expect_close("loss", loss, np.log(10), tol=1e-12)

with np.errstate(all="ignore"):  # graded: finite, exact values; warnings are not
    loss, dz = softmax_cross_entropy(
        np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 5e3]]), np.array([2, 1])
    )
print("loss at logits of 1e4:", loss)
assert np.isfinite(loss) and np.all(np.isfinite(dz)), "the softmax is not stable"
expect_close("loss", loss, 1e4, tol=1e-6)

# %% [markdown]
# ## Before you submit
#
# Restart the kernel and run all cells. The hidden checks use other shapes, soft targets,
# saturated outputs, a batch of one, logits up to 1e4 and as many examples as classes
# (where mixing up labels and one-hot rows can run without an error).
