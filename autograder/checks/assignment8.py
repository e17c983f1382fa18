"""Hidden checks of assignment 8: a log-uniform sampler, an MLP's loss and gradients,
and a random search judged against scikit-learn SVMs fitted at grading time.

Two parts cannot be judged by equality with a reference output:

* the sampler may use its generator in any valid way, so its samples are judged by a
  statistical test (Kolmogorov-Smirnov distance of their log10 from the uniform law),
  which also recognises samples drawn on a linear scale or laid out on a grid;
* the search trains a network, so its test predictions are judged by their accuracy
  against two baselines that the PARENT fits on the same split when the cases are made
  (a linear and an RBF ``SVC``, scikit-learn's defaults; cached per split and process).

Those parts are ``ScoredPart``s: they judge their own cases (``judge_case``), and
``judge.judge_part`` must call that method instead of comparing arrays (one dispatch:
``own = getattr(part, "judge_case", None)``). Without it these parts fall back to
equality with ``expected`` (the reference sampler's exact draw, the true test labels),
which a correct search cannot pass. The cases carry those reference arrays and the
mistakes' ``variants`` all the same, for the catalogue tests that compare them.

Partial credit on the search: two cases judged from ONE training run (the second case's
probe does nothing): "at least the linear SVM's accuracy or within 2 points of the RBF
SVM's" and "within 2 points of the RBF SVM's", so the part earns all its points within 2
points of the RBF SVM and half of them for matching the linear SVM.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numpy_backprop.layers import dense_backward, dense_forward, relu_backward, relu_forward
from numpy_backprop.losses import l2_penalty, softmax_cross_entropy
from numpy_backprop.search import log_uniform

from ..sandbox import Limits, Outcome
from .base import AssignmentChecks, Case, Mistake, Part, make_case

SEARCH_PAGE = "book/hyperparameter-search.html"
SVM_PAGE = "book/networks-vs-svms.html"

# Grading policy of the search (fractions of accuracy).
RBF_MARGIN = 0.02  # full credit at or above the RBF SVM's accuracy minus this
FLAT_LOSS = 0.01  # a loss history whose relative change is below this did not move
SPLIT = (1000, 300)  # training and validation images; the rest of the 1797 are the test set
SAMPLES = 20_000  # samples per sampler case
KS_FACTOR = 2.5  # KS distance allowed: KS_FACTOR / sqrt(n), P(false alarm) about 4e-6


def _mistake(code, title, explanation, page, label):
    return Mistake(code, title, explanation, f"{page}#{label}")


@dataclass
class ScoredCase(Case):
    """A case judged by a rule; ``facts`` holds what the rule needs (never sent)."""

    facts: dict = field(default_factory=dict)


def _case(part, index, label, steps, send, inputs, expected, variants, facts=None) -> Case:
    """base.make_case, as a ScoredCase when the case carries ``facts`` for its rule."""
    case = make_case(part, index, label, steps, send, inputs, expected, variants)
    if facts is None:
        return case
    return ScoredCase(case.label, case.probe, case.inputs, case.expected, case.variants, facts)


def _case_result(label, problems, mistake=None):
    from ..judge import CaseResult  # the judge imports this package: import it late

    return CaseResult(label, not problems, list(problems), mistake if problems else None)


def _returned(case: Case, outcome: Outcome, names, probe_id=None):
    """(arrays by name, problem or None) for the values a probe sent back."""
    pid = probe_id or case.probe.id
    if pid in outcome.probe_errors:
        return {}, outcome.probe_errors[pid]
    values = outcome.values.get(pid, {})
    arrays = {}
    for name in names:
        value = values.get(name)
        if value is None:
            return {}, f"`{name}` was not returned"
        if isinstance(value, str):
            return {}, f"`{name}` is an object of type `{value.removeprefix('bad:')}`, not an array"
        if value.dtype.kind not in "biuf":
            return {}, f"`{name}` has dtype {value.dtype}, not a number type"
        arrays[name] = value.astype(np.float64)
    return arrays, None


@dataclass(frozen=True)
class ScoredPart(Part):
    """A part whose cases are judged by ``rule(part, case, outcome) -> CaseResult``."""

    rule: Callable | None = None

    def judge_case(self, case: Case, outcome: Outcome):
        return self.rule(self, case, outcome)


# ------------------------------------------------------------------ log-uniform sampler

SAMPLER_MISTAKES = (
    _mistake(
        "learning-rate-linear-scale",
        "The samples are uniform on a linear scale",
        "Drawn uniformly between low and high, nearly all samples land in the top decade "
        "(with 1e-6 .. 10, nine in ten are above 1), so small learning rates and "
        "regularisation strengths are never tried. Draw the exponent uniformly: "
        "10 ** rng.uniform(log10(low), log10(high), n).",
        SEARCH_PAGE,
        "log-scale",
    ),
    _mistake(
        "grid-instead-of-random",
        "The values are a grid, not random samples",
        "Your values are evenly spaced and sorted, as np.logspace would give. A random "
        "search draws every value independently: with the same budget it tries many more "
        "distinct values of the hyperparameter that matters (Bergstra and Bengio, 2012).",
        SEARCH_PAGE,
        "random-vs-grid",
    ),
    _mistake(
        "sampler-ignores-generator",
        "The sampler does not use the generator it is given",
        "Two calls with generators built from the same seed returned different samples, so "
        "np.random's global state (or a new generator) was used. Draw from `rng`: a search "
        "must be reproducible from its seed.",
        SEARCH_PAGE,
        "log-scale",
    ),
)


def _ks_uniform(u: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance between the sample u and the uniform law on [0, 1]."""
    u = np.sort(np.clip(u, 0.0, 1.0))
    n = len(u)
    upper = np.arange(1, n + 1) / n - u
    lower = u - np.arange(n) / n
    return float(max(upper.max(), lower.max()))


