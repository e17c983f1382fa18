"""Student answers for assignment 3 (output deltas and losses on logits): correct ones
written differently, and one buggy variant per catalogued mistake. Each maps answer-cell
grade_id -> source."""

MSE_TEMPLATE = """
def sigmoid_mse_loss(z, y):
    n = z.shape[0]
    a = sigmoid(z)
    return {loss}, {dz}
"""


def mse(loss="0.5 * np.sum((a - y) ** 2) / n", dz="(a - y) * a * (1 - a) / n"):
    return {"sigmoid_mse": MSE_TEMPLATE.format(loss=loss, dz=dz)}


BCE_TEMPLATE = """
def sigmoid_bce_loss(z, y):
    n = z.shape[0]
    a = sigmoid(z)
    loss = {loss}
    return loss, {dz}
"""

STABLE_BCE = "np.sum(np.logaddexp(0.0, z) - z * y) / n"


def bce(loss=STABLE_BCE, dz="(a - y) / n"):
    return {"sigmoid_bce": BCE_TEMPLATE.format(loss=loss, dz=dz)}


SOFTMAX_TEMPLATE = """
def softmax_cross_entropy(z, y):
    n, c = z.shape
    rows = np.arange(n)
    shifted = z - z.max(axis={axis}, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis={axis}, keepdims=True))
    p = np.exp(logp)
    onehot = np.eye(c)[y]
{body}
"""

SOFTMAX_BODY = """    loss = -np.sum(logp * onehot) / n
    return loss, (p - onehot) / n
"""


def softmax(body=SOFTMAX_BODY, axis=1):
    return {"softmax_ce": SOFTMAX_TEMPLATE.format(body=body, axis=axis)}


CORRECT = {
    "instructor": {},
    "other_algebra": {
        **mse(loss="np.sum(np.square(a - y)) / (2 * len(z))", dz="(a - y) * a * (1 - a) / len(z)"),
        **bce(),
        **softmax(),
    },
    "scipy_and_loops_over_the_batch": {
        "sigmoid_mse": """
from scipy.special import expit


def sigmoid_mse_loss(z, y):
    n = len(z)
    loss = 0.0
    dz = np.zeros(z.shape)
    for i in range(n):
        a = expit(z[i])
        loss += 0.5 * float(np.sum((a - y[i]) ** 2)) / n
        dz[i] = (a - y[i]) * a * (1.0 - a) / n
    return loss, dz
""",
        "sigmoid_bce": """
from scipy.special import expit


def sigmoid_bce_loss(z, y):
    n = len(z)
    softplus = np.where(z > 0, z + np.log1p(np.exp(-z)), np.log1p(np.exp(z)))
    loss = float(np.sum(softplus - y * z)) / n
    return loss, (expit(z) - y) / n
""",
        "softmax_ce": """
from scipy.special import logsumexp


def softmax_cross_entropy(z, y):
    n = len(z)
    loss = 0.0
    dz = np.zeros(z.shape)
    for i in range(n):
        logp = z[i] - logsumexp(z[i])
        loss -= logp[y[i]] / n
        dz[i] = np.exp(logp) / n
        dz[i, y[i]] -= 1.0 / n
    return loss, dz
""",
    },
}

NAIVE_BCE = "-np.sum(y * np.log(a) + (1 - y) * np.log(1 - a)) / n"

# variant name -> (answers, grade_id of the part that must fail, expected mistake code)
BUGGY = {
    "mse_delta_without_derivative": (
        mse(dz="(a - y) / n"),
        "test_sigmoid_mse",
        "mse-output-delta-without-derivative",
    ),
    "mse_no_batch_mean": (
        mse(loss="0.5 * np.sum((a - y) ** 2)", dz="(a - y) * a * (1 - a)"),
        "test_sigmoid_mse",
        "mse-output-no-batch-mean",
    ),
    "bce_sigmoid_derivative_kept": (
        bce(dz="(a - y) * a * (1 - a) / n"),
        "test_sigmoid_bce",
        "sigmoid-derivative-under-ce",
    ),
    "bce_naive_logs": (bce(loss=NAIVE_BCE), "test_sigmoid_bce", "bce-unstable"),
    "bce_sign": (bce(dz="(y - a) / n"), "test_sigmoid_bce", "bce-sign"),
    "bce_double_mean": (bce(dz="(a - y) / n / n"), "test_sigmoid_bce", "bce-double-mean"),
    "bce_mean_over_all_entries": (
        bce(loss="np.mean(np.logaddexp(0.0, z) - z * y)", dz="(a - y) / z.size"),
        "test_sigmoid_bce",
        "bce-mean-over-all-entries",
    ),
    "softmax_one_hot_not_subtracted": (
        softmax(body="    loss = -np.sum(logp * onehot) / n\n    return loss, p / n\n"),
        "test_softmax_ce",
        "softmax-one-hot-not-subtracted",
    ),
    "softmax_without_shift": (
        {
            "softmax_ce": """
def softmax_cross_entropy(z, y):
    n = z.shape[0]
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(n), y]))
    dz = p.copy()
    dz[np.arange(n), y] -= 1
    return loss, dz / n
"""
        },
        "test_softmax_ce",
        "softmax-unstable",
    ),
    "softmax_no_batch_mean": (
        softmax(body="    return -np.sum(logp * onehot), p - onehot\n"),
        "test_softmax_ce",
        "softmax-ce-no-batch-mean",
    ),
    "softmax_derivative_kept": (
        softmax(body="    return -np.sum(logp * onehot) / n, (p - onehot) * p * (1 - p) / n\n"),
        "test_softmax_ce",
        "softmax-derivative-under-ce",
    ),
    "labels_as_columns": (
        softmax(
            body="    dz = p.copy()\n    dz[:, y] -= 1\n    return -np.mean(logp[:, y]), dz / n\n"
        ),
        "test_softmax_ce",
        "labels-as-columns",
    ),
    "labels_used_as_one_hot": (
        softmax(body="    return -np.sum(y * logp) / n, (p - y) / n\n"),
        "test_softmax_ce",
        "labels-used-as-one-hot",
    ),
    "softmax_over_the_batch": (softmax(axis=0), "test_softmax_ce", "softmax-wrong-axis"),
}
