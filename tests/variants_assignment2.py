"""Student answers for assignment 2 (a neuron on AND, a hidden layer for XOR): correct
ones written differently, and one buggy variant per catalogued mistake. Each maps
answer-cell grade_id -> source."""

NEURON_TEMPLATE = """
def neuron_forward(x, w, b):
    a = sigmoid(x @ w {plus_b})
    return a, (x, w, a)


def neuron_backward(da, cache):
    x, w, a = cache
    dz = {dz}
    return dz @ w.T, x.T @ dz, {db}


def train_neuron(x, y, w, b, lr, steps, use_bias=True):
    w, b = w.copy(), b.copy()
    losses = []
    for _ in range(steps):
        a, cache = neuron_forward(x, w, b)
        loss, da = mse_loss(a, y)
        _, dw, db = neuron_backward(da, cache)
        w {update} lr * dw
        if use_bias:
            b {update} lr * db
        losses.append(loss)
    return w, b, losses
"""


def neuron(plus_b="+ b", dz="da * a * (1 - a)", db="dz.sum(axis=0)", update="-="):
    source = NEURON_TEMPLATE.format(plus_b=plus_b, dz=dz, db=db, update=update)
    return {"neuron": source}


TWO_LAYER_TEMPLATE = """
def two_layer_forward(x, w1, b1, w2, b2):
    h = sigmoid(x @ w1 + b1)
    out = sigmoid(h @ w2 + b2)
    return out, (x, w1, w2, h, out)


def two_layer_backward(dout, cache):
    x, w1, w2, h, out = cache
    dz2 = dout * out * (1 - out)
    dh = dz2 @ w2.T
    dz1 = {dz1}
    return dz1 @ w1.T, x.T @ dz1, dz1.sum(axis=0), h.T @ dz2, dz2.sum(axis=0)


def train_two_layer(x, y, w1, b1, w2, b2, lr, steps):
    w1, b1, w2, b2 = w1.copy(), b1.copy(), w2.copy(), b2.copy()
    losses = []
    for _ in range(steps):
        out, cache = two_layer_forward(x, w1, b1, w2, b2)
        loss, dout = mse_loss(out, y)
        _, dw1, db1, dw2, db2 = two_layer_backward(dout, cache)
{updates}
        losses.append(loss)
    return w1, b1, w2, b2, losses
"""

ALL_UPDATES = """        w1 = w1 - lr * dw1
        b1 = b1 - lr * db1
        w2 = w2 - lr * dw2
        b2 = b2 - lr * db2"""


def two_layer(dz1="dh * h * (1 - h)", updates=ALL_UPDATES):
    return {"two_layer": TWO_LAYER_TEMPLATE.format(dz1=dz1, updates=updates)}


CORRECT = {
    "instructor": {},
    "templates": {**neuron(), **two_layer()},
    "loops_and_a_generic_trainer": {
        "neuron": """
def neuron_forward(x, w, b):
    z = x.dot(w) + b[np.newaxis, :]
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500))), {"x": x, "w": w, "z": z}


def neuron_backward(da, cache):
    x, w, z = cache["x"], cache["w"], cache["z"]
    s = sigmoid(z)
    dx, dw, db = np.zeros(x.shape), np.zeros(w.shape), np.zeros(1)
    for i in range(x.shape[0]):
        dz = da[i, 0] * s[i, 0] * (1.0 - s[i, 0])
        dx[i] = dz * w[:, 0]
        dw[:, 0] += dz * x[i]
        db[0] += dz
    return dx, dw, db


def descend(forward, backward, params, x, y, lr, steps, trainable):
    params = [np.array(p, dtype=float) for p in params]
    losses = []
    for _ in range(steps):
        out, cache = forward(x, *params)
        loss, dout = mse_loss(out, y)
        grads = backward(dout, cache)[1:]
        for k in trainable:
            params[k] -= lr * grads[k]
        losses.append(loss)
    return params, losses


def train_neuron(x, y, w, b, lr, steps, use_bias=True):
    trainable = [0, 1] if use_bias else [0]
    (w, b), losses = descend(neuron_forward, neuron_backward, [w, b], x, y, lr, steps, trainable)
    return w, b, losses
""",
        "two_layer": """
def two_layer_forward(x, w1, b1, w2, b2):
    h = sigmoid(np.einsum("nd,dh->nh", x, w1) + b1)
    return sigmoid(np.einsum("nh,hk->nk", h, w2) + b2), [x, w1, b1, w2, b2, h]


def two_layer_backward(dout, cache):
    x, w1, b1, w2, b2, h = cache
    out = sigmoid(h @ w2 + b2)
    delta2 = dout * out * (1.0 - out)
    delta1 = (delta2 @ w2.T) * h * (1.0 - h)
    return delta1 @ w1.T, x.T @ delta1, np.sum(delta1, 0), h.T @ delta2, np.sum(delta2, 0)


def train_two_layer(x, y, w1, b1, w2, b2, lr, steps):
    params, losses = descend(
        two_layer_forward, two_layer_backward, [w1, b1, w2, b2], x, y, lr, steps, range(4)
    )
    return (*params, losses)
""",
    },
}

# variant name -> (answers, grade_id of the part that must fail, expected mistake code)
BUGGY = {
    "neuron_through_the_origin": (neuron(plus_b=""), "test_neuron", "no-bias"),
    "bias_gradient_not_summed": (neuron(db="dz"), "test_neuron", "bias-not-summed"),
    "sigmoid_derivative_missing": (
        neuron(dz="da"),
        "test_neuron",
        "activation-derivative-missing",
    ),
    "update_climbs_the_loss": (neuron(update="+="), "test_neuron", "update-sign"),
    "single_layer_for_xor": (
        {"two_layer": two_layer()["two_layer"].replace("out = sigmoid(h @ w2 + b2)", "out = h")},
        "test_xor",
        "single-neuron-for-xor",
    ),
    "hidden_derivative_missing": (two_layer(dz1="dh"), "test_xor", "hidden-derivative-missing"),
    "hidden_layer_frozen": (
        two_layer(updates="        w2 = w2 - lr * dw2\n        b2 = b2 - lr * db2"),
        "test_xor",
        "hidden-layer-not-updated",
    ),
}