def _evenly_spaced(samples: np.ndarray) -> bool:
    """Sorted values whose logs (or values) are evenly spaced, as np.logspace gives."""
    ordered = np.sort(samples)
    for values in (np.log10(ordered), ordered):
        gaps = np.diff(values)
        if gaps.size and np.all(gaps > 0) and np.ptp(gaps) <= 1e-6 * np.mean(gaps):
            return True
    return False


def judge_sampler(part: Part, case: ScoredCase, outcome: Outcome):
    facts = case.facts
    low, high, n = facts["low"], facts["high"], facts["n"]
    arrays, problem = _returned(case, outcome, ["samples", "again"])
    if problem:
        return _case_result(case.label, [problem])
    samples, again = arrays["samples"], arrays["again"]
    if samples.shape != (n,):
        return _case_result(case.label, [f"`samples` has shape {samples.shape}, not ({n},)"])
    if not np.all(np.isfinite(samples)):
        return _case_result(case.label, ["`samples` contains NaN or infinite values"])
    outside = int(np.sum((samples < low * (1 - 1e-12)) | (samples > high * (1 + 1e-12))))
    if outside:
        return _case_result(
            case.label, [f"{outside} of the {n} samples lie outside [{low:g}, {high:g}]"]
        )
    allowed = KS_FACTOR / math.sqrt(n)
    span = math.log10(high) - math.log10(low)
    log_distance = _ks_uniform((np.log10(samples) - math.log10(low)) / span)
    linear_distance = _ks_uniform((samples - low) / (high - low))
    steps = np.diff(samples)
    moving = steps[steps != 0]  # ties between neighbours are neither up nor down
    ascending = float(np.mean(moving > 0)) if moving.size else 0.5
    problems, mistake = [], None
    if log_distance > allowed:
        share = float(np.mean(samples >= high / 10))
        problems.append(
            f"the log10 of your samples is not uniform: its Kolmogorov-Smirnov distance from "
            f"the uniform law is {log_distance:.3f} (allowed {allowed:.3f}); {share:.0%} of "
            f"them lie in the top decade [{high / 10:g}, {high:g}] instead of {1 / span:.0%}"
        )
        if linear_distance <= allowed:
            mistake = "learning-rate-linear-scale"
    if not 0.45 <= ascending <= 0.55:
        problems.append(
            f"{ascending:.0%} of consecutive samples increase (about 50% for independent "
            "draws): the values are ordered, not random"
        )
        if _evenly_spaced(samples):  # the catalogued grid, not just any ordering
            mistake = mistake or "grid-instead-of-random"
    if again.shape != samples.shape or not np.array_equal(again, samples):
        problems.append("a second call with a generator made from the same seed gave other samples")
        mistake = mistake or "sampler-ignores-generator"
    return _case_result(case.label, problems, mistake)


