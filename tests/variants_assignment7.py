"""Student answers for assignment 7: correct ones written differently, and one buggy
variant per catalogued mistake. Each maps answer-cell grade_id -> source."""

MOMENTUM_TEMPLATE = """
def sgd(w, dw, config=None):
    config = config if config is not None else {{}}
    config.setdefault("learning_rate", 1e-2)
    return {sgd_update}, config


def sgd_momentum(w, dw, config=None):
    config = config if config is not None else {{}}
    {defaults}
    if config.get("velocity") is None:
        config["velocity"] = np.zeros(w.shape)
    v = config["momentum"] * config["velocity"] - config["learning_rate"] * dw
    config["velocity"] = v
    return {update}, config
"""


def momentum(
    update="w + v",
    sgd_update='w - config["learning_rate"] * dw',
    defaults='config.setdefault("learning_rate", 1e-2)\n    config.setdefault("momentum", 0.9)',
):
    source = MOMENTUM_TEMPLATE.format(update=update, sgd_update=sgd_update, defaults=defaults)
    return {"sgd_momentum": source}


NESTEROV_TEMPLATE = """
def nesterov(w, dw, config=None):
    config = {{}} if config is None else config
    lr = config.setdefault("learning_rate", 1e-2)
    mu = config.setdefault("momentum", 0.9)
    v_prev = config.get("velocity", None)
    if v_prev is None:
        v_prev = np.zeros_like(w, dtype=float)
    v = mu * v_prev - lr * dw
    config["velocity"] = v
    return {update}, config
"""


def nesterov(update="w - mu * v_prev + (1 + mu) * v"):
    return {"nesterov": NESTEROV_TEMPLATE.format(update=update)}


ADAPTIVE_TEMPLATE = """
def _scaled_step(dw, cache, config):
    return config["learning_rate"] * dw / {root}


def adagrad(w, dw, config=None):
    config = {{}} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    cache = config.get("cache")
    cache = dw * dw if cache is None else cache + dw * dw
    config["cache"] = cache
    return w - _scaled_step(dw, cache, config), config


def rmsprop(w, dw, config=None):
    config = {{}} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    rho = config["decay_rate"]
    cache = config.get("cache")
    cache = (1 - rho) * dw**2 if cache is None else rho * cache + (1 - rho) * dw**2
    config["cache"] = cache
    return w - _scaled_step(dw, cache, config), config
"""


def adaptive(root='(np.sqrt(cache) + config["epsilon"])'):
    return {"adagrad_rmsprop": ADAPTIVE_TEMPLATE.format(root=root)}


def rmsprop_without_root():
    """RMSProp dividing by cache + eps (AdaGrad left right)."""
    source = adaptive()["adagrad_rmsprop"]
    head, tail = source.split("def rmsprop")
    wrong = 'config["learning_rate"] * dw / (cache + config["epsilon"])'
    return {
        "adagrad_rmsprop": head
        + "def rmsprop"
        + tail.replace("_scaled_step(dw, cache, config)", wrong)
    }


ADAM_TEMPLATE = """
def adam(w, dw, config=None):
    config = {{}} if config is None else config
    for key, value in [("learning_rate", 1e-3), ("beta1", 0.9), ("beta2", 0.999),
                       ("epsilon", 1e-8), ("t", 0)]:
        config.setdefault(key, value)
    b1, b2, eps = config["beta1"], config["beta2"], config["epsilon"]
    m = config.get("m", np.zeros_like(w))
    v = config.get("v", np.zeros_like(w))
    {before}
    m = b1 * m + (1 - b1) * dw
    v = b2 * v + (1 - b2) * dw * dw
    t = config["t"]
    m_hat = {m_hat}
    v_hat = {v_hat}
    {after}
    config["m"], config["v"] = m, v
    return w - config["learning_rate"] * m_hat / {root}, config
"""


def adam(
    before='config["t"] += 1',
    after="pass",
    m_hat="m / (1 - b1 ** t)",
    v_hat="v / (1 - b2 ** t)",
    root="(np.sqrt(v_hat) + eps)",
):
    source = ADAM_TEMPLATE.format(before=before, after=after, m_hat=m_hat, v_hat=v_hat, root=root)
    return {"adam": source}


