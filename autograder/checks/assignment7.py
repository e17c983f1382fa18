"""Hidden checks of assignment 7: update rules, learning-rate schedules, accumulation.

An update rule is probed as training uses it: several consecutive calls that pass the
returned config back in, then the state (velocity, cache, m, v, t) is read out of the
config. Hyperparameters are drawn per student; some cases give no config at all (the
defaults), one gives Adam a step counter that is already running. Expected values come
from ``numpy_backprop.optim``; the mistakes are replayed by the small rules
below with the bug switched on.
"""

from __future__ import annotations

import numpy as np
from numpy_backprop import optim as ref
from numpy_backprop.layers import dense_backward
from numpy_backprop.losses import mse_loss

from ..sandbox import Limits
from .base import AssignmentChecks, Case, Changed, Mistake, Part, convention, make_case

PAGE = "book/optimizers.html"


# The contract: a rule returns a new next_w and changes neither w nor dw in place.
RULE_INPUTS = (
    Changed(
        "*",
        "wrong",
        "An update rule returns a new array next_w and leaves w and dw as they were (the "
        "contract of this notebook): the caller may still hold w (to compare before and "
        "after, to roll back a step) and dw (for gradient clipping, logging or accumulation). "
        "Write next_w = w - ..., not w -= ....",
    ),
)


def _mistake(code, title, explanation, label, page=PAGE):
    return Mistake(code, title, explanation, f"{page}#{label}")


def _rule_steps(rule: str, n_steps: int, config_arg: dict, state: list[str]) -> list[dict]:
    """``w = rule(w, dw_j, config)`` for j < n_steps with one config, then read ``state``."""
    steps, w_arg, config = [], {"in": "w"}, config_arg
    for j in range(n_steps):
        name = "w" if j == n_steps - 1 else f"w{j + 1}"
        steps.append({"call": rule, "args": [w_arg, {"in": f"dw{j}"}, config], "save": [name, "c"]})
        w_arg, config = {"var": name}, {"var": "c"}
    steps.extend({"get": "c", "key": key, "save": key} for key in state)
    return steps


def _config_arg(hyper: dict | None) -> dict:
    if hyper is None:
        return {"lit": None}
    return {"dict": {key: {"lit": value} for key, value in hyper.items()}}


def _run_reference(rule, w, dws, hyper):
    config = None if hyper is None else dict(hyper)
    for dw in dws:
        w, config = rule(w, dw, config)
    return w, config


def _rule_case(part, index, label, rule, w, dws, hyper, state, variants) -> Case:
    """A case that runs ``rule`` over ``dws`` and compares w and the state entries."""
    next_w, config = _run_reference(ref.RULES[rule], w, dws, hyper)
    expected = {"w": next_w, **{key: np.asarray(config[key], dtype=float) for key in state}}
    inputs = {"w": w, **{f"dw{j}": dw for j, dw in enumerate(dws)}}
    steps = _rule_steps(rule, len(dws), _config_arg(hyper), state)
    full = {code: {**expected, **outputs} for code, outputs in variants.items()}
    return make_case(part, index, label, steps, ["w", *state], inputs, expected, full)


def _draw(rng, shape, n_steps, scale=1.0):
    return rng.normal(size=shape), [rng.normal(size=shape) * scale for _ in range(n_steps)]


# ------------------------------------------------------------------- SGD and momentum

MOMENTUM_SIGN = _mistake(
    "momentum-sign",
    "Momentum moves the parameter up the gradient",
    "With v = mu * v - lr * dw the velocity already points downhill, so the parameter "
    "moves by + v: next_w = w + v. Your update subtracts the velocity (or builds it with "
    "+ lr * dw and adds it), which climbs the loss.",
    "momentum",
)


def _momentum(w, dws, lr, mu, nesterov=False, sign_bug=False):
    """(next_w, velocity) after len(dws) steps of momentum or Nesterov from v = 0."""
    v = np.zeros_like(w)
    for dw in dws:
        v_prev = v
        v = mu * v - lr * dw
        if nesterov:
            w = w - mu * v_prev + (1.0 + mu) * v
        else:
            w = w - v if sign_bug else w + v
    return w, v