SAMPLER_RANGES = [
    ("learning rates between 1e-6 and 10", 1e-6, 10.0),
    ("regularisation strengths between 1e-5 and 1e-1", 1e-5, 1e-1),
    ("a narrow range, 1e-3 to 3e-2", 1e-3, 3e-2),
]


def sampler_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for index, (label, low, high) in enumerate(SAMPLER_RANGES):
        seed = int(rng.integers(2**31 - 1))
        make_rng = {"code": f"np.random.default_rng({seed})"}
        args = [make_rng, {"lit": low}, {"lit": high}, {"lit": SAMPLES}]
        steps = [
            {"call": "sample_log_uniform", "args": args, "save": ["samples"]},
            {"call": "sample_log_uniform", "args": args, "save": ["again"]},
        ]
        reference = log_uniform(low, high, SAMPLES, np.random.default_rng(seed))
        linear = np.random.default_rng(seed).uniform(low, high, SAMPLES)
        grid = np.logspace(math.log10(low), math.log10(high), SAMPLES)
        other = log_uniform(low, high, SAMPLES, np.random.default_rng(seed + 1))
        expected = {"samples": reference, "again": reference}
        variants = {
            "learning-rate-linear-scale": {"samples": linear, "again": linear},
            "grid-instead-of-random": {"samples": grid, "again": grid},
            "sampler-ignores-generator": {"samples": reference, "again": other},
        }
        facts = {"low": low, "high": high, "n": SAMPLES}
        cases.append(
            _case(
                "sampler", index, label, steps, ["samples", "again"], {}, expected, variants, facts
            )
        )
    return cases


# ------------------------------------------------------------------------ the MLP loss

MLP_MISTAKES = (
    _mistake(
        "l2-penalty-on-biases",
        "The L2 penalty also covers the biases",
        "Weight decay is 0.5 * reg * (sum(W1**2) + sum(W2**2)): the biases are not "
        "penalised, so db1 and db2 get no reg * b term.",
        "book/backprop-dense.html",
        "bias-gradient",
    ),
    _mistake(
        "l2-penalty-without-half",
        "The L2 penalty lacks its 1/2",
        "This course's penalty is 0.5 * reg * sum(W**2), whose gradient is reg * W. Without "
        "the 1/2 the loss is reg * sum(W**2) and the gradient 2 * reg * W.",
        "book/backprop-dense.html",
        "bias-gradient",
    ),
    _mistake(
        "cross-entropy-not-averaged",
        "The cross-entropy is summed over the batch, not averaged",
        "The data loss is the MEAN over the N examples, so dscores = (softmax - onehot) / N. "
        "A sum makes the loss and the gradient grow with the batch size.",
        "book/output-deltas.html",
        "delta-softmax-ce",
    ),
    _mistake(
        "softmax-unstable",
        "The softmax overflows for large scores",
        "np.exp of a score in the hundreds overflows to inf, and inf / inf is NaN. Subtract "
        "each row's largest score before exponentiating: the softmax does not change.",
        "book/output-deltas.html",
        "stable-softmax",
    ),
)

PARAM_NAMES = ("W1", "b1", "W2", "b2")


def _mlp_outputs(params, x, y, reg, bias_l2=False, half=True, mean=True):
    """loss and gradients (dict) of the two-layer net with three bugs as switches."""
    W1, b1, W2, b2 = (params[k] for k in PARAM_NAMES)
    n = x.shape[0]
    z, dense1 = dense_forward(x, W1, b1)
    hidden, _ = relu_forward(z)
    scores, dense2 = dense_forward(hidden, W2, b2)
    data, dscores = softmax_cross_entropy(scores, y)
    if not mean:
        data, dscores = data * n, dscores * n
    penalty, (gW1, gW2) = l2_penalty([W1, W2], reg)
    if not half:
        penalty, gW1, gW2 = 2.0 * penalty, 2.0 * gW1, 2.0 * gW2
    dhidden, dW2, db2 = dense_backward(dscores, dense2)
    _, dW1, db1 = dense_backward(relu_backward(dhidden, z), dense1)
    grads = {"W1": dW1 + gW1, "b1": db1, "W2": dW2 + gW2, "b2": db2}
    loss = data + penalty
    if bias_l2:
        loss += 0.5 * reg * float(np.sum(b1 * b1) + np.sum(b2 * b2))
        grads["b1"], grads["b2"] = db1 + reg * b1, db2 + reg * b2
    return loss, grads


