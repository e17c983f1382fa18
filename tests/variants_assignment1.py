"""Student answers for assignment 1: correct ones written differently, and one buggy
variant per catalogued mistake. Each maps answer-cell grade_id -> source."""

DENSE_FWD = """
def dense_forward(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b, (x, w)
"""

DENSE_BWD_TEMPLATE = """
def dense_backward(dout, cache):
    x, w = cache
    x2 = x.reshape(x.shape[0], -1)
    dx = {dx}
    dw = {dw}
    db = {db}
    return dx, dw, db
"""


def dense_bwd(dx="(dout @ w.T).reshape(x.shape)", dw="x2.T @ dout", db="dout.sum(axis=0)"):
    return {"dense_backward": DENSE_BWD_TEMPLATE.format(dx=dx, dw=dw, db=db)}


SIGMOID_TEMPLATE = """
def sigmoid_forward(x):
    {forward}


def sigmoid_backward(dout, cache):
    s = cache
    return {backward}
"""


def sigmoid(
    forward="return 0.5 * (1.0 + np.tanh(0.5 * x)), 0.5 * (1.0 + np.tanh(0.5 * x))",
    backward="dout * s * (1 - s)",
):
    return {"sigmoid": SIGMOID_TEMPLATE.format(forward=forward, backward=backward)}


RELU_TEMPLATE = """
def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    x = cache
    return {backward}
"""


def relu(backward="dout * (x > 0)"):
    return {"relu": RELU_TEMPLATE.format(backward=backward)}


MSE_TEMPLATE = """
def mse_loss(pred, y):
    n = pred.shape[0]
    diff = pred - y
    return {loss}, {grad}
"""


def mse(loss="0.5 * np.sum(diff ** 2) / n", grad="diff / n"):
    return {"mse": MSE_TEMPLATE.format(loss=loss, grad=grad)}


CORRECT = {
    "instructor": {},
    "loops_over_the_batch": {
        "dense_forward": """
def dense_forward(x, w, b):
    n = x.shape[0]
    out = np.zeros((n, w.shape[1]))
    for i in range(n):
        out[i] = x[i].ravel() @ w + b
    return out, (x, w)
""",
        "dense_backward": """
def dense_backward(dout, cache):
    x, w = cache
    dx = np.zeros(x.shape)
    dw = np.zeros(w.shape)
    db = np.zeros(w.shape[1])
    for i in range(x.shape[0]):
        dx[i] = (w @ dout[i]).reshape(x.shape[1:])
        dw += np.outer(x[i].ravel(), dout[i])
        db += dout[i]
    return dx, dw, db
""",
        "mse": """
def mse_loss(pred, y):
    n = len(pred)
    loss = 0.0
    dpred = np.empty_like(pred, dtype=float)
    for i in range(n):
        loss += 0.5 * float(np.sum((pred[i] - y[i]) ** 2))
        dpred[i] = (pred[i] - y[i]) / n
    return loss / n, dpred
""",
    },
    "other_algebra": {
        "dense_forward": """
def dense_forward(x, w, b):
    flat = np.reshape(x, (len(x), -1))
    return np.einsum("nd,dm->nm", flat, w) + b[None, :], {"x": x, "w": w}
""",
        "dense_backward": """
def dense_backward(dout, cache):
    x, w = cache["x"], cache["w"]
    flat = np.reshape(x, (len(x), -1))
    return np.dot(dout, w.T).reshape(x.shape), np.dot(flat.T, dout), np.sum(dout, axis=0)
""",
        **sigmoid(),
        "relu": """
def relu_forward(x):
    mask = x > 0
    return np.where(mask, x, 0.0), mask


def relu_backward(dout, cache):
    return np.where(cache, dout, 0.0)
""",
        **mse(loss="0.5 * np.mean(np.sum(diff ** 2, axis=1))", grad="np.divide(diff, len(pred))"),
    },
    "scipy_expit_and_returning_a_python_float": {
        "sigmoid": """
from scipy.special import expit


def sigmoid_forward(x):
    return expit(x), x


def sigmoid_backward(dout, cache):
    s = expit(cache)
    return dout * s * (1.0 - s)
""",
        **mse(loss="float(0.5 * (diff ** 2).sum() / n)"),
    },
}

