# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 2: a neuron needs a bias, and XOR needs a hidden layer
#
# **Read first:** the chapter [*Bias*](https://backprop-course.example.org/book/bias.html) of the course book (sections *The geometry of a
# decision boundary*, *AND without a bias*, *XOR needs a hidden layer* and *A debugging
# procedure for small networks*), and the section *Why the bias gradient is a sum over
# the batch* in [*Backpropagation through dense, activation and pooling
# layers*](https://backprop-course.example.org/book/backprop-dense.html#bias-gradient).
#
# You will build, train and break two tiny models, in the order the book recommends
# for debugging (learner question Q16): first **one sigmoid neuron on AND**, with and
# without a bias; then **a network with one hidden layer on XOR**.
#
# Conventions (the grader checks each one exactly):
#
# * a neuron is a dense layer with one unit followed by a sigmoid: `x` is `(N, D)`, the
#   weight `w` is `(D, 1)`, the bias `b` has shape `(1,)`, the output `a` is `(N, 1)`;
# * backward functions follow the contract of assignment 1: they receive the gradient of
#   the loss with respect to the output and return the gradients with respect to the
#   input and to each parameter, each with the shape of that array; a bias gradient is
#   a **sum** over the batch;
# * training is full-batch gradient descent on the mean squared error of assignment 1,
#   `mse_loss(a, y)` in the setup cell, with the update `param = param - lr * grad`;
# * a prediction is "class 1" when the output is above 0.5 (`accuracy` in the setup cell);
# * the arrays you are given stay as they were (the grader checks them after each call):
#   a forward pass that changes `x` loses the case; a training function that updates the
#   caller's starting `w` or `b` in place, or a backward pass that changes `da`, keeps its
#   points with a warning (the next run from the same start would start elsewhere).
#
# The book trains the same models with cross-entropy instead of squared error; the
# conclusions are the same, only the numbers differ.
#
# Only the cells marked "YOUR CODE HERE" are graded. Do not rename the functions.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np

np.set_printoptions(precision=4, suppress=True)

# The four points of {0, 1}^2 and the truth tables, as (4, 1) columns of targets.
X_BITS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y_AND = np.array([[0.0], [0.0], [0.0], [1.0]])
Y_XOR = np.array([[0.0], [1.0], [1.0], [0.0]])


