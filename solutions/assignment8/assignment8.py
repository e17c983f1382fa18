# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 8: hyperparameter search, and your network against an SVM
#
# **Read first:** the chapters [*Hyperparameter search*](https://backprop-course.example.org/book/hyperparameter-search.html)
# (random versus grid search, sampling on a log scale, a learning rate that is too small,
# coarse-to-fine) and [*Networks versus support vector
# machines*](https://backprop-course.example.org/book/networks-vs-svms.html) of the course book.
#
# You will write a sampler for hyperparameters that span several orders of magnitude, the
# loss and gradients of a two-layer network, and a random search over the learning rate
# and the regularisation strength of that network on scikit-learn's handwritten digits
# (1797 images of 8 x 8 pixels, ten classes). The grader then trains your search on a
# split of its own and compares your test accuracy with two support vector machines that
# it fits on the same split: a linear `SVC` and an RBF-kernel `SVC` (scikit-learn's
# defaults, trained on the same training images).
#
# Conventions: a softmax cross-entropy **averaged over the batch**; the L2 penalty
# `0.5 * reg * sum(W**2)` on the **weights only** (not on the biases), added to that mean;
# ReLU with subgradient 0 at 0. The arrays you are given (data, parameters) stay as they
# were: the grader checks them after each call. Only NumPy (and scikit-learn for the data and the SVMs
# in the self-checks). Only the cells marked "YOUR CODE HERE" are graded; do not rename
# the functions.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import time

import numpy as np

np.set_printoptions(precision=4, suppress=True)

# Wall-clock seconds the grader allows search_and_predict (on its own machine, one call).
TIME_BUDGET = 60


def grad_error(analytic, numeric):
    """Largest |analytic - numeric| relative to the largest entry of either array."""
    a, n = np.asarray(analytic, dtype=float), np.asarray(numeric, dtype=float)
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(n), initial=0.0), 1e-8)
    return float(np.max(np.abs(a - n), initial=0.0) / scale)


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


def numerical_gradient(f, x, h=1e-5):
    """Centred-difference gradient of the scalar function f at x (an array, changed and
    restored in place). Returns an array shaped like x."""
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


def init_mlp(n_in, n_hidden, n_out, rng):
    """Parameters of an n_in -> n_hidden (ReLU) -> n_out network: a dict with
    W1 (n_in, n_hidden), b1 (n_hidden,), W2 (n_hidden, n_out), b2 (n_out,).

    He initialisation for the ReLU layer, variance 1 / fan-in for the output layer,
    zero biases.
    """
    return {
        "W1": rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_hidden)),
        "b1": np.zeros(n_hidden),
        "W2": rng.normal(0.0, np.sqrt(1.0 / n_hidden), size=(n_hidden, n_out)),
        "b2": np.zeros(n_out),
    }


# %% [markdown]
# ## Part 1: sampling on a log scale (3 points)
#
# A good learning rate may be `1e-4` or `1e-1`; the regularisation strength may be `1e-6`
# or `1e-2`. Drawn **uniformly** between `low` and `high`, almost every sample falls in
# the top decade (with `low = 1e-6` and `high = 10`, nine samples in ten are above 1), so
# the small values are never tried. Draw the **exponent** uniformly instead:
#
# $$x = 10^{u}, \qquad u \sim \mathcal{U}(\log_{10} \text{low},\ \log_{10} \text{high}),$$
#
# so that every decade receives the same share of the samples. Use the generator `rng`
# you are given (a `np.random.Generator`), not `np.random`'s global functions: the same
# seed must give the same samples, or nobody can reproduce your search. The grader checks
# the distribution of many of your samples statistically.


# %% nbgrader={"grade": false, "grade_id": "sample_log_uniform", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sample_log_uniform(rng, low, high, n):
    """n values whose base-10 logarithm is uniform on [log10(low), log10(high)].

    rng: np.random.Generator; 0 < low < high. Returns an array of shape (n,).
    """
    ### BEGIN SOLUTION
    samples = 10.0 ** rng.uniform(np.log10(low), np.log10(high), size=n)
    ### END SOLUTION
    return samples