# variant name -> (answers, grade_id of the part that must fail, expected mistake code)
BUGGY = {
    "dense_no_bias": (
        {"dense_forward": DENSE_FWD.replace(" @ w + b,", " @ w,")},
        "test_dense_forward",
        "dense-no-bias",
    ),
    "dense_sign": (
        dense_bwd(dx="-(dout @ w.T).reshape(x.shape)", dw="-x2.T @ dout", db="-dout.sum(axis=0)"),
        "test_dense_backward",
        "dense-sign",
    ),
    "dense_transposed_weight": (
        dense_bwd(dx="(dout @ w).reshape(x.shape)"),
        "test_dense_backward",
        "dense-transposed-weight",
    ),
    "dense_dw_transposed": (
        dense_bwd(dw="dout.T @ x2"),
        "test_dense_backward",
        "dense-dw-transposed",
    ),
    "bias_not_summed": (dense_bwd(db="dout"), "test_dense_backward", "bias-not-summed"),
    "bias_averaged": (dense_bwd(db="dout.mean(axis=0)"), "test_dense_backward", "bias-averaged"),
    "batch_averaged_in_layer": (
        dense_bwd(dw="x2.T @ dout / len(x)", db="dout.mean(axis=0)"),
        "test_dense_backward",
        "batch-averaged-in-layer",
    ),
    "dx_not_reshaped": (dense_bwd(dx="dout @ w.T"), "test_dense_backward", "dx-not-reshaped"),
    "sigmoid_derivative_at_input": (
        {
            "sigmoid": SIGMOID_TEMPLATE.format(
                forward="s = 1 / (1 + np.exp(-np.clip(x, -500, 500)))\n    return s, (x, s)",
                backward="dout * s[0] * (1 - s[0])",
            )
        },
        "test_sigmoid",
        "sigmoid-derivative-at-input",
    ),
    "sigmoid_applied_twice": (
        sigmoid(backward="dout * (1 / (1 + np.exp(-s))) * (1 - 1 / (1 + np.exp(-s)))"),
        "test_sigmoid",
        "sigmoid-applied-twice",
    ),
    "sigmoid_no_upstream": (sigmoid(backward="s * (1 - s)"), "test_sigmoid", "sigmoid-no-upstream"),
    "sigmoid_unstable": (
        sigmoid(forward="s = np.exp(x) / (1 + np.exp(x))\n    return s, s"),
        "test_sigmoid",
        "sigmoid-unstable",
    ),
    "relu_gradient_one_at_zero": (
        relu(backward="dout * (x >= 0)"),
        "test_relu",
        "relu-gradient-one-at-zero",
    ),
    "relu_no_upstream": (relu(backward="(x > 0).astype(float)"), "test_relu", "relu-no-upstream"),
    "relu_mask_inverted": (relu(backward="dout * (x <= 0)"), "test_relu", "relu-mask-inverted"),
    "mse_sign": (mse(grad="(y - pred) / n"), "test_mse", "mse-sign"),
    "mse_no_batch_mean": (
        mse(loss="0.5 * np.sum(diff ** 2)", grad="diff"),
        "test_mse",
        "mse-no-batch-mean",
    ),
    "mse_double_mean": (mse(grad="diff / n / n"), "test_mse", "mse-double-mean"),
    "mse_no_half": (
        mse(loss="np.sum(diff ** 2) / n", grad="2 * diff / n"),
        "test_mse",
        "mse-no-half",
    ),
    "mse_mean_over_all_entries": (
        mse(loss="0.5 * np.mean(diff ** 2)", grad="diff / diff.size"),
        "test_mse",
        "mse-mean-over-all-entries",
    ),
}

# Inputs changed in place: the forward pass that clips x loses points.
CHANGED = {
    "relu_forward_clips_its_input": (
        {
            "relu": RELU_TEMPLATE.format(backward="dout * (x > 0)").replace(
                "    return np.maximum(x, 0), x",
                "    out = x\n    out[out < 0] = 0\n    return out, x",
            )
        },
        "test_relu",
        "changed:x",
    ),
}

# Mistakes outside the catalogue: the judge describes how the output relates to the right one.
STRUCTURAL = {
    "dense_dx_negated": (
        dense_bwd(dx="-(dout @ w.T).reshape(x.shape)"),
        "test_dense_backward",
        "structure:dx:negative",
    ),
    "dense_db_doubled": (
        dense_bwd(db="2 * dout.sum(axis=0)"),
        "test_dense_backward",
        "structure:db:factor-2",
    ),
    "sigmoid_backward_returns_dout": (
        sigmoid(backward="dout"),
        "test_sigmoid",
        "structure:dx:input-dout",
    ),
    "relu_backward_all_zeros": (
        relu(backward="np.zeros_like(dout)"),
        "test_relu",
        "structure:dx:zeros",
    ),
}

# Upstream gradients changed in place: full marks, and a warning that names the argument.
WARNED = {
    "relu_backward_masks_dout": (
        {
            "relu": RELU_TEMPLATE.format(backward="dout").replace(
                "    x = cache\n    return dout",
                "    x = cache\n    dout[x <= 0] = 0\n    return dout",
            )
        },
        "test_relu",
        "warning:dout",
    ),
}