MOMENTUM_MISTAKES = (
    MOMENTUM_SIGN,
    _mistake(
        "sgd-missing-learning-rate",
        "The learning rate is missing from the update",
        "SGD steps by next_w = w - learning_rate * dw. Without the learning rate every step "
        "is a whole gradient long, typically 100 to 1000 times too far.",
        "sgd",
    ),
    _mistake(
        "momentum-is-nesterov",
        "The momentum rule takes Nesterov's look-ahead step",
        "sgd_momentum is the heavy-ball rule: v = mu * v - lr * dw, next_w = w + v. The "
        "look-ahead form w - mu * v_prev + (1 + mu) * v belongs to nesterov, the next part.",
        "momentum",
    ),
    _mistake(
        "hyperparameters-overwritten",
        "The caller's hyperparameters are overwritten by the defaults",
        "Defaults fill in only what the caller did not give: config.setdefault("
        "'learning_rate', 1e-2), not config['learning_rate'] = 1e-2 (or config.update of "
        "the defaults), which throws away the learning rate and momentum the caller chose.",
        "momentum",
    ),
)


def _momentum_variants(w, dws, lr, mu, given):
    bug_w, bug_v = _momentum(w, dws, lr, mu, sign_bug=True)
    ahead_w, ahead_v = _momentum(w, dws, lr, mu, nesterov=True)
    variants = {
        "momentum-sign": {"w": bug_w, "velocity": bug_v},
        "momentum-is-nesterov": {"w": ahead_w, "velocity": ahead_v},
    }
    if given:
        over_w, over_v = _momentum(w, dws, 1e-2, 0.9)
        variants["hyperparameters-overwritten"] = {"w": over_w, "velocity": over_v}
    return variants


def sgd_momentum_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    w, dws = _draw(rng, (4, 3), 3)
    lr = float(10 ** rng.uniform(-3, -1))
    hyper = {"learning_rate": lr}
    no_lr = {"sgd-missing-learning-rate": {"w": w - sum(dws)}}
    cases.append(_rule_case("sgd_momentum", 0, "three SGD steps", "sgd", w, dws, hyper, [], no_lr))
    w, dws = _draw(rng, (2, 3), 2)
    label = "SGD with the default learning rate (config None)"
    no_lr = {"sgd-missing-learning-rate": {"w": w - sum(dws), "learning_rate": np.float64(0.01)}}
    cases.append(
        _rule_case("sgd_momentum", 4, label, "sgd", w, dws, None, ["learning_rate"], no_lr)
    )
    shapes = [
        ("three momentum steps", (5, 4), 3, True),
        ("five steps on a parameter of shape (2, 3, 2)", (2, 3, 2), 5, True),
        ("the default hyperparameters (config None)", (3,), 3, False),
    ]
    for index, (label, shape, n_steps, given) in enumerate(shapes, start=1):
        w, dws = _draw(rng, shape, n_steps)
        lr, mu = float(10 ** rng.uniform(-2, -0.5)), float(rng.uniform(0.5, 0.95))
        hyper = {"learning_rate": lr, "momentum": mu} if given else None
        if not given:
            lr, mu = 1e-2, 0.9
        state = ["velocity"] if given else ["velocity", "learning_rate", "momentum"]
        variants = _momentum_variants(w, dws, lr, mu, given)
        cases.append(
            _rule_case("sgd_momentum", index, label, "sgd_momentum", w, dws, hyper, state, variants)
        )
    return cases


# --------------------------------------------------------------------------- Nesterov

NESTEROV_MISTAKES = (
    _mistake(
        "nesterov-without-lookahead",
        "Nesterov's update is plain momentum",
        "Your parameters follow w + v, the heavy-ball update. Nesterov takes the gradient at "
        "the look-ahead point; in terms of the stored parameters this gives next_w = w - mu "
        "* v_prev + (1 + mu) * v, where v_prev is the velocity before this step's update.",
        "nesterov",
    ),
)