SCHEDULES_TEMPLATE = """
import math


def step_decay(lr0, epoch, drop=0.5, every=10):
    return lr0 * drop ** {exponent}


def exponential_decay(lr0, t, k=0.1):
    return lr0 * math.exp(-k * t)


def inverse_time_decay(lr0, t, k=1.0):
    return lr0 / (1 + k * t)
"""


def schedules(exponent="math.floor(epoch / every)"):
    return {"schedules": SCHEDULES_TEMPLATE.format(exponent=exponent)}


ACCUMULATION_TEMPLATE = """
def train_step(model, x, y, learning_rate):
    {reset}
    pred = model.forward(x)
    loss, dpred = mse_loss(pred, y)
    model.backward(dpred)
    for p in model.parameters():
        p.value = p.value - learning_rate * p.grad
    return loss


def accumulate_gradients(model, x, y, parts):
    n = len(x)
    for p in model.parameters():
        p.zero_grad()
    total = 0.0
    for rows in np.array_split(np.arange(n), parts):
        {reset_inside}
        weight = {weight}
        loss, dpred = mse_loss(model.forward(x[rows]), y[rows])
        model.backward(weight * dpred)
        total += weight * loss
    return total
"""


def accumulation(reset="model.zero_grad()", reset_inside="pass", weight="len(rows) / n"):
    source = ACCUMULATION_TEMPLATE.format(reset=reset, reset_inside=reset_inside, weight=weight)
    return {"accumulation": source}


CORRECT = {
    "instructor": {},
    "other_style": {
        **momentum(),
        **nesterov(),
        **adaptive(),
        **adam(),
        **schedules(),
        **accumulation(),
    },
    "other_algebra": {
        "sgd_momentum": """
def sgd(w, dw, config=None):
    if config is None:
        config = {"learning_rate": 1e-2}
    step = config.get("learning_rate", 1e-2)
    config["learning_rate"] = step
    return np.subtract(w, step * dw), config


def sgd_momentum(w, dw, config=None):
    config = dict() if config is None else config
    config.setdefault("momentum", 0.9)
    config.setdefault("learning_rate", 0.01)
    velocity = config.get("velocity")
    velocity = np.zeros_like(w, dtype=float) if velocity is None else velocity.copy()
    velocity *= config["momentum"]
    velocity -= config["learning_rate"] * dw
    config["velocity"] = velocity
    return w.copy() + velocity, config
""",
        "nesterov": """
def nesterov(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    mu, lr = config["momentum"], config["learning_rate"]
    v = config.get("velocity")
    v = np.zeros(np.shape(w)) if v is None else v
    v_new = mu * v - lr * dw
    config["velocity"] = v_new
    # w - mu v + (1 + mu) v_new = w + v_new + mu (v_new - v)
    return w + v_new + mu * (v_new - v), config
""",
        "adam": """
def adam(w, dw, config=None):
    config = {} if config is None else config
    lr = config.setdefault("learning_rate", 1e-3)
    b1 = config.setdefault("beta1", 0.9)
    b2 = config.setdefault("beta2", 0.999)
    eps = config.setdefault("epsilon", 1e-8)
    t = config.setdefault("t", 0) + 1
    m = b1 * config.get("m", 0.0) + (1 - b1) * dw
    v = b2 * config.get("v", 0.0) + (1 - b2) * np.square(dw)
    config.update(t=t, m=m, v=v)
    return w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps), config
""",
        "schedules": """
def step_decay(lr0, epoch, drop=0.5, every=10):
    lr = lr0
    for _ in range(int(epoch) // int(every)):
        lr *= drop
    return lr


def exponential_decay(lr0, t, k=0.1):
    return np.float64(lr0) * np.exp(-k * t)


def inverse_time_decay(lr0, t, k=1.0):
    return np.float64(lr0 / (1.0 + k * t))
""",
        "accumulation": """
def train_step(model, x, y, learning_rate):
    for p in model.parameters():
        p.grad = np.zeros_like(p.value)
    loss, dpred = mse_loss(model.forward(x), y)
    model.backward(dpred)
    for p in model.parameters():
        p.value -= learning_rate * p.grad
    return float(loss)


def accumulate_gradients(model, x, y, parts):
    model.zero_grad()
    chunks = np.array_split(np.arange(x.shape[0]), parts)
    losses = []
    for rows in chunks:
        loss, dpred = mse_loss(model.forward(x[rows]), y[rows])
        model.backward(dpred * rows.size / x.shape[0])
        losses.append(loss * rows.size)
    return sum(losses) / x.shape[0]
""",
    },
}

