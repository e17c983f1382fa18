# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 5: max pooling, forward and backward, with ties
#
# **Read first:** the sections *Max pooling backward* and *Ties: several entries share
# the maximum* of the chapter [*Backpropagation through dense, activation and pooling
# layers*](https://backprop-course.example.org/book/backprop-dense.html#maxpool-backward) of the course book.
#
# Max pooling slides a `pool` x `pool` window over every channel of an image, `stride`
# pixels at a time, and keeps the largest entry of each window. You will write its
# forward and backward pass for a batch of images of shape `(N, C, H, W)`, with any
# pool size and stride, **including overlapping windows** (`stride < pool`).
#
# Conventions of this course (the grader checks each of them exactly):
#
# * no padding: `H_out = (H - pool) // stride + 1` and the same for `W_out`; rows or
#   columns that no window reaches are ignored and get a zero gradient;
# * the backward pass sends each window's gradient `dout[n, c, i, j]` to the entry that
#   was the window's maximum;
# * **ties**: when several entries of a window share the maximum, the whole gradient of
#   that window goes to the **first** of them in row-major order (scan the window row by
#   row, left to right; this is what `np.argmax` of the flattened window returns);
# * when windows overlap, one input entry can be the maximum of several windows: its
#   gradient is the **sum** of the gradients of all those windows;
# * `x` stays as it was (a loss of points) and `dout` too (a warning): the grader checks
#   both after each call. Where another library's tie rule differs from this one (last
#   maximum, an equal split), the feedback names that convention.
#
# The layer contract is the one of assignment 1: `maxpool_forward(x, pool, stride)`
# returns `(out, cache)`, `maxpool_backward(dout, cache)` returns `dx` alone (the layer
# has no parameters). Loops over the output positions `(i, j)` are fine; loops over
# single entries are slow but also accepted.
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
    a, b = np.asarray(got, dtype=float), expected
    error = float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8), initial=0.0))
    assert error < tol, (
        f"{name} is wrong (relative error {error:.1e}, should be below {tol:.0e}). {hint}"
        f"\nexpected:\n{expected}\ngot:\n{a}"
    )


# %% [markdown]
# ## Part 1: the forward pass (3 points)
#
# For every image `n`, channel `c` and output position `(i, j)`, the window is
# `x[n, c, i*stride : i*stride + pool, j*stride : j*stride + pool]` and
# `out[n, c, i, j]` is its maximum. Keep in the cache whatever the backward pass needs
# (for example `x`, `pool` and `stride`).


# %% nbgrader={"grade": false, "grade_id": "maxpool_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def maxpool_forward(x, pool=2, stride=2):
    """Max pooling over square windows, no padding.

    x: (N, C, H, W); pool, stride: positive ints with pool <= H and pool <= W.
    Returns out (N, C, H_out, W_out), H_out = (H - pool) // stride + 1 (same for W),
    and cache, whatever maxpool_backward needs.
    """
    ### BEGIN SOLUTION
    n, c, h, w = x.shape
    h_out = (h - pool) // stride + 1
    w_out = (w - pool) // stride + 1
    out = np.empty((n, c, h_out, w_out))
    for i in range(h_out):
        for j in range(w_out):
            window = x[:, :, i * stride : i * stride + pool, j * stride : j * stride + pool]
            out[:, :, i, j] = window.max(axis=(2, 3))
    cache = (x, pool, stride)
    ### END SOLUTION
    return out, cache


# %% nbgrader={"grade": true, "grade_id": "test_maxpool_forward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
x = np.arange(2 * 1 * 4 * 4, dtype=float).reshape(2, 1, 4, 4) % 7
out, _ = maxpool_forward(x, pool=2, stride=2)
expect_shape("out", out, (2, 1, 2, 2))
assert np.array_equal(out[0, 0], [[5.0, 6.0], [6.0, 4.0]]), out[0, 0]
out, _ = maxpool_forward(x, pool=3, stride=1)
expect_shape("out", out, (2, 1, 2, 2))
assert np.array_equal(out[1, 0], [[6.0, 6.0], [6.0, 6.0]]), out[1, 0]
out, _ = maxpool_forward(np.ones((1, 2, 7, 5)), pool=3, stride=2)
expect_shape("out", out, (1, 2, 3, 2))
print("maxpool_forward looks right")