# %% nbgrader={"grade": true, "grade_id": "test_sample_log_uniform", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
samples = sample_log_uniform(np.random.default_rng(0), 1e-6, 10.0, 70000)
expect_shape("samples", samples, (70000,))
assert samples.min() >= 1e-6 and samples.max() <= 10.0, "samples outside [low, high]"
decades = np.histogram(np.log10(samples), bins=7, range=(-6, 1))[0] / len(samples)
print("share of the samples in each decade 1e-6 .. 1e1:", decades, "(each should be about 1/7)")
assert np.all(np.abs(decades - 1 / 7) < 0.01), "the decades are not equally represented"
again = sample_log_uniform(np.random.default_rng(0), 1e-6, 10.0, 70000)
assert np.array_equal(samples, again), "the same seed must give the same samples: use rng"

# %% [markdown]
# ## Part 2: the network's loss and gradients (4 points)
#
# A two-layer network for `C` classes: `scores = relu(x @ W1 + b1) @ W2 + b2`, then
#
# $$L = -\frac{1}{N}\sum_{n} \log \operatorname{softmax}(\text{scores}_n)_{y_n}
#   + \tfrac12\,\text{reg}\,\big(\lVert W_1\rVert^2 + \lVert W_2\rVert^2\big).$$
#
# Compute the log-softmax **stably**: subtract each row's largest score before taking
# `exp` (the grader tries scores in the thousands). The gradient of the mean
# cross-entropy with respect to the scores is `(softmax(scores) - onehot(y)) / N`; the
# penalty adds `reg * W` to each weight's gradient and nothing to the biases'.
# Return the loss and a dict of gradients with the same keys and shapes as `params`.


# %% nbgrader={"grade": false, "grade_id": "mlp_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mlp_loss(params, x, y, reg):
    """Loss and gradients of the two-layer ReLU network.

    params: dict W1 (D, H), b1 (H,), W2 (H, C), b2 (C,); x: (N, D); y: (N,) integers in
    [0, C); reg: float. Returns loss (float) and grads, a dict of arrays shaped like params.
    """
    ### BEGIN SOLUTION
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = x.shape[0]
    rows = np.arange(n)
    z = x @ W1 + b1
    hidden = np.maximum(z, 0.0)
    scores = hidden @ W2 + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, y].mean() + 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1.0
    dscores /= n
    dz = (dscores @ W2.T) * (z > 0)
    grads = {"W1": x.T @ dz + reg * W1, "b1": dz.sum(axis=0)}
    grads["W2"] = hidden.T @ dscores + reg * W2
    grads["b2"] = dscores.sum(axis=0)
    ### END SOLUTION
    return float(loss), grads


# %% nbgrader={"grade": true, "grade_id": "test_mlp_loss", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
rng = np.random.default_rng(8)
params = init_mlp(5, 4, 3, rng)
params["b1"], params["b2"] = rng.normal(size=4), rng.normal(size=3)
x, y = rng.normal(size=(6, 5)), rng.integers(0, 3, size=6)
loss, grads = mlp_loss(params, x, y, 0.1)
assert sorted(grads) == ["W1", "W2", "b1", "b2"], "grads needs the keys W1, b1, W2, b2"
for name in params:
    assert grads[name].shape == params[name].shape, f"grads[{name!r}] has the wrong shape"
    numeric = numerical_gradient(
        lambda v, k=name: mlp_loss({**params, k: v}, x, y, 0.1)[0], params[name]
    )
    print(f"d{name} error {grad_error(grads[name], numeric):.1e} (should be below 1e-7)")
    error = grad_error(grads[name], numeric)
    assert error < 1e-7, (
        f"grads[{name!r}] disagrees with the numerical gradient (error {error:.1e})"
    )

# Sanity check: tiny weights give every class the same probability, so the loss is ln C.
small = {k: 1e-6 * v for k, v in init_mlp(64, 20, 10, rng).items()}
loss, _ = mlp_loss(small, rng.normal(size=(50, 64)), rng.integers(0, 10, size=50), 0.0)
print(f"loss at tiny weights {loss:.4f}, ln 10 = {np.log(10):.4f}")
expect_close("loss", loss, np.log(10), tol=1e-3)