# variant name -> (answers, grade_id of the part that must fail, expected mistake code)
BUGGY = {
    "momentum_subtracts_the_velocity": (
        momentum(update="w - v"),
        "test_sgd_momentum",
        "momentum-sign",
    ),
    "sgd_without_the_learning_rate": (
        momentum(sgd_update="w - dw"),
        "test_sgd_momentum",
        "sgd-missing-learning-rate",
    ),
    "momentum_with_the_nesterov_step": (
        {
            "sgd_momentum": MOMENTUM_TEMPLATE.format(
                update="w + v",
                sgd_update='w - config["learning_rate"] * dw',
                defaults='config.setdefault("learning_rate", 1e-2)\n'
                '    config.setdefault("momentum", 0.9)',
            )
            .replace(
                '    v = config["momentum"] * config["velocity"]',
                '    v_prev = config["velocity"]\n    v = config["momentum"] * config["velocity"]',
            )
            .replace(
                "return w + v, config",
                'return w - config["momentum"] * v_prev + (1 + config["momentum"]) * v, config',
            )
        },
        "test_sgd_momentum",
        "momentum-is-nesterov",
    ),
    "momentum_defaults_overwrite_the_config": (
        momentum(defaults="config.update(learning_rate=1e-2, momentum=0.9)"),
        "test_sgd_momentum",
        "hyperparameters-overwritten",
    ),
    "rmsprop_without_the_square_root": (
        rmsprop_without_root(),
        "test_adagrad_rmsprop",
        "rmsprop-no-sqrt",
    ),
    "adam_counter_starting_at_one": (
        {"adam": adam()["adam"].replace('("t", 0)', '("t", 1)')},
        "test_adam",
        "adam-counter-starts-at-one",
    ),
    "adam_counter_never_stored": (
        adam(before="pass", m_hat="m / (1 - b1 ** (t + 1))", v_hat="v / (1 - b2 ** (t + 1))"),
        "test_adam",
        "adam-counter-not-stored",
    ),
    "adam_without_correction_counter_unused": (
        adam(before="pass", m_hat="m", v_hat="v"),
        "test_adam",
        "adam-no-bias-correction",
    ),
    "nesterov_is_plain_momentum": (
        nesterov(update="w + v"),
        "test_nesterov",
        "nesterov-without-lookahead",
    ),
    "adagrad_rmsprop_epsilon_inside": (
        adaptive(root='np.sqrt(cache + config["epsilon"])'),
        "test_adagrad_rmsprop",
        "epsilon-inside-sqrt",
    ),
    "adam_without_bias_correction": (
        adam(m_hat="m", v_hat="v"),
        "test_adam",
        "adam-no-bias-correction",
    ),
    "adam_counter_increased_after_correction": (
        adam(before="pass", after='config["t"] += 1'),
        "test_adam",
        "adam-step-off-by-one",
    ),
    "adam_epsilon_inside": (
        adam(root="np.sqrt(v_hat + eps)"),
        "test_adam",
        "epsilon-inside-sqrt",
    ),
    "step_decay_not_floored": (
        schedules(exponent="(epoch / every)"),
        "test_schedules",
        "lr-schedule-wrong-formula",
    ),
    "train_step_never_zeroes": (
        accumulation(reset="pass"),
        "test_accumulation",
        "gradients-not-zeroed",
    ),
    "zero_grad_inside_the_micro_batch_loop": (
        accumulation(reset_inside="model.zero_grad()"),
        "test_accumulation",
        "zero-grad-inside-accumulation-loop",
    ),
    "micro_batch_losses_not_scaled": (
        accumulation(weight="1.0"),
        "test_accumulation",
        "micro-batch-loss-not-scaled",
    ),
}

# Inputs changed in place: the contract asks for a new next_w.
CHANGED = {
    "sgd_updates_w_in_place": (
        momentum(sgd_update='w.__isub__(config["learning_rate"] * dw)'),
        "test_sgd_momentum",
        "changed:w",
    ),
}