def nesterov_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    shapes = [
        ("three steps", (4, 3), 3, True),
        ("six steps with strong momentum", (6,), 6, True),
        ("the default hyperparameters (config None)", (2, 2), 3, False),
    ]
    for index, (label, shape, n_steps, given) in enumerate(shapes):
        w, dws = _draw(rng, shape, n_steps)
        lr = float(10 ** rng.uniform(-2, -0.5))
        mu = float(rng.uniform(0.85, 0.99) if n_steps > 3 else rng.uniform(0.5, 0.95))
        hyper = {"learning_rate": lr, "momentum": mu} if given else None
        if not given:
            lr, mu = 1e-2, 0.9
        plain_w, v = _momentum(w, dws, lr, mu)
        variants = {"nesterov-without-lookahead": {"w": plain_w, "velocity": v}}
        cases.append(
            _rule_case("nesterov", index, label, "nesterov", w, dws, hyper, ["velocity"], variants)
        )
    return cases


# ------------------------------------------------------------------ AdaGrad, RMSProp

EPSILON_INSIDE = convention(
    _mistake(
        "epsilon-inside-sqrt",
        "Epsilon is inside the square root",
        "Epsilon inside the root is the convention of some libraries (Caffe2's and "
        "MindSpore's RMSProp; Chainer's eps_inside_sqrt option); this course, like PyTorch, "
        "divides by sqrt(cache) + eps, so "
        "that epsilon only guards the division. Inside the root it acts as sqrt(eps) (1e-4 "
        "for eps = 1e-8), which shrinks every step whose gradients are small.",
        "epsilon-placement",
    )
)


ADAPTIVE_MISTAKES = (
    EPSILON_INSIDE,
    _mistake(
        "rmsprop-no-sqrt",
        "The step is divided by the cache, not by its square root",
        "The cache is a running mean of dw**2; its square root has the units of the "
        "gradient: next_w = w - lr * dw / (sqrt(cache) + eps). Dividing by the cache itself "
        "makes the step depend on 1 / |dw| and explode for small gradients.",
        "rmsprop",
    ),
)


def _adaptive(w, dws, lr, eps, rho=None, inside=False, sqrt=True):
    """(next_w, cache) of AdaGrad (rho None) or RMSProp, epsilon inside the root or not."""
    cache = np.zeros_like(w)
    for dw in dws:
        cache = cache + dw * dw if rho is None else rho * cache + (1.0 - rho) * dw * dw
        root = np.sqrt(cache + eps) if inside else np.sqrt(cache) + eps
        root = root if sqrt else cache + eps
        w = w - lr * dw / root
    return w, cache


def adagrad_rmsprop_cases(rng: np.random.Generator) -> list[Case]:
    plan = [
        ("AdaGrad, three steps", "adagrad", (4, 3), 1.0, True),
        ("AdaGrad with tiny gradients (about 1e-5)", "adagrad", (5,), 1e-5, True),
        ("AdaGrad with the default hyperparameters (config None)", "adagrad", (2, 2), 1.0, False),
        ("RMSProp, four steps", "rmsprop", (3, 3), 1.0, True),
        ("RMSProp with tiny gradients (about 1e-5)", "rmsprop", (2, 4), 1e-5, True),
        ("RMSProp with the default hyperparameters (config None)", "rmsprop", (3,), 1.0, False),
    ]
    cases = []
    for index, (label, rule, shape, scale, given) in enumerate(plan):
        w, dws = _draw(rng, shape, 4 if rule == "rmsprop" else 3, scale)
        lr, eps = float(10 ** rng.uniform(-3, -1)), 1e-8
        rho = float(rng.uniform(0.9, 0.999)) if rule == "rmsprop" else None
        hyper = {"learning_rate": lr}
        if rho is not None:
            hyper["decay_rate"] = rho
        state = ["cache"]
        if not given:
            hyper, lr, rho = None, 1e-2, (0.99 if rule == "rmsprop" else None)
            state = ["cache", "learning_rate", "epsilon"]
            state += ["decay_rate"] if rule == "rmsprop" else []
        bug_w, cache = _adaptive(w, dws, lr, eps, rho, inside=True)
        variants = {"epsilon-inside-sqrt": {"w": bug_w, "cache": cache}}
        if rho is not None:
            flat_w, _ = _adaptive(w, dws, lr, eps, rho, sqrt=False)
            variants["rmsprop-no-sqrt"] = {"w": flat_w, "cache": cache}
        cases.append(
            _rule_case("adagrad_rmsprop", index, label, rule, w, dws, hyper, state, variants)
        )
    return cases


# -------------------------------------------------------------------------------- Adam