# Stability: scores in the thousands.
huge = {**params, "W2": 2000.0 * params["W2"]}
with np.errstate(over="raise", invalid="raise"):
    loss, grads = mlp_loss(huge, x, y, 0.0)
assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())

# %% [markdown]
# ## Part 3: a random search, and the SVMs (5 points)
#
# Write `search_and_predict`. It receives a training split, a validation split and the
# test images (not their labels), and a seed. It must:
#
# 1. draw `n_trials` pairs (learning rate, reg) with your `sample_log_uniform`, from
#    ranges you choose (the book discusses sensible ones; beware of a best value at the
#    edge of a range);
# 2. for each pair, train a fresh 64-`H`-10 network with your `mlp_loss` and an update
#    rule of your choice (plain SGD, momentum or Adam, written by you, as in
#    Assignment 7) on mini-batches of the training split, and record the mean training
#    loss of every epoch;
# 3. keep the pair with the best **validation** accuracy (never look at the test set to
#    choose), then train again with it, on training and validation images together.
#    A single network of this size is usually a point or two behind the RBF SVM on this
#    data; the average of the predicted probabilities of a few networks trained from
#    different initialisations (an ensemble, see the book) closes most of the gap;
# 4. return the predicted labels of `x_test` and the record of the search.
#
# **Time budget:** the whole call must finish within `TIME_BUDGET` = 60 seconds on the
# grader's machine; it is stopped after that, and the part then earns nothing. A 64-64-10
# network trains an epoch of 1000 images in well under a tenth of a second, so a search of
# about ten short trials fits easily.
#
# **How it is graded:** the grader draws its own split of the digits (1000 training, 300
# validation, the remaining 497 test images), fits a linear and an RBF `SVC` on the same
# training images (scikit-learn's defaults: `C=1`, `gamma="scale"`), and compares the
# test accuracies. Your test accuracy earns the full
# points within **2 percentage points of the RBF SVM's** (or above it); it earns half the
# points if it at least matches the **linear SVM's**. The grader also reads your loss
# records: if the loss of every trial barely moves, it tells you that your learning rates
# are too small.
#
# Return values: `pred_test` `(N_test,)` integer labels; `learning_rates`, `regs` and
# `val_accuracies` `(n_trials,)`, one entry per trial; `loss_histories`
# `(n_trials, epochs)`, the mean training loss of every epoch of every trial.


