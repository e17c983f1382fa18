"""Student answers for assignment 8: correct ones written differently, and one buggy
variant per catalogued mistake. Each maps answer-cell grade_id -> source.

The instructor's search calls the student's sampler and loss. A bug in either must cost
its own part only, so those variants come with ``SEARCH_STANDALONE``: a search cell that
relies on nothing else (and tries a single, known-good configuration, which keeps the
test fast).
"""

SAMPLER_TEMPLATE = """
def sample_log_uniform(rng, low, high, n):
    return {draw}
"""


def sampler(draw="np.exp(rng.uniform(np.log(low), np.log(high), size=n))"):
    return {"sample_log_uniform": SAMPLER_TEMPLATE.format(draw=draw)}


MLP_TEMPLATE = """
def mlp_loss(params, x, y, reg):
    n = len(x)
    z = np.einsum("nd,dh->nh", x, params["W1"]) + params["b1"]
    h = np.where(z > 0, z, 0.0)
    s = h @ params["W2"] + params["b2"]
    {log_probabilities}
    p = np.exp(logp)
    data = -np.sum(logp[np.arange(n), y]) / {batch}
    weights = np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)
    {penalty}
    ds = p.copy()
    ds[np.arange(n), y] -= 1
    ds /= {batch}
    dz = ds @ params["W2"].T
    dz[z <= 0] = 0.0
    grads = {{
        "W1": x.T @ dz + {weight_grad} * params["W1"],
        "b1": dz.sum(0){bias_grad1},
        "W2": h.T @ ds + {weight_grad} * params["W2"],
        "b2": ds.sum(0){bias_grad2},
    }}
    return data + penalty, grads
"""

STABLE = """shifted = s - s.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))"""

NAIVE = """logp = np.log(np.exp(s) / np.exp(s).sum(axis=1, keepdims=True))"""


def mlp(
    log_probabilities=STABLE,
    batch="n",
    penalty="penalty = 0.5 * reg * weights",
    weight_grad="reg",
    bias_grad1="",
    bias_grad2="",
):
    source = MLP_TEMPLATE.format(
        log_probabilities=log_probabilities,
        batch=batch,
        penalty=penalty,
        weight_grad=weight_grad,
        bias_grad1=bias_grad1,
        bias_grad2=bias_grad2,
    )
    return {"mlp_loss": source}


# A search that needs nothing from the other cells; {ranges} sets the trials.
SEARCH_TEMPLATE = """
def _own_loss(p, x, y, reg):
    n = len(x)
    z = x @ p["W1"] + p["b1"]
    h = np.maximum(z, 0)
    s = h @ p["W2"] + p["b2"]
    s = s - s.max(axis=1, keepdims=True)
    prob = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    penalty = 0.5 * reg * (np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2))
    loss = -np.mean(np.log(prob[np.arange(n), y])) + penalty
    d = prob
    d[np.arange(n), y] -= 1
    d /= n
    dz = (d @ p["W2"].T) * (z > 0)
    return loss, {{"W1": x.T @ dz + reg * p["W1"], "b1": dz.sum(0),
                   "W2": h.T @ d + reg * p["W2"], "b2": d.sum(0)}}


def _own_train(x, y, lr, reg, epochs, rng):
    p = init_mlp(x.shape[1], 64, 10, rng)
    m = {{k: np.zeros_like(v) for k, v in p.items()}}
    v2 = {{k: np.zeros_like(v) for k, v in p.items()}}
    t, history = 0, []
    for _ in range(epochs):
        order, losses = rng.permutation(len(x)), []
        for i in range(0, len(x), 50):
            rows = order[i : i + 50]
            loss, g = _own_loss(p, x[rows], y[rows], reg)
            t += 1
            for k in p:
                m[k] = 0.9 * m[k] + 0.1 * g[k]
                v2[k] = 0.999 * v2[k] + 0.001 * g[k] ** 2
                p[k] = p[k] - lr * (m[k] / (1 - 0.9**t)) / (np.sqrt(v2[k] / (1 - 0.999**t)) + 1e-8)
            losses.append(loss)
        history.append(np.mean(losses))
    return p, history


def search_and_predict(x_train, y_train, x_val, y_val, x_test, seed):
    rng = np.random.default_rng(seed)
    lrs = np.array({lrs})
    regs = np.array({regs})
    accs, histories, probs = [], [], 0.0
    for lr, reg in zip(lrs, regs):
        p, history = _own_train(x_train, y_train, lr, reg, {epochs}, rng)
        hidden = np.maximum(x_val @ p["W1"] + p["b1"], 0)
        accs.append(np.mean(np.argmax(hidden @ p["W2"] + p["b2"], 1) == y_val))
        histories.append(history)
    best = int(np.argmax(accs))
    x_all, y_all = np.vstack([x_train, x_val]), np.concatenate([y_train, y_val])
    for _ in range({copies}):
        p, _ = _own_train(x_all, y_all, lrs[best], regs[best], {final_epochs}, rng)
        s = np.maximum(x_test @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"]
        e = np.exp(s - s.max(axis=1, keepdims=True))
        probs = probs + e / e.sum(axis=1, keepdims=True)
    return np.argmax(probs, axis=1), lrs, regs, np.array(accs), np.array(histories)
"""


