# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 7: update rules, learning-rate schedules, and gradients that accumulate
#
# **Read first:** the chapter [*Optimizers and babysitting*](https://backprop-course.example.org/book/optimizers.html) of the
# course book: plain SGD, momentum,
# Nesterov's look-ahead, AdaGrad, RMSProp, Adam and its bias correction, where epsilon
# goes, the learning-rate schedules, and why a training loop zeroes its gradients.
#
# Every update rule has one signature:
#
# ```python
# next_w, config = rule(w, dw, config)
# ```
#
# * `w` and `dw` are arrays of the same shape: a parameter and the gradient of the loss;
# * `config` is a dict holding the **hyperparameters and the whole state** of the rule
#   (velocity, caches, step counter). It may be `None` (then start from an empty dict).
#   Fill in missing hyperparameters with `config.setdefault(name, default)`; a missing
#   state array starts at zeros of `w`'s shape. Store the new state back in `config`
#   and return it: the caller passes the same dict to the next step. One config per
#   parameter array.
# * Return a **new** array `next_w`; do not modify `w` or `dw` in place (the grader checks
#   both after each call; `w -= lr * dw` loses the case).
#
# The conventions of this course (sources differ on each of them, the grader does not):
#
# | rule | update | defaults |
# | --- | --- | --- |
# | sgd | `next_w = w - lr * dw` | `learning_rate=1e-2` |
# | momentum | `v = mu * v - lr * dw`; `next_w = w + v` | `learning_rate=1e-2`, `momentum=0.9` |
# | Nesterov | `v_prev = v`; `v = mu * v - lr * dw`; `next_w = w - mu * v_prev + (1 + mu) * v` | as momentum |
# | AdaGrad | `cache += dw**2`; `next_w = w - lr * dw / (sqrt(cache) + eps)` | `learning_rate=1e-2`, `epsilon=1e-8` |
# | RMSProp | `cache = rho * cache + (1 - rho) * dw**2`; then as AdaGrad | `learning_rate=1e-2`, `decay_rate=0.99`, `epsilon=1e-8` |
# | Adam | see Part 4 | `learning_rate=1e-3`, `beta1=0.9`, `beta2=0.999`, `epsilon=1e-8` |
#
# State keys: `velocity` (momentum, Nesterov), `cache` (AdaGrad, RMSProp), `m`, `v` and
# `t` (Adam). Epsilon is always **outside** the square root (PyTorch's convention; Caffe2
# and MindSpore put it inside for RMSProp), and Adam increases `t` **before** the bias correction, so
# the first step uses `t = 1`. Following another source's convention costs the case, and
# the feedback names the convention you used.
#
# The hidden checks call your rule several times in a row with one config, read the state
# back from it, and also start from a config that already holds some state. Only the
# cells marked "YOUR CODE HERE" are graded; do not rename the functions.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np

np.set_printoptions(precision=6, suppress=True)


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


def run_steps(rule, w, gradients, config):
    """Apply rule once per gradient, passing the same config along. Returns (w, config)."""
    for dw in gradients:
        w, config = rule(w, dw, config)
    return w, config


# The three steps used by the self-checks below: a parameter and a gradient per step.
W0 = np.array([1.0, -2.0, 0.5])
GRADIENTS = [np.array([0.5, -1.0, 2.0]), np.array([0.5, 0.5, 0.5]), np.array([-1.0, 0.0, 1e-3])]


# A parameter whose gradient ACCUMULATES, and a linear layer built from two of them.
class Parameter:
    """An array `value` and the gradient `grad` (same shape) summed over backward passes."""

    def __init__(self, value):
        self.value = np.array(value, dtype=float)
        self.grad = np.zeros_like(self.value)

    def zero_grad(self):
        """Reset the accumulated gradient to zeros, in place."""
        self.grad[...] = 0.0


class Linear:
    """out = x @ W + b with W (D, M) and b (M,) as Parameters. backward ADDS to the grads."""

    def __init__(self, W, b):
        self.W, self.b = Parameter(W), Parameter(b)
        self.x = None

    def forward(self, x):
        """x: (N, D). Returns out (N, M) and remembers x for backward."""
        self.x = x
        return x @ self.W.value + self.b.value

    def backward(self, dout):
        """dout: (N, M). Adds dW and db to W.grad and b.grad; returns dx (N, D)."""
        self.W.grad += self.x.T @ dout
        self.b.grad += dout.sum(axis=0)
        return dout @ self.W.value.T

    def parameters(self):
        return [self.W, self.b]

    def zero_grad(self):
        for p in self.parameters():
            p.zero_grad()