# %% nbgrader={"grade": false, "grade_id": "search", "locked": false, "schema_version": 3, "solution": true, "task": false}
def search_and_predict(x_train, y_train, x_val, y_val, x_test, seed):
    """Random search over learning rate and reg for a 64-H-10 ReLU network, then predict.

    x_train: (N_train, 64); y_train: (N_train,) labels 0..9; x_val, y_val likewise;
    x_test: (N_test, 64); seed: int. Returns pred_test (N_test,), learning_rates,
    regs, val_accuracies (each (n_trials,)) and loss_histories (n_trials, epochs).
    """
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)

    def adam_step(w, dw, state, lr, b1=0.9, b2=0.999, eps=1e-8):
        state["t"] += 1
        state["m"] = b1 * state["m"] + (1 - b1) * dw
        state["v"] = b2 * state["v"] + (1 - b2) * dw * dw
        m_hat = state["m"] / (1 - b1 ** state["t"])
        v_hat = state["v"] / (1 - b2 ** state["t"])
        return w - lr * m_hat / (np.sqrt(v_hat) + eps)

    def train(x, y, lr, reg, epochs, batch=50, hidden=64):
        params = init_mlp(x.shape[1], hidden, 10, rng)
        states = {k: {"t": 0, "m": 0.0 * v, "v": 0.0 * v} for k, v in params.items()}
        history = []
        for _ in range(epochs):
            order = rng.permutation(len(x))
            losses = []
            for start in range(0, len(x), batch):
                rows = order[start : start + batch]
                loss, grads = mlp_loss(params, x[rows], y[rows], reg)
                for k in params:
                    params[k] = adam_step(params[k], grads[k], states[k], lr)
                losses.append(loss)
            history.append(np.mean(losses))
        return params, np.array(history)

    def probabilities(params, x):
        scores = np.maximum(x @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    n_trials, epochs = 8, 15
    learning_rates = sample_log_uniform(rng, 1e-3, 3e-2, n_trials)
    regs = sample_log_uniform(rng, 1e-6, 1e-3, n_trials)
    val_accuracies, loss_histories = [], []
    for lr, reg in zip(learning_rates, regs, strict=True):
        params, history = train(x_train, y_train, lr, reg, epochs)
        val_accuracies.append(np.mean(probabilities(params, x_val).argmax(axis=1) == y_val))
        loss_histories.append(history)
    # The best pair, trained again on training and validation images together, five
    # times from different initialisations; the ensemble averages their probabilities.
    best = int(np.argmax(val_accuracies))
    x_all, y_all = np.vstack([x_train, x_val]), np.concatenate([y_train, y_val])
    average = 0.0
    for _ in range(5):
        params, _ = train(x_all, y_all, learning_rates[best], regs[best], 30)
        average = average + probabilities(params, x_test) / 5
    pred_test = average.argmax(axis=1)
    val_accuracies, loss_histories = np.array(val_accuracies), np.array(loss_histories)
    ### END SOLUTION
    return pred_test, learning_rates, regs, val_accuracies, loss_histories


# %% nbgrader={"grade": true, "grade_id": "test_search", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.svm import SVC

digits = load_digits()
images, labels = digits.data / 16.0, digits.target
order = np.random.default_rng(2026).permutation(len(images))
train, val, test = order[:1000], order[1000:1300], order[1300:]

start = time.perf_counter()
pred, lrs, regs, val_acc, histories = search_and_predict(
    images[train], labels[train], images[val], labels[val], images[test], seed=0
)
seconds = time.perf_counter() - start
accuracy = np.mean(pred == labels[test])

svm_scores = {}
for kernel in ("linear", "rbf"):
    start = time.perf_counter()
    svm = SVC(kernel=kernel).fit(images[train], labels[train])
    svm_scores[kernel] = (svm.score(images[test], labels[test]), time.perf_counter() - start)

print(f"your search: test accuracy {accuracy:.1%} in {seconds:.1f} s (budget {TIME_BUDGET} s)")
for kernel, (score, fit_seconds) in svm_scores.items():
    print(f"{kernel:6s} SVC: test accuracy {score:.1%}, fitted in {fit_seconds:.2f} s")
print("trials (learning rate, reg, validation accuracy):")
for lr, reg, acc in zip(lrs, regs, val_acc, strict=True):
    print(f"  {lr:.2e}  {reg:.2e}  {acc:.3f}")

fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
ax[0].scatter(lrs, val_acc, c=np.log10(regs), cmap="viridis")
ax[0].set_xscale("log")
ax[0].set_xlabel("learning rate")
ax[0].set_ylabel("validation accuracy")
for history, lr in zip(histories, lrs, strict=True):
    ax[1].plot(history, label=f"lr {lr:.1e}")
ax[1].set_xlabel("epoch")
ax[1].set_ylabel("mean training loss")
ax[1].legend(fontsize=7)
plt.tight_layout()
plt.show()

expect_shape("pred", pred, (len(test),))
assert lrs.shape == regs.shape == val_acc.shape == (len(histories),)
assert seconds < TIME_BUDGET, "the search is slower than the time budget"
assert accuracy >= svm_scores["rbf"][0] - 0.02, "not within 2 points of the RBF SVM yet"

# %% [markdown]
# ## Before you submit
#
# Restart the kernel and run all cells. Things to try on your own (not graded): train the
# network and the two SVMs on 200, 500 and 1000 training images and compare accuracy
# and training time as the data grows; count the RBF SVM's support vectors
# (`svm.n_support_.sum()`) as it does.