def search(lrs="[1e-2]", regs="[1e-4]", epochs=1, final_epochs=30, copies=3):
    source = SEARCH_TEMPLATE.format(
        lrs=lrs, regs=regs, epochs=epochs, final_epochs=final_epochs, copies=copies
    )
    return {"search": source}


SEARCH_STANDALONE = search()

CORRECT = {
    "instructor": {},
    "other_algebra": {
        **sampler(),
        **mlp(),
    },
    "a_grid_of_configurations_trained_alone": {
        **sampler(draw="low * (high / low) ** rng.random(n)"),
        **search(lrs="[3e-3, 1e-2, 1e-2]", regs="[1e-5, 1e-5, 1e-4]", epochs=10),
    },
}

# variant name -> (answers, grade_id of the part that must fail, expected mistake code)
BUGGY = {
    "sampler_on_a_linear_scale": (
        {**sampler(draw="rng.uniform(low, high, size=n)"), **SEARCH_STANDALONE},
        "test_sample_log_uniform",
        "learning-rate-linear-scale",
    ),
    "sampler_returns_a_grid": (
        {**sampler(draw="np.logspace(np.log10(low), np.log10(high), n)"), **SEARCH_STANDALONE},
        "test_sample_log_uniform",
        "grid-instead-of-random",
    ),
    "sampler_uses_the_global_generator": (
        {
            **sampler(draw="10 ** np.random.uniform(np.log10(low), np.log10(high), n)"),
            **SEARCH_STANDALONE,
        },
        "test_sample_log_uniform",
        "sampler-ignores-generator",
    ),
    "l2_penalty_on_the_biases": (
        {
            **mlp(
                penalty="penalty = 0.5 * reg * (weights + np.sum(params['b1'] ** 2)"
                " + np.sum(params['b2'] ** 2))",
                bias_grad1=" + reg * params['b1']",
                bias_grad2=" + reg * params['b2']",
            ),
            **SEARCH_STANDALONE,
        },
        "test_mlp_loss",
        "l2-penalty-on-biases",
    ),
    "l2_penalty_without_the_half": (
        {**mlp(penalty="penalty = reg * weights", weight_grad="2 * reg"), **SEARCH_STANDALONE},
        "test_mlp_loss",
        "l2-penalty-without-half",
    ),
    "cross_entropy_summed": (
        {**mlp(batch="1"), **SEARCH_STANDALONE},
        "test_mlp_loss",
        "cross-entropy-not-averaged",
    ),
    "softmax_without_the_shift": (
        {**mlp(log_probabilities=NAIVE), **SEARCH_STANDALONE},
        "test_mlp_loss",
        "softmax-unstable",
    ),
    "learning_rates_far_too_small": (
        search(lrs="[1e-8, 3e-8]", regs="[1e-5, 1e-4]", epochs=5, final_epochs=5, copies=1),
        "test_search",
        "learning-rate-too-small",
    ),
}