ADAM_MISTAKES = (
    _mistake(
        "adam-no-bias-correction",
        "Adam's moments are not bias-corrected",
        "m and v start at zero, so for the first steps they underestimate the moments. "
        "Divide them by (1 - beta1**t) and (1 - beta2**t) before the step: m_hat = m / (1 - "
        "beta1**t), v_hat = v / (1 - beta2**t).",
        "adam-bias-correction",
    ),
    _mistake(
        "adam-step-off-by-one",
        "Adam's step counter is increased after the bias correction",
        "t counts the steps taken including the current one: increase config['t'] BEFORE "
        "computing 1 - beta**t. Done afterwards, the first step divides by 1 - beta**0 = 0 "
        "(NaN or infinite values), and every later step uses the previous step's t.",
        "adam-bias-correction",
    ),
    EPSILON_INSIDE,
    _mistake(
        "adam-counter-starts-at-one",
        "Adam's step counter starts at 1",
        "A fresh config has t = 0 and the first step increases it to 1, so the first bias "
        "correction divides by 1 - beta**1. Starting t at 1 (CS231n's 2017 starter code did) "
        "makes the first step use t = 2 and every correction too small an amount.",
        "adam-bias-correction",
    ),
    _mistake(
        "adam-counter-not-stored",
        "Adam's step counter is never stored back in config",
        "t must count the steps across calls: increase config['t'] itself (config['t'] += "
        "1). A local t = config['t'] + 1 that is never written back makes every call the "
        "first step, so the bias correction never fades.",
        "adam-bias-correction",
    ),
)


def _adam(w, dws, lr, b1, b2, eps, t0=0, correct=True, off_by_one=False, inside=False, stored=True):
    """(next_w, m, v, t) of Adam from m = v = 0 and counter t0, with the bugs as switches."""
    m, v, t = np.zeros_like(w), np.zeros_like(w), t0
    with np.errstate(divide="ignore", invalid="ignore"):
        for dw in dws:
            used = t if off_by_one else t + 1
            t += 1 if stored else 0
            m = b1 * m + (1.0 - b1) * dw
            v = b2 * v + (1.0 - b2) * dw * dw
            m_hat = m / (1.0 - b1**used) if correct else m
            v_hat = v / (1.0 - b2**used) if correct else v
            root = np.sqrt(v_hat + eps) if inside else np.sqrt(v_hat) + eps
            w = w - lr * m_hat / root
    return w, m, v, t


def adam_cases(rng: np.random.Generator) -> list[Case]:
    plan = [
        # label, shape, steps, gradient scale, hyperparameters given, starting t
        ("three steps from a fresh config", (4, 3), 3, 1.0, True, None),
        ("a config whose step counter is already 5", (5,), 2, 1.0, True, 5),
        ("tiny gradients (about 1e-5)", (3, 2), 4, 1e-5, True, None),
        ("the default hyperparameters (config None)", (2, 3), 3, 1.0, False, None),
    ]
    cases = []
    for index, (label, shape, n_steps, scale, given, t0) in enumerate(plan):
        w, dws = _draw(rng, shape, n_steps, scale)
        lr, eps = float(10 ** rng.uniform(-3, -1)), 1e-8
        b1, b2 = float(rng.uniform(0.8, 0.95)), float(rng.uniform(0.99, 0.9999))
        hyper = {"learning_rate": lr, "beta1": b1, "beta2": b2}
        if t0 is not None:
            hyper["t"] = t0
        state = ["m", "v", "t"]
        if not given:
            hyper, lr, b1, b2 = None, 1e-3, 0.9, 0.999
            state = ["m", "v", "t", "learning_rate", "beta1", "beta2", "epsilon"]
        start = t0 or 0

        variants = {}
        for code, switches in [
            ("adam-no-bias-correction", {"correct": False}),
            ("adam-step-off-by-one", {"off_by_one": True}),
            ("epsilon-inside-sqrt", {"inside": True}),
            ("adam-counter-not-stored", {"stored": False}),
            ("adam-counter-starts-at-one", {"t0": 1} if t0 is None else None),
        ]:
            if switches is None:  # the counter is given: where it starts does not matter
                continue
            w_, m_, v_, t_ = _adam(w, dws, lr, b1, b2, eps, **{"t0": start, **switches})
            variants[code] = {"w": w_, "m": m_, "v": v_, "t": np.float64(t_)}
        cases.append(_rule_case("adam", index, label, "adam", w, dws, hyper, state, variants))
    return cases