def mse_loss(pred, y):
    """pred, y: (N, M). Returns sum((pred - y)**2) / (2 N) and dpred = (pred - y) / N."""
    n = pred.shape[0]
    return 0.5 * float(np.sum((pred - y) ** 2)) / n, (pred - y) / n


def snapshot(model):
    """Copies of (W, dW, b, db) of a Linear model; the checks read the model with it."""
    return model.W.value.copy(), model.W.grad.copy(), model.b.value.copy(), model.b.grad.copy()


# %% [markdown]
# ## Part 1: SGD and momentum (2 points)
#
# Momentum keeps a velocity `v` (a running sum of past steps, decayed by `mu`), and the
# parameter moves by the velocity. Note the signs: the velocity already contains the
# minus of the descent, so the parameter is updated with `+ v`.


# %% nbgrader={"grade": false, "grade_id": "sgd_momentum", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sgd(w, dw, config=None):
    """Plain gradient descent. w, dw: arrays of one shape; config: learning_rate.

    Returns next_w (shape of w) and config.
    """
    ### BEGIN SOLUTION
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    next_w = w - config["learning_rate"] * dw
    ### END SOLUTION
    return next_w, config


def sgd_momentum(w, dw, config=None):
    """Momentum. config: learning_rate, momentum, velocity (shape of w, zeros if missing).

    Returns next_w (shape of w) and config holding the new velocity.
    """
    ### BEGIN SOLUTION
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity")
    v = np.zeros_like(w, dtype=float) if v is None else v
    config["velocity"] = config["momentum"] * v - config["learning_rate"] * dw
    next_w = w + config["velocity"]
    ### END SOLUTION
    return next_w, config


# %% nbgrader={"grade": true, "grade_id": "test_sgd_momentum", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
w, config = run_steps(sgd, W0, GRADIENTS, {"learning_rate": 0.1})
expect_close("w", w, [1.0, -1.95, 0.2499], tol=1e-10)
w, config = run_steps(sgd_momentum, W0, GRADIENTS, {"learning_rate": 0.1, "momentum": 0.9})
print("w after three momentum steps:", w, "(should be [0.8695, -1.824, -0.1371])")
expect_close("w", w, [0.8695, -1.824, -0.1371], tol=1e-10)
expect_close('config["velocity"]', config["velocity"], [0.0145, 0.036, -0.2071], tol=1e-10)
_, config = sgd_momentum(W0, GRADIENTS[0], None)
assert config["learning_rate"] == 1e-2 and config["momentum"] == 0.9, "check the defaults"
assert np.array_equal(W0, [1.0, -2.0, 0.5]), "do not modify w in place"

# %% [markdown]
# ## Part 2: Nesterov momentum (2 points)
#
# Nesterov evaluates the gradient at the **look-ahead** point `w + mu * v`, where momentum
# alone would carry the parameter. Code that trains a network only has the gradient at
# the current parameters, so the update is rewritten in terms of the look-ahead point
# itself (the book derives it): the stored parameter *is* the look-ahead point, and
#
# ```python
# v_prev = v
# v = mu * v - lr * dw
# next_w = w - mu * v_prev + (1 + mu) * v
# ```
#
# With `mu = 0` it is SGD; it differs from plain momentum as soon as the velocity is not
# zero.


# %% nbgrader={"grade": false, "grade_id": "nesterov", "locked": false, "schema_version": 3, "solution": true, "task": false}
def nesterov(w, dw, config=None):
    """Nesterov momentum in its look-ahead form. config: learning_rate, momentum, velocity.

    w, dw: arrays of one shape. Returns next_w (shape of w) and config.
    """
    ### BEGIN SOLUTION
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    mu = config["momentum"]
    v_prev = config.get("velocity")
    v_prev = np.zeros_like(w, dtype=float) if v_prev is None else v_prev
    v = mu * v_prev - config["learning_rate"] * dw
    next_w = w - mu * v_prev + (1.0 + mu) * v
    config["velocity"] = v
    ### END SOLUTION
    return next_w, config


