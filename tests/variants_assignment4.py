"""Student answers for assignment 4 (gradient checking, three repaired layers): correct
ones written differently, and one buggy variant per catalogued mistake. Each maps
answer-cell grade_id -> source."""

GRADIENT_TEMPLATE = """
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        saved = x[i]
{body}
    return grad
"""


def gradient(body):
    return {"numerical_gradient": GRADIENT_TEMPLATE.format(body=body)}


RELATIVE_TEMPLATE = """
def relative_error(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.{reduce}(np.abs(a - b) / {denominator}))
"""


def relative(reduce="max", denominator="np.maximum(np.abs(a) + np.abs(b), 1e-8)"):
    source = RELATIVE_TEMPLATE.format(reduce=reduce, denominator=denominator)
    return {"relative_error": source}


def tanh(derivative):
    source = f"""
def tanh_backward(dout, cache):
    x, out = cache
    return dout * ({derivative})
"""
    return {"tanh": source}


SOFTMAX_TEMPLATE = """
def softmax_backward(dout, cache):
    s = cache
    return {dx}
"""


def softmax(dx):
    return {"softmax": SOFTMAX_TEMPLATE.format(dx=dx)}


HINGE_TEMPLATE = """
def hinge_loss(scores, y):
    n = scores.shape[0]
    rows = np.arange(n)
    terms = scores - scores[rows, y][:, None] + 1.0
{mask}
    terms[rows, y] = 0.0
    loss = np.maximum(terms, 0.0).sum() / n
    ds = mask.astype(float)
    ds[rows, y] = 0.0
    ds[rows, y] = -ds.sum(axis=1)
    return loss, ds / n
"""


def hinge(mask="    mask = terms > 0\n    mask[rows, y] = False"):
    return {"hinge": HINGE_TEMPLATE.format(mask=mask)}


CORRECT = {
    "instructor": {},
    "nditer_in_place": {
        "numerical_gradient": """
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=float)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        i = it.multi_index
        old = x[i].copy()
        x[i] = old + h
        up = f(x)
        x[i] = old - h
        down = f(x)
        x[i] = old
        grad[i] = (up - down) / 2 / h
        it.iternext()
    return grad
""",
        **relative(
            denominator="np.where(np.abs(a) + np.abs(b) > 1e-8, np.abs(a) + np.abs(b), 1e-8)"
        ),
        **tanh("1 - np.tanh(x) ** 2"),
        "softmax": """
def softmax_backward(dout, cache):
    s = cache
    jacobian = np.einsum("ni,ij->nij", s, np.eye(s.shape[1])) - np.einsum("ni,nj->nij", s, s)
    return np.einsum("nij,ni->nj", jacobian, dout)
""",
        "hinge": """
def hinge_loss(scores, y):
    n, c = scores.shape
    loss = 0.0
    ds = np.zeros((n, c))
    for i in range(n):
        for j in range(c):
            if j == y[i]:
                continue
            term = scores[i, j] - scores[i, y[i]] + 1.0
            if term > 0:
                loss += term / n
                ds[i, j] += 1.0 / n
                ds[i, y[i]] -= 1.0 / n
    return loss, ds
""",
    },
    "flat_view_and_templates": {
        "numerical_gradient": """
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.size)
    flat = x.reshape(-1)
    for k in range(x.size):
        keep = flat[k]
        flat[k] = keep + h
        up = f(x)
        flat[k] = keep - h
        down = f(x)
        flat[k] = keep
        grad[k] = (up - down) / (2 * h)
    return grad.reshape(x.shape)
""",
        **relative(),
        **tanh("1 - out * out"),
        **softmax("s * dout - s * (s * dout).sum(axis=1, keepdims=True)"),
        **hinge(),
    },
}

# variant name -> (answers, grade_id of the part that must fail, expected mistake code)
BUGGY = {
    "one_sided_difference": (
        gradient(
            "        base = f(x)\n"
            "        x[i] = saved + h\n"
            "        grad[i] = (f(x) - base) / h\n"
            "        x[i] = saved"
        ),
        "test_numerical_gradient",
        "one-sided-difference",
    ),
    "x_not_restored": (
        gradient(
            "        x[i] += h\n"
            "        plus = f(x)\n"
            "        x[i] -= 2 * h\n"
            "        minus = f(x)\n"
            "        grad[i] = (plus - minus) / (2 * h)"
        ),
        "test_numerical_gradient",
        "x-not-restored",
    ),
    "divided_by_h": (
        gradient(
            "        x[i] = saved + h\n"
            "        plus = f(x)\n"
            "        x[i] = saved - h\n"
            "        minus = f(x)\n"
            "        x[i] = saved\n"
            "        grad[i] = (plus - minus) / h"
        ),
        "test_numerical_gradient",
        "divides-by-h",
    ),
    "perturbs_a_copy": (
        # Was a "correct" variant before the closure case: it never touches x, so a
        # function that reads the caller's x (as the book's closures do) sees no change.
        {
            "numerical_gradient": """
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=float)
    for i in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[i] = h
        grad[i] = (f(x + step) - f(x - step)) / 2 / h
    return grad
"""
        },
        "test_numerical_gradient",
        "perturbs-a-copy",
    ),
    "every_entry_at_once": (
        {
            "numerical_gradient": """
def numerical_gradient(f, x, h=1e-5):
    return np.ones(x.shape) * (f(x + h) - f(x - h)) / (2 * h)
"""
        },
        "test_numerical_gradient",
        "perturbs-every-entry",
    ),
    "relative_error_without_floor": (
        relative(denominator="(np.abs(a) + np.abs(b))"),
        "test_relative_error",
        "relative-error-without-floor",
    ),
    "relative_error_averaged": (
        relative(reduce="mean"),
        "test_relative_error",
        "relative-error-mean",
    ),
    "tanh_left_broken": (tanh("1.0 - x**2"), "test_tanh", "tanh-derivative-at-input"),
    "tanh_twice": (tanh("1.0 - np.tanh(out) ** 2"), "test_tanh", "tanh-applied-twice"),
    "tanh_not_squared": (tanh("1.0 - out"), "test_tanh", "tanh-derivative-not-squared"),
    "softmax_left_broken": (
        softmax("dout * s * (1 - s)"),
        "test_softmax",
        "softmax-jacobian-diagonal-only",
    ),
    "softmax_sum_over_the_batch": (
        softmax("s * (dout - np.sum(dout * s, axis=0, keepdims=True))"),
        "test_softmax",
        "softmax-backward-wrong-axis",
    ),
    "hinge_left_broken": (
        {"hinge": "def hinge_loss(scores, y):\n    return hinge_loss_broken(scores, y)\n"},
        "test_hinge",
        "hinge-correct-class-counted",
    ),
    "hinge_kink_counted": (
        hinge(mask="    mask = terms >= 0\n    mask[rows, y] = False"),
        "test_hinge",
        "hinge-kink-counted",
    ),
}