# --------------------------------------------------------------------------- schedules

SCHEDULE_MISTAKES = (
    _mistake(
        "lr-schedule-wrong-formula",
        "A schedule follows another formula",
        "The course's schedules: step decay lr0 * drop ** (epoch // every) (an integer "
        "number of drops, so the rate is constant between drops); exponential decay "
        "lr0 * exp(-k t); 1/t decay lr0 / (1 + k t). Yours returned the values of a "
        "different formula (for instance no floor in the step decay, k ** t instead of "
        "exp(-k t), or lr0 / (k t) without the 1).",
        "lr-schedules",
    ),
)


SCHEDULES = {
    "step_decay": (ref.step_decay, lambda lr, e, drop=0.5, every=10: lr * drop ** (e / every)),
    "exponential_decay": (ref.exponential_decay, lambda lr, t, k=0.1: lr * k**t),
    "inverse_time_decay": (
        ref.inverse_time_decay,
        lambda lr, t, k=1.0: np.float64(lr) / np.float64(k * t) if t else np.inf,
    ),
}


def _schedule_case(index, label, calls) -> Case:
    """``calls``: (schedule name, argument list) pairs, all made by one probe."""
    steps = [
        {"call": name, "args": [{"lit": a} for a in args], "save": [f"lr{j}"]}
        for j, (name, args) in enumerate(calls)
    ]
    names = [f"lr{j}" for j in range(len(calls))]
    expected, wrong = {}, {}
    for out, (name, args) in zip(names, calls, strict=True):
        right_fn, wrong_fn = SCHEDULES[name]
        expected[out], wrong[out] = np.float64(right_fn(*args)), np.float64(wrong_fn(*args))
    variants = {"lr-schedule-wrong-formula": wrong}
    return make_case("schedules", index, label, steps, names, {}, expected, variants)


def schedule_cases(rng: np.random.Generator) -> list[Case]:
    lr0 = float(10 ** rng.uniform(-3, -0.5))
    drop, every = float(rng.uniform(0.2, 0.8)), int(rng.integers(3, 8))
    epochs = sorted({0, every - 1, every, 2 * every + 1, int(rng.integers(4 * every, 6 * every))})
    k_exp, k_inv = float(rng.uniform(0.05, 0.5)), float(rng.uniform(0.2, 3.0))
    times = [1, 2, int(rng.integers(5, 15)), int(rng.integers(20, 60))]
    return [
        _schedule_case(
            0,
            "step decay around the drops",
            [("step_decay", [lr0, e, drop, every]) for e in epochs],
        ),
        _schedule_case(
            1,
            "step decay with its default drop and interval",
            [("step_decay", [lr0, e]) for e in (0, 9, 10, 35)],
        ),
        _schedule_case(
            2, "exponential decay", [("exponential_decay", [lr0, t, k_exp]) for t in [0, *times]]
        ),
        _schedule_case(3, "1/t decay", [("inverse_time_decay", [lr0, t, k_inv]) for t in times]),
        _schedule_case(
            4,
            "t = 0 and the default k",
            [
                ("inverse_time_decay", [lr0, 0]),
                ("inverse_time_decay", [lr0, 4]),
                ("exponential_decay", [lr0, 0]),
                ("exponential_decay", [lr0, 7]),
            ],
        ),
    ]


# ------------------------------------------------------------------------ accumulation

ACCUMULATION_PAGE = "book/backprop-dense.html"

ACCUMULATION_MISTAKES = (
    _mistake(
        "gradients-not-zeroed",
        "The gradients are not reset before backward",
        "backward ADDS to W.grad and b.grad. Without model.zero_grad() first, a step uses "
        "the sum of its own gradient and of every earlier one, so the second step already "
        "moves by the wrong amount.",
        "zero-grad-in-training",
    ),
    _mistake(
        "zero-grad-inside-accumulation-loop",
        "The gradients are reset inside the micro-batch loop",
        "Only the last micro-batch's gradient survives. Reset once before the loop, then let "
        "backward add the gradient of every micro-batch.",
        "gradient-accumulation",
        ACCUMULATION_PAGE,
    ),
    _mistake(
        "micro-batch-loss-not-scaled",
        "The micro-batch losses are not scaled by their share of the batch",
        "Each micro-batch loss is a mean over n_j examples; the batch loss is the sum of "
        "those means weighted by n_j / N. Without the weights the accumulated gradient is "
        "about `parts` times too large (and not exactly proportional when the sizes differ).",
        "gradient-accumulation",
        ACCUMULATION_PAGE,
    ),
)