def sigmoid(z):
    """Logistic function that never overflows: exp is only taken of -|z|."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def mse_loss(a, y):
    """sum((a - y)**2) / (2 N) and its gradient (a - y) / N; a, y: (N, K)."""
    n = a.shape[0]
    return 0.5 * float(np.sum((a - y) ** 2)) / n, (a - y) / n


def accuracy(a, y):
    """Fraction of examples whose output is on the same side of 0.5 as the target."""
    return float(np.mean((a > 0.5) == (y > 0.5)))


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
# ## Part 1: one sigmoid neuron on AND, with and without a bias (5 points)
#
# Write the neuron's forward and backward pass and a trainer:
#
# * `neuron_forward(x, w, b)`: the output $a = \sigma(x w + b)$;
# * `neuron_backward(da, cache)`: first back through the sigmoid,
#   $dz = da \odot a \odot (1 - a)$, then through the dense part exactly as in
#   assignment 1: $dx = dz\, w^{\mathsf T}$, $dw = x^{\mathsf T} dz$, and $db$ the sum of
#   $dz$ over the batch. The bias is shared by all N examples, so its gradient adds up
#   their contributions;
# * `train_neuron(x, y, w, b, lr, steps, use_bias=True)`: `steps` steps of gradient
#   descent, each one forward, loss, backward, update. With `use_bias=False` the bias
#   is never updated (keep it at the value you were given, 0 for a neuron through the
#   origin). Do not modify the arrays you were given: start from copies.


# %% nbgrader={"grade": false, "grade_id": "neuron", "locked": false, "schema_version": 3, "solution": true, "task": false}
def neuron_forward(x, w, b):
    """One sigmoid neuron. x: (N, D); w: (D, 1); b: (1,).

    Returns a = sigmoid(x @ w + b), shape (N, 1), and cache for neuron_backward.
    """
    ### BEGIN SOLUTION
    z = x @ w + b
    a = sigmoid(z)
    cache = (x, w, a)
    ### END SOLUTION
    return a, cache


def neuron_backward(da, cache):
    """da: (N, 1), the gradient of the loss with respect to a.

    Returns dx (N, D), dw (D, 1) and db (1,), the bias gradient summed over the batch.
    """
    ### BEGIN SOLUTION
    x, w, a = cache
    dz = da * a * (1.0 - a)
    dx = dz @ w.T
    dw = x.T @ dz
    db = dz.sum(axis=0)
    ### END SOLUTION
    return dx, dw, db


def train_neuron(x, y, w, b, lr, steps, use_bias=True):
    """Full-batch gradient descent on mse_loss(neuron_forward(x, w, b)[0], y).

    x: (N, D); y: (N, 1); w: (D, 1) and b: (1,), the starting point (not modified);
    lr: learning rate; steps: number of updates. With use_bias=False, b is never updated.
    Returns the trained w (D, 1), b (1,) and losses, the list of the `steps` losses
    measured before each update.
    """
    ### BEGIN SOLUTION
    w, b = w.copy(), b.copy()
    losses = []
    for _ in range(steps):
        a, cache = neuron_forward(x, w, b)
        loss, da = mse_loss(a, y)
        _, dw, db = neuron_backward(da, cache)
        w = w - lr * dw
        if use_bias:
            b = b - lr * db
        losses.append(loss)
    ### END SOLUTION
    return w, b, losses


# %% nbgrader={"grade": true, "grade_id": "test_neuron", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
# The forward pass, worked out by hand: w = (1, 1), b = -1.5 and x = (1, 1) give
# z = 0.5 and sigmoid(0.5) = 0.6225; x = (0, 1) gives z = -0.5 and 0.3775.
a, _ = neuron_forward(np.array([[1.0, 1.0], [0.0, 1.0]]), np.ones((2, 1)), np.array([-1.5]))
expect_shape("a", a, (2, 1))
expect_close("a", a, [[0.6224593312], [0.3775406688]], tol=1e-9)

# The backward pass against centred differences.
rng = np.random.default_rng(0)
x, w, b = rng.standard_normal((5, 3)), rng.standard_normal((3, 1)), rng.standard_normal(1)
da = rng.standard_normal((5, 1))
_, cache = neuron_forward(x, w, b)
dx, dw, db = neuron_backward(da, cache)
expect_shape("dx", dx, x.shape)
expect_shape("dw", dw, w.shape)
expect_shape("db", db, (1,))
for name, analytic, numeric in [
    ("dx", dx, numerical_gradient_array(lambda v: neuron_forward(v, w, b)[0], x, da)),
    ("dw", dw, numerical_gradient_array(lambda v: neuron_forward(x, v, b)[0], w, da)),
    ("db", db, numerical_gradient_array(lambda v: neuron_forward(x, w, v)[0], b, da)),
]:
    print(f"{name} relative error: {rel_error(analytic, numeric):.2e} (should be below 1e-7)")
    expect_close(name, analytic, numeric, tol=1e-7, hint="Expected is the numerical gradient.")

# AND with a bias: every example right.
w0, b0 = np.array([[0.3], [-0.2]]), np.array([0.1])
w, b, losses = train_neuron(X_BITS, Y_AND, w0, b0, lr=3.0, steps=1000)
a, _ = neuron_forward(X_BITS, w, b)
print("with a bias:   w =", w.ravel(), " b =", b, " outputs", a.ravel())
assert np.array_equal(w0, [[0.3], [-0.2]]) and np.array_equal(b0, [0.1]), "w0, b0 changed"
assert losses[-1] < losses[0], "the loss should go down"
assert accuracy(a, Y_AND) == 1.0, "with a bias the neuron should learn AND"

# AND through the origin: the input (0, 0) always gives sigmoid(0) = 0.5, and no line
# through the origin separates (1, 1) from (0, 1) and (1, 0). Training drives w to 0,
# where every output is 0.5: the neuron cannot decide.
w, b, losses = train_neuron(X_BITS, Y_AND, w0, np.zeros(1), lr=3.0, steps=1000, use_bias=False)
a, _ = neuron_forward(X_BITS, w, b)
print("without a bias: w =", w.ravel(), " b =", b, " outputs", a.ravel())
assert np.array_equal(b, [0.0]), "with use_bias=False the bias must stay at 0"
assert np.allclose(a, 0.5, atol=1e-3), "a neuron through the origin ends at 0.5 everywhere"
assert accuracy(a, Y_AND) < 1.0

# %% [markdown]
# ## Part 2: a hidden layer for XOR (7 points)
#
# A single neuron cannot represent XOR: no straight line separates $(0, 1)$ and $(1, 0)$
# from $(0, 0)$ and $(1, 1)$, and trained anyway its outputs settle at 0.5 (try it with
# `train_neuron` on `Y_XOR`). A hidden layer of `H` sigmoid units followed by an output
# layer of `K` sigmoid units can:
#
# $$h = \sigma(x W_1 + b_1), \qquad \text{out} = \sigma(h W_2 + b_2),$$
#
# with `w1` `(D, H)`, `b1` `(H,)`, `w2` `(H, K)`, `b2` `(K,)`, `h` `(N, H)` and `out`
# `(N, K)`. The backward pass runs the same steps right to left: through the output
# sigmoid, the output layer (which gives `dw2`, `db2` and `dh`), the hidden sigmoid
# and the hidden layer. Then write `train_two_layer`, the same loop as `train_neuron`
# with four parameter arrays.


# %% nbgrader={"grade": false, "grade_id": "two_layer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def two_layer_forward(x, w1, b1, w2, b2):
    """Sigmoid hidden layer, then sigmoid output layer.

    x: (N, D); w1: (D, H); b1: (H,); w2: (H, K); b2: (K,).
    Returns out = sigmoid(sigmoid(x @ w1 + b1) @ w2 + b2), shape (N, K), and cache.
    """
    ### BEGIN SOLUTION
    h = sigmoid(x @ w1 + b1)
    out = sigmoid(h @ w2 + b2)
    cache = (x, w1, w2, h, out)
    ### END SOLUTION
    return out, cache


def two_layer_backward(dout, cache):
    """dout: (N, K). Returns dx (N, D), dw1 (D, H), db1 (H,), dw2 (H, K), db2 (K,)."""
    ### BEGIN SOLUTION
    x, w1, w2, h, out = cache
    dz2 = dout * out * (1.0 - out)
    dw2 = h.T @ dz2
    db2 = dz2.sum(axis=0)
    dh = dz2 @ w2.T
    dz1 = dh * h * (1.0 - h)
    dw1 = x.T @ dz1
    db1 = dz1.sum(axis=0)
    dx = dz1 @ w1.T
    ### END SOLUTION
    return dx, dw1, db1, dw2, db2


def train_two_layer(x, y, w1, b1, w2, b2, lr, steps):
    """Full-batch gradient descent on mse_loss(two_layer_forward(x, ...)[0], y).

    y: (N, K). The parameters are the starting point (not modified). Returns the trained
    w1, b1, w2, b2 and losses, the list of the `steps` losses measured before each update.
    """
    ### BEGIN SOLUTION
    params = [w1.copy(), b1.copy(), w2.copy(), b2.copy()]
    losses = []
    for _ in range(steps):
        out, step_cache = two_layer_forward(x, *params)
        loss, dout = mse_loss(out, y)
        grads = two_layer_backward(dout, step_cache)[1:]
        params = [p - lr * g for p, g in zip(params, grads, strict=True)]
        losses.append(loss)
    w1, b1, w2, b2 = params
    ### END SOLUTION
    return w1, b1, w2, b2, losses


# %% nbgrader={"grade": true, "grade_id": "test_xor", "locked": true, "points": 7, "schema_version": 3, "solution": false, "task": false}
rng = np.random.default_rng(1)
x = rng.standard_normal((5, 3))
params = [rng.standard_normal(s) for s in [(3, 4), (4,), (4, 2), (2,)]]
out, cache = two_layer_forward(x, *params)
expect_shape("out", out, (5, 2))
dout = rng.standard_normal((5, 2))
grads = two_layer_backward(dout, cache)
names = ["dx", "dw1", "db1", "dw2", "db2"]
arrays = [x, *params]
for index, (name, grad) in enumerate(zip(names, grads, strict=True)):

    def forward_of(value, index=index):
        trial = list(arrays)
        trial[index] = value
        return two_layer_forward(*trial)[0]

    numeric = numerical_gradient_array(forward_of, arrays[index], dout)
    assert grad.shape == arrays[index].shape, f"{name} should have shape {arrays[index].shape}"
    print(f"{name} relative error: {rel_error(grad, numeric):.2e} (should be below 1e-7)")
    expect_close(name, grad, numeric, tol=1e-7, hint="Expected is the numerical gradient.")

# XOR with three hidden units, from a fixed start.
start = np.random.default_rng(3)
init = [start.standard_normal(s) for s in [(2, 3), (3,), (3, 1), (1,)]]
*trained, losses = train_two_layer(X_BITS, Y_XOR, *init, lr=4.0, steps=2000)
out, _ = two_layer_forward(X_BITS, *trained)
print("XOR outputs:", out.ravel(), " loss", losses[0], "->", losses[-1])
assert accuracy(out, Y_XOR) == 1.0, "the network should learn XOR from this start"

# One neuron on XOR, for comparison: it settles at 0.5 everywhere.
w, b, _ = train_neuron(X_BITS, Y_XOR, init[0][:, :1], init[3], lr=4.0, steps=2000)
print("one neuron on XOR:", neuron_forward(X_BITS, w, b)[0].ravel())

# %% [markdown]
# ## Before you submit
#
# Restart the kernel and run all cells. The hidden checks call your functions on other
# shapes (a batch of one, saturated neurons), then train your neuron on AND and your
# network on XOR from starting points and learning rates of the grader's choosing, and
# compare the trained weights with the reference run step by step.