# %% nbgrader={"grade": true, "grade_id": "test_nesterov", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
w, config = run_steps(nesterov, W0, GRADIENTS, {"learning_rate": 0.1, "momentum": 0.9})
print("w after three Nesterov steps:", w, "(should be [0.88255, -1.7916, -0.32349])")
expect_close("w", w, [0.88255, -1.7916, -0.32349], tol=1e-10)
expect_close('config["velocity"]', config["velocity"], [0.0145, 0.036, -0.2071], tol=1e-10)
w, _ = run_steps(nesterov, W0, GRADIENTS, {"learning_rate": 0.1, "momentum": 0.0})
expect_close("w", w, [1.0, -1.95, 0.2499], tol=1e-10, hint="With momentum 0 Nesterov is SGD.")

# %% [markdown]
# ## Part 3: AdaGrad and RMSProp (2 points)
#
# Both divide each entry of the step by the root of a running sum of squared gradients,
# so that every parameter gets its own effective learning rate. AdaGrad keeps the whole
# sum; RMSProp lets it decay with `rho` (`decay_rate`). Epsilon only protects the
# division: add it **after** the square root, `lr * dw / (np.sqrt(cache) + eps)`. (Inside
# the root it would be of the order of `sqrt(eps) = 1e-4`, not `1e-8`, and change every
# step whose gradients are small.)


# %% nbgrader={"grade": false, "grade_id": "adagrad_rmsprop", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adagrad(w, dw, config=None):
    """AdaGrad. config: learning_rate, epsilon, cache (shape of w, zeros if missing).

    Returns next_w (shape of w) and config.
    """
    ### BEGIN SOLUTION
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    cache = config.get("cache")
    cache = (np.zeros_like(w, dtype=float) if cache is None else cache) + dw**2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    config["cache"] = cache
    ### END SOLUTION
    return next_w, config


def rmsprop(w, dw, config=None):
    """RMSProp. config: learning_rate, decay_rate, epsilon, cache (zeros if missing).

    Returns next_w (shape of w) and config.
    """
    ### BEGIN SOLUTION
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    rho = config["decay_rate"]
    cache = config.get("cache")
    cache = np.zeros_like(w, dtype=float) if cache is None else cache
    cache = rho * cache + (1.0 - rho) * dw**2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    config["cache"] = cache
    ### END SOLUTION
    return next_w, config


# %% nbgrader={"grade": true, "grade_id": "test_adagrad_rmsprop", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
w, config = run_steps(adagrad, W0, GRADIENTS, {"learning_rate": 0.1})
print("w after three AdaGrad steps:", w)
expect_close("w", w, [0.910938982307, -1.94472136015, 0.375697930995], tol=1e-9)
expect_close('config["cache"]', config["cache"], [1.5, 1.25, 4.250001], tol=1e-10)
w, config = run_steps(rmsprop, W0, GRADIENTS, {"learning_rate": 0.1, "decay_rate": 0.9})
print("w after three RMSProp steps:", w)
expect_close("w", w, [0.719030926258, -1.83121419579, 0.10302006151], tol=1e-9)
expect_close('config["cache"]', config["cache"], [0.14275, 0.1035, 0.3465001], tol=1e-10)
# A tiny gradient: with epsilon outside the root the first AdaGrad step is about lr.
w, _ = adagrad(np.zeros(1), np.array([1e-8]), {"learning_rate": 0.1, "epsilon": 1e-8})
assert abs(w[0] + 0.05) < 1e-12, f"expected -0.05 (epsilon outside the root), got {w[0]}"

# %% [markdown]
# ## Part 4: Adam (3 points)
#
# Adam keeps running means of the gradient (`m`) and of its square (`v`), both starting
# at zero, so both are biased towards zero during the first steps. The bias correction
# divides them by `1 - beta**t`, where `t` counts the steps taken **including the
# current one**: increase `config["t"]` (starting at 0) **before** you use it, so that the
# first step uses `t = 1`.
#
# ```python
# t += 1
# m = beta1 * m + (1 - beta1) * dw
# v = beta2 * v + (1 - beta2) * dw**2
# m_hat = m / (1 - beta1**t)
# v_hat = v / (1 - beta2**t)
# next_w = w - lr * m_hat / (sqrt(v_hat) + eps)
# ```
#
# This is the update of Kingma and Ba (2015) and of `torch.optim.Adam`.