def _linear_grads(W, b, x, y, scale=1.0):
    """(loss, dW, db) of mse_loss(x @ W + b, y), loss and gradients multiplied by scale."""
    loss, dpred = mse_loss(x @ W + b, y)
    _, dW, db = dense_backward(dpred * scale, (x, W))
    return scale * loss, dW, db


def _accumulate(W, b, x, y, parts, mode="correct"):
    """(loss, dW, db) accumulated over micro-batches; mode names a bug or "correct"."""
    total, dW, db = 0.0, np.zeros_like(W), np.zeros_like(b)
    n = x.shape[0]
    for rows in np.array_split(np.arange(n), parts):
        share = 1.0 if mode == "unscaled" else len(rows) / n
        loss, gW, gb = _linear_grads(W, b, x[rows], y[rows], share)
        if mode == "zero-inside":
            dW, db = np.zeros_like(W), np.zeros_like(b)
        total, dW, db = total + loss, dW + gW, db + gb
    return total, dW, db


def _state(W, dW, b, db):
    return {"W": W, "dW": dW, "b": b, "db": db}


SNAPSHOT = {"call": "snapshot", "args": [{"var": "model"}], "save": ["W", "dW", "b", "db"]}
MAKE_MODEL = {"call": "Linear", "args": [{"in": "W0"}, {"in": "b0"}], "save": ["model"]}


def accumulation_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    d, m = int(rng.integers(2, 5)), int(rng.integers(1, 4))
    W0, b0 = rng.normal(size=(d, m)), rng.normal(size=m)
    lr = float(rng.uniform(0.05, 0.3))

    # Two consecutive training steps.
    x1, y1, x2, y2 = (rng.normal(size=(s, c)) for s, c in [(5, d), (5, m), (4, d), (4, m)])
    loss1, g1W, g1b = _linear_grads(W0, b0, x1, y1)
    W1, b1 = W0 - lr * g1W, b0 - lr * g1b
    loss2, g2W, g2b = _linear_grads(W1, b1, x2, y2)
    expected = {"loss1": loss1, "loss2": loss2, **_state(W1 - lr * g2W, g2W, b1 - lr * g2b, g2b)}
    summed_W, summed_b = g1W + g2W, g1b + g2b
    stale = {
        "loss1": loss1,
        "loss2": loss2,
        **_state(W1 - lr * summed_W, summed_W, b1 - lr * summed_b, summed_b),
    }
    steps = [
        MAKE_MODEL,
        {"call": "train_step", "args": [{"var": "model"}, {"in": "x1"}, {"in": "y1"}, {"lit": lr}]},
        {"call": "train_step", "args": [{"var": "model"}, {"in": "x2"}, {"in": "y2"}, {"lit": lr}]},
        SNAPSHOT,
    ]
    steps[1]["save"], steps[2]["save"] = ["loss1"], ["loss2"]
    inputs = {"W0": W0, "b0": b0, "x1": x1, "y1": y1, "x2": x2, "y2": y2}
    cases.append(
        make_case(
            "accumulation",
            0,
            "two training steps on different batches",
            steps,
            list(expected),
            inputs,
            expected,
            {"gradients-not-zeroed": stale},
        )
    )

    # Accumulation over micro-batches, from a fresh model and after a training step.
    plan = [
        ("7 examples in 3 micro-batches of unequal size", 7, 3, False),
        ("micro-batches right after a training step (stale gradients)", 6, 2, True),
        ("a single example in a single micro-batch", 1, 1, False),
    ]
    for index, (label, n, parts, after_step) in enumerate(plan, start=1):
        x, y = rng.normal(size=(n, d)), rng.normal(size=(n, m))
        steps = [MAKE_MODEL]
        inputs = {"W0": W0, "b0": b0, "x": x, "y": y}
        W, b = W0, b0
        before_W, before_b = np.zeros_like(W0), np.zeros_like(b0)
        if after_step:
            x0, y0 = rng.normal(size=(3, d)), rng.normal(size=(3, m))
            _, before_W, before_b = _linear_grads(W0, b0, x0, y0)
            W, b = W0 - lr * before_W, b0 - lr * before_b
            step = {"call": "train_step", "args": [{"var": "model"}, {"in": "x0"}, {"in": "y0"}]}
            step["args"].append({"lit": lr})
            step["save"] = ["loss0"]
            steps.append(step)
            inputs.update(x0=x0, y0=y0)
        steps.append(
            {
                "call": "accumulate_gradients",
                "args": [{"var": "model"}, {"in": "x"}, {"in": "y"}, {"lit": parts}],
                "save": ["loss"],
            }
        )
        steps.append(SNAPSHOT)
        loss, dW, db = _accumulate(W, b, x, y, parts)
        expected = {"loss": np.float64(loss), **_state(W, dW, b, db)}
        variants = {}
        if after_step:
            variants["gradients-not-zeroed"] = {
                "loss": np.float64(loss),
                **_state(W, dW + before_W, b, db + before_b),
            }
        for mode, code in [
            ("zero-inside", "zero-grad-inside-accumulation-loop"),
            ("unscaled", "micro-batch-loss-not-scaled"),
        ]:
            bug_loss, bug_W, bug_b = _accumulate(W, b, x, y, parts, mode)
            if not np.allclose(bug_W, dW):
                variants[code] = {"loss": np.float64(bug_loss), **_state(W, bug_W, b, bug_b)}
        names = ["loss", "W", "dW", "b", "db"]
        cases.append(
            make_case("accumulation", index, label, steps, names, inputs, expected, variants)
        )
    return cases