# %% [markdown]
# ## Part 2: the backward pass, with ties and overlapping windows (7 points)
#
# The maximum of a window is not differentiable where two entries tie: any split of the
# window's gradient between the tied entries is a valid subgradient. Sending all of it
# to every tied entry is *not* (it multiplies the gradient). Libraries choose
# differently; **this course sends the whole gradient to the first maximum in row-major
# order**, the entry that `np.argmax` picks in the flattened window.
#
# With overlapping windows, add (`+=`) the gradient of each window into `dx`: writing
# it (`=`) would let a later window overwrite an earlier one that chose the same entry.


# %% nbgrader={"grade": false, "grade_id": "maxpool_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def maxpool_backward(dout, cache):
    """Gradient of max pooling.

    dout: (N, C, H_out, W_out). Returns dx with the shape of x, (N, C, H, W): each
    window's gradient goes to its first maximum (row-major), and overlapping windows add.
    """
    ### BEGIN SOLUTION
    x, pool, stride = cache
    n, c, h_out, w_out = dout.shape
    dx = np.zeros(x.shape)
    images, channels = np.indices((n, c))
    for i in range(h_out):
        for j in range(w_out):
            top, left = i * stride, j * stride
            window = x[:, :, top : top + pool, left : left + pool].reshape(n, c, pool * pool)
            first = window.argmax(axis=2)
            dx[images, channels, top + first // pool, left + first % pool] += dout[:, :, i, j]
    ### END SOLUTION
    return dx


# %% nbgrader={"grade": true, "grade_id": "test_maxpool_backward", "locked": true, "points": 7, "schema_version": 3, "solution": false, "task": false}
# 1. No ties: compare with centred differences.
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 5, 5))
for pool, stride in [(2, 2), (3, 1), (3, 2)]:
    out, cache = maxpool_forward(x, pool, stride)
    dout = rng.standard_normal(out.shape)
    dx = maxpool_backward(dout, cache)
    expect_shape("dx", dx, x.shape)

    def pooled(v, pool=pool, stride=stride):
        return maxpool_forward(v, pool, stride)[0]

    dx_num = numerical_gradient_array(pooled, x, dout)
    print(f"pool {pool}, stride {stride}: dx relative error {rel_error(dx, dx_num):.2e}")
    expect_close("dx", dx, dx_num, tol=1e-7)

# 2. Ties and overlap, checked by hand. Windows 2x2, stride 1, on
#    1 3 3
#    2 3 0
#    3 1 2
# Top-left window: maxima 3 at (0, 1) and (1, 1); the first in row-major order is (0, 1).
# Top-right window: maxima at (0, 1), (0, 2), (1, 1); first is (0, 1) again, so the
# gradients of both top windows add up there. Both bottom windows choose (1, 1).
x = np.array([[1.0, 3.0, 3.0], [2.0, 3.0, 0.0], [3.0, 1.0, 2.0]]).reshape(1, 1, 3, 3)
out, cache = maxpool_forward(x, pool=2, stride=1)
dx = maxpool_backward(np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2), cache)
expected = np.array([[0.0, 3.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 0.0]])
print(dx[0, 0])
assert np.array_equal(dx[0, 0], expected), "ties go to the first maximum; overlaps add up"
assert dx.sum() == 10.0, "the gradient of each window must be routed exactly once"

# %% [markdown]
# ## Before you submit
#
# Restart the kernel and run all cells. The hidden checks use other shapes, pool sizes
# and strides, images with many ties (integer pixels, planes of zeros such as a ReLU
# produces) and overlapping windows; they recognise the usual alternatives to this
# course's tie rule and tell you which one you used.