# %% nbgrader={"grade": false, "grade_id": "adam", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adam(w, dw, config=None):
    """Adam with bias correction. config: learning_rate, beta1, beta2, epsilon, and the
    state m, v (shape of w, zeros if missing) and t (int, 0 if missing).

    Returns next_w (shape of w) and config.
    """
    ### BEGIN SOLUTION
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("t", 0)
    b1, b2 = config["beta1"], config["beta2"]
    m = config.get("m")
    m = np.zeros_like(w, dtype=float) if m is None else m
    v = config.get("v")
    v = np.zeros_like(w, dtype=float) if v is None else v
    config["t"] += 1
    t = config["t"]
    m = b1 * m + (1.0 - b1) * dw
    v = b2 * v + (1.0 - b2) * dw**2
    m_hat = m / (1.0 - b1**t)
    v_hat = v / (1.0 - b2**t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    config["m"], config["v"] = m, v
    ### END SOLUTION
    return next_w, config


# %% nbgrader={"grade": true, "grade_id": "test_adam", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
w, config = run_steps(adam, W0, GRADIENTS, {"learning_rate": 0.1})
print("w after three Adam steps:", w)
assert config["t"] == 3, f"t should count the steps taken (3), not {config['t']}"
expect_close("w", w, [0.807564936969, -1.852778367331, 0.252703808612], tol=1e-9)
expect_close('config["m"]', config["m"], [-0.0145, -0.036, 0.2071], tol=1e-10)
expect_close('config["v"]', config["v"], [0.00149925025, 0.001247751, 0.004241755], tol=1e-9)
# The first step of Adam moves every entry by about lr (the bias correction at work).
w, _ = adam(W0, GRADIENTS[0], {"learning_rate": 0.1})
expect_close("W0 - w", W0 - w, 0.1 * np.sign(GRADIENTS[0]), tol=1e-6)
# Starting from a config that already counts 9 steps (and m = v = 0):
w, config = adam(W0, GRADIENTS[0], {"learning_rate": 0.1, "t": 9})
assert config["t"] == 10
expect_close("w", w, [0.951557364423, -1.951557362895, 0.45155736213], tol=1e-9)

# %% [markdown]
# ## Part 5: learning-rate schedules (2 points)
#
# A schedule gives the learning rate to use at epoch (or iteration) `t`, from the initial
# rate `lr0`:
#
# * step decay: multiply by `drop` once every `every` epochs,
#   $\;lr_0 \cdot \text{drop}^{\lfloor t / \text{every} \rfloor}$;
# * exponential decay: $\;lr_0\, e^{-k t}$;
# * 1/t decay: $\;lr_0 / (1 + k t)$.
#
# Return a Python float (the hidden checks pass plain numbers).


# %% nbgrader={"grade": false, "grade_id": "schedules", "locked": false, "schema_version": 3, "solution": true, "task": false}
def step_decay(lr0, epoch, drop=0.5, every=10):
    """lr0 * drop ** floor(epoch / every). epoch: int >= 0. Returns a float."""
    ### BEGIN SOLUTION
    lr = lr0 * drop ** (epoch // every)
    ### END SOLUTION
    return float(lr)


def exponential_decay(lr0, t, k=0.1):
    """lr0 * exp(-k t). Returns a float."""
    ### BEGIN SOLUTION
    lr = lr0 * np.exp(-k * t)
    ### END SOLUTION
    return float(lr)


def inverse_time_decay(lr0, t, k=1.0):
    """lr0 / (1 + k t). Returns a float."""
    ### BEGIN SOLUTION
    lr = lr0 / (1.0 + k * t)
    ### END SOLUTION
    return float(lr)


# %% nbgrader={"grade": true, "grade_id": "test_schedules", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
epochs = [0, 9, 10, 25]
steps = [step_decay(0.1, e) for e in epochs]
exps = [exponential_decay(0.1, e) for e in epochs]
inverse = [inverse_time_decay(0.1, e) for e in epochs]
print("step:", steps, "\nexponential:", exps, "\n1/t:", inverse)
expect_close("steps", steps, [0.1, 0.1, 0.05, 0.025], tol=1e-12)
assert (
    rel_error(exps, [0.1, 0.04065696597405991, 0.036787944117144235, 0.00820849986238988]) < 1e-12
)
expect_close("inverse", inverse, [0.1, 0.01, 0.1 / 11, 0.1 / 26], tol=1e-12)

# %% [markdown]
# ## Part 6: gradients that accumulate (3 points)
#
# The `Linear` layer of the setup cell behaves like a PyTorch module: its `backward`
# **adds** the new gradients to `W.grad` and `b.grad`, and nothing resets them except
# `zero_grad()`. (The accumulation is deliberate, as the second function shows.)
#
# 1. `train_step(model, x, y, learning_rate)`: one step of gradient descent on the mean
#    squared error `mse_loss` of the setup cell: reset the gradients, forward,
#    loss, backward, then `p.value -= learning_rate * p.grad` for every parameter. Return
#    the loss (before the update). Without the reset, the second step would use the sum
#    of the gradients of both steps.
# 2. `accumulate_gradients(model, x, y, parts)`: the gradient of the whole batch,
#    computed in `parts` micro-batches, as one does when a batch does not fit in memory.
#    Reset the gradients **once**, then for each micro-batch of `np.array_split(np.arange(N),
#    parts)` run forward and backward with the micro-batch's loss **scaled by its share**
#    `n_j / N` of the batch (scale `dpred` the same way). Do not update the parameters.
#    Return the total of the scaled losses: it equals the loss of the whole batch, and
#    the accumulated `W.grad` and `b.grad` equal its gradient.


# %% nbgrader={"grade": false, "grade_id": "accumulation", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_step(model, x, y, learning_rate):
    """One gradient-descent step of a Linear model on mse_loss. x: (N, D); y: (N, M).

    Returns the loss (float) computed before the update.
    """
    ### BEGIN SOLUTION
    model.zero_grad()
    loss, dpred = mse_loss(model.forward(x), y)
    model.backward(dpred)
    for p in model.parameters():
        p.value = p.value - learning_rate * p.grad
    ### END SOLUTION
    return loss


def accumulate_gradients(model, x, y, parts):
    """Gradient of mse_loss on the whole batch (x: (N, D), y: (N, M)), accumulated over
    `parts` micro-batches in model's W.grad and b.grad. Returns the total loss (float).
    """
    ### BEGIN SOLUTION
    model.zero_grad()
    n = x.shape[0]
    loss = 0.0
    for rows in np.array_split(np.arange(n), parts):
        share = len(rows) / n
        part_loss, dpred = mse_loss(model.forward(x[rows]), y[rows])
        model.backward(share * dpred)
        loss += share * part_loss
    ### END SOLUTION
    return loss


# %% nbgrader={"grade": true, "grade_id": "test_accumulation", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
rng = np.random.default_rng(7)
x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
W, b = rng.normal(size=(3, 2)), rng.normal(size=2)

# Two steps: the second must use only its own gradient.
model = Linear(W, b)
train_step(model, x[:3], y[:3], 0.1)
loss = train_step(model, x[3:], y[3:], 0.1)
fresh = Linear(model.W.value + 0.1 * model.W.grad, model.b.value + 0.1 * model.b.grad)
expected_loss, dpred = mse_loss(fresh.forward(x[3:]), y[3:])
fresh.backward(dpred)
expect_close("loss", loss, expected_loss, tol=1e-12)
expect_close(
    "model.W.grad",
    model.W.grad,
    fresh.W.grad,
    tol=1e-10,
    hint="Zero the gradients before backward.",
)

# Accumulating over micro-batches gives the gradient of the whole batch.
whole = Linear(W, b)
whole_loss, dpred = mse_loss(whole.forward(x), y)
whole.backward(dpred)
for parts in (1, 2, 4):
    model = Linear(W, b)
    model.W.grad += 100.0  # stale gradients from an earlier step
    loss = accumulate_gradients(model, x, y, parts)
    print(
        f"{parts} micro-batch(es): loss {loss:.6f}, dW error {rel_error(model.W.grad, whole.W.grad):.1e}"
    )
    expect_close("loss", loss, whole_loss, tol=1e-12)
    expect_close("model.W.grad", model.W.grad, whole.W.grad, tol=1e-10)
    expect_close("model.b.grad", model.b.grad, whole.b.grad, tol=1e-10)
    assert np.array_equal(model.W.value, W), "accumulate_gradients must not update"

# %% [markdown]
# ## Before you submit
#
# Restart the kernel and run all cells. The hidden checks use other values, other
# hyperparameters and states that you did not create yourself (for instance a config
# whose step counter is already at 5), so code that only works on these examples will
# not get the points.