CHECKS = AssignmentChecks(
    name="assignment7",
    notebook="assignment7",
    limits=Limits(probe_seconds=5.0, cell_seconds=10.0, total_seconds=90.0),
    parts=(
        Part(
            "test_sgd_momentum",
            "SGD and momentum",
            ("sgd", "sgd_momentum"),
            f"{PAGE}#momentum",
            MOMENTUM_MISTAKES,
            sgd_momentum_cases,
            scalars=frozenset({"learning_rate", "momentum"}),
            changes=RULE_INPUTS,
        ),
        Part(
            "test_nesterov",
            "Nesterov momentum",
            ("nesterov",),
            f"{PAGE}#nesterov",
            NESTEROV_MISTAKES,
            nesterov_cases,
            changes=RULE_INPUTS,
        ),
        Part(
            "test_adagrad_rmsprop",
            "AdaGrad and RMSProp",
            ("adagrad", "rmsprop"),
            f"{PAGE}#rmsprop",
            ADAPTIVE_MISTAKES,
            adagrad_rmsprop_cases,
            scalars=frozenset({"learning_rate", "decay_rate", "epsilon"}),
            changes=RULE_INPUTS,
        ),
        Part(
            "test_adam",
            "Adam",
            ("adam",),
            f"{PAGE}#adam",
            ADAM_MISTAKES,
            adam_cases,
            scalars=frozenset({"t", "learning_rate", "beta1", "beta2", "epsilon"}),
            nonfinite_mistake="adam-step-off-by-one",
            loose=frozenset({"t"}),  # a mistake is named on w, m, v whatever t does
            changes=RULE_INPUTS,
        ),
        Part(
            "test_schedules",
            "Learning-rate schedules",
            ("step_decay", "exponential_decay", "inverse_time_decay"),
            f"{PAGE}#lr-schedules",
            SCHEDULE_MISTAKES,
            schedule_cases,
            scalars=frozenset({f"lr{j}" for j in range(8)}),
        ),
        Part(
            "test_accumulation",
            "Gradients that accumulate: zero_grad and micro-batches",
            ("train_step", "accumulate_gradients"),
            f"{ACCUMULATION_PAGE}#gradient-accumulation",
            ACCUMULATION_MISTAKES,
            accumulation_cases,
            scalars=frozenset({"loss", "loss1", "loss2"}),
        ),
    ),
)