MLP_SIZES = [
    # label, N, D, H, C, reg, weight scale of W2
    ("a random batch", 8, 6, 5, 4, None, 1.0),
    ("a batch of one", 1, 4, 3, 3, None, 1.0),
    ("scores in the thousands", 5, 4, 6, 3, None, 800.0),
    ("no regularisation", 6, 3, 4, 5, 0.0, 1.0),
]


def mlp_cases(rng: np.random.Generator) -> list[Case]:
    names = ["loss", "dW1", "db1", "dW2", "db2"]
    cases = []
    for index, (label, n, d, h, c, reg, scale) in enumerate(MLP_SIZES):
        reg = float(10 ** rng.uniform(-2.5, -0.5)) if reg is None else reg
        params = {
            "W1": rng.normal(size=(d, h)),
            "b1": rng.normal(size=h),
            "W2": rng.normal(size=(h, c)) * scale,
            "b2": rng.normal(size=c),
        }
        x, y = rng.normal(size=(n, d)), rng.integers(0, c, size=n)
        steps = [
            {
                "call": "mlp_loss",
                "args": [
                    {"dict": {k: {"in": k} for k in PARAM_NAMES}},
                    {"in": "x"},
                    {"in": "y"},
                    {"lit": reg},
                ],
                "save": ["loss", "grads"],
            }
        ]
        steps += [{"get": "grads", "key": k, "save": f"d{k}"} for k in PARAM_NAMES]

        def flat(loss, grads):
            return {"loss": np.float64(loss), **{f"d{k}": grads[k] for k in PARAM_NAMES}}

        expected = flat(*_mlp_outputs(params, x, y, reg))
        variants = {
            "l2-penalty-on-biases": flat(*_mlp_outputs(params, x, y, reg, bias_l2=True)),
            "l2-penalty-without-half": flat(*_mlp_outputs(params, x, y, reg, half=False)),
            "cross-entropy-not-averaged": flat(*_mlp_outputs(params, x, y, reg, mean=False)),
        }
        if reg == 0.0:
            del variants["l2-penalty-on-biases"], variants["l2-penalty-without-half"]
        if n == 1:
            del variants["cross-entropy-not-averaged"]
        inputs = {**params, "x": x, "y": y}
        cases.append(_case("mlp_loss", index, label, steps, names, inputs, expected, variants))
    return cases


# -------------------------------------------------------------- the search against SVMs

SEARCH_MISTAKES = (
    _mistake(
        "learning-rate-too-small",
        "The learning rates are too small: the loss does not move",
        "The training loss of every trial changed by less than 1% from its first epoch to "
        "its last, so none of your learning rates moves the weights noticeably within the "
        "epochs you train. Search a range that reaches larger rates (with Adam, around "
        "1e-3 to 3e-2; with SGD, larger), and look at the loss curves before trusting a "
        "search.",
        SEARCH_PAGE,
        "learning-rate-too-small",
    ),
)


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits: x (1797, 64) in [0, 1], y (1797,) int64."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data.astype(np.float64) / 16.0, digits.target.astype(np.int64)


_BASELINES: dict[str, tuple[float, float]] = {}


def svm_baselines(x_train, y_train, x_test, y_test) -> tuple[float, float]:
    """(linear SVC accuracy, RBF SVC accuracy) on the test split, fitted on x_train.

    scikit-learn's defaults (C = 1, gamma = "scale"). Cached per split in this process.
    """
    key = hashlib.sha256(
        b"".join(np.ascontiguousarray(a).tobytes() for a in (x_train, y_train, x_test, y_test))
    ).hexdigest()
    if key not in _BASELINES:
        from sklearn.svm import SVC

        scores = [
            float(SVC(kernel=kernel).fit(x_train, y_train).score(x_test, y_test))
            for kernel in ("linear", "rbf")
        ]
        _BASELINES[key] = (scores[0], scores[1])
    return _BASELINES[key]


SEARCH_OUTPUTS = ["pred", "learning_rates", "regs", "val_accuracies", "loss_histories"]


def _flat_histories(histories: np.ndarray) -> bool:
    """True when every trial's loss changed by less than FLAT_LOSS relative to its start."""
    rows = np.atleast_2d(histories)
    if rows.shape[1] < 2:
        return False
    first, last = rows[:, 0], rows[:, -1]
    change = np.abs(first - last) / np.maximum(np.abs(first), 1e-12)
    return bool(np.all(change < FLAT_LOSS))


def judge_search(part: Part, case: ScoredCase, outcome: Outcome):
    facts = case.facts
    arrays, problem = _returned(case, outcome, SEARCH_OUTPUTS, facts["probe"])
    if problem:
        return _case_result(case.label, [problem])
    y_test = facts["y_test"]
    pred = arrays["pred"]
    if pred.shape != y_test.shape:
        return _case_result(case.label, [f"`pred` has shape {pred.shape}, not {y_test.shape}"])
    trials = arrays["learning_rates"].reshape(-1).shape[0]
    histories = arrays["loss_histories"]
    if histories.ndim != 2 or histories.shape[0] != trials:
        return _case_result(
            case.label,
            [f"`loss_histories` has shape {histories.shape}, not (n_trials={trials}, epochs)"],
        )
    accuracy = float(np.mean(np.rint(pred) == y_test))
    linear, rbf = facts["linear"], facts["rbf"]
    needed = rbf - RBF_MARGIN if facts["tier"] == "rbf" else min(linear, rbf - RBF_MARGIN)
    if accuracy >= needed - 1e-12:
        return _case_result(case.label, [])
    share = "all" if facts["tier"] == "rbf" else "half"
    problems = [
        f"your test accuracy is {accuracy:.1%}, below the {needed:.1%} needed for {share} the "
        f"points (RBF SVM {rbf:.1%}, linear SVM {linear:.1%}, fitted on your training split)"
    ]
    mistake = None
    if np.all(np.isfinite(histories)) and _flat_histories(histories):
        largest = float(np.max(arrays["learning_rates"]))
        problems.append(
            f"the loss of every trial barely moved (largest learning rate {largest:.2g})"
        )
        mistake = "learning-rate-too-small"
    return _case_result(case.label, problems, mistake)


def search_cases(rng: np.random.Generator) -> list[Case]:
    x, y = _digits()
    order = rng.permutation(len(x))
    n_train, n_val = SPLIT
    train, val, test = order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]
    linear, rbf = svm_baselines(x[train], y[train], x[test], y[test])
    seed = int(rng.integers(2**31 - 1))
    args = [{"in": n} for n in ("x_train", "y_train", "x_val", "y_val", "x_test")]
    steps = [{"call": "search_and_predict", "args": [*args, {"lit": seed}], "save": SEARCH_OUTPUTS}]
    inputs = {
        "x_train": x[train],
        "y_train": y[train],
        "x_val": x[val],
        "y_val": y[val],
        "x_test": x[test],
    }
    expected = {"pred": y[test].astype(np.float64)}
    variants = {"learning-rate-too-small": {"pred": np.zeros(len(test))}}
    facts = {"y_test": y[test], "linear": linear, "rbf": rbf, "probe": "search#0"}
    first = _case(
        "search",
        0,
        f"the test split, against the linear SVM ({linear:.1%}) or 2 points below the RBF "
        f"SVM ({rbf:.1%})",
        steps,
        SEARCH_OUTPUTS,
        inputs,
        expected,
        variants,
        {**facts, "tier": "linear"},
    )
    second = _case(
        "search",
        1,
        f"the test split, against the RBF SVM ({rbf:.1%}) minus 2 points",
        [],
        [],
        {},
        expected,
        variants,
        {**facts, "tier": "rbf"},
    )
    return [first, second]


CHECKS = AssignmentChecks(
    name="assignment8",
    notebook="assignment8",
    # The search may take the 60 s the notebook states; BLAS may use two threads.
    limits=Limits(cpu_seconds=240, probe_seconds=60.0, cell_seconds=10.0, total_seconds=150.0),
    parts=(
        ScoredPart(
            "test_sample_log_uniform",
            "Sampling on a log scale",
            ("sample_log_uniform",),
            f"{SEARCH_PAGE}#log-scale",
            SAMPLER_MISTAKES,
            sampler_cases,
            rule=judge_sampler,
        ),
        Part(
            "test_mlp_loss",
            "The network's loss and gradients",
            ("mlp_loss",),
            "book/output-deltas.html#delta-softmax-ce",
            MLP_MISTAKES,
            mlp_cases,
            scalars=frozenset({"loss"}),
            nonfinite_mistake="softmax-unstable",
        ),
        ScoredPart(
            "test_search",
            "A random search against the SVMs",
            ("search_and_predict",),
            f"{SVM_PAGE}#svm-comparison",
            SEARCH_MISTAKES,
            search_cases,
            rule=judge_search,
        ),
    ),
)
