"""How a wrong output relates to the right one, when no catalogued mistake explains it.

Runs in the judging process on arrays only. ``relations(received, expected, context)``
lists the plain-words relations that hold on ONE case (the exact negative, a constant
factor, the transpose, right except where an input is exactly zero, tied or large, right
except in one gate block of an LSTM's 4H columns or at some time steps, an input returned
unchanged, all zeros); the judge names a relation only when it holds on every failing
case of the part (``common``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RTOL = 1e-6
GATES = ("input gate i", "forget gate f", "output gate o", "candidate g")  # the course's order
LARGE = 30.0  # |input| above which a value counts as "of large magnitude"


@dataclass(frozen=True)
class Context:
    """What a relation may refer to: the case's input arrays (by short name), the batch
    size and the part's time axis."""

    inputs: dict[str, np.ndarray]
    batch: int | None
    time_axis: int | None
    gates: bool  # outputs whose last axis has 4H columns are LSTM gate blocks


def near(a: np.ndarray, b: np.ndarray, rtol: float = RTOL, atol_scale: float = 1e-9) -> bool:
    """np.allclose(a, b, rtol, atol_scale * max|finite b|, equal_nan=True), without its
    overhead (the judge calls it tens of thousands of times per class)."""
    if a.shape != b.shape:
        return False
    abs_b = np.abs(b)
    scale = float(abs_b.max(initial=1.0))
    if scale < np.inf:  # every entry of b is finite (a NaN or an infinity would show here)
        with np.errstate(invalid="ignore", over="ignore"):
            return bool((np.abs(a - b) <= atol_scale * scale + rtol * abs_b).all())
    finite = np.isfinite(b)
    scale = float(np.max(abs_b, where=finite, initial=1.0))
    with np.errstate(invalid="ignore", over="ignore"):
        ok = np.abs(a - b) <= atol_scale * scale + rtol * abs_b
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        return bool(np.all((ok & finite) | same))


_close = near


def _factor(received: np.ndarray, expected: np.ndarray) -> float | None:
    """c with received == c * expected (c not 0, 1 or -1), else None."""
    if received.shape != expected.shape or not np.any(expected):
        return None
    c = float(np.vdot(expected, received) / np.vdot(expected, expected))
    if abs(c) < 1e-12 or abs(abs(c) - 1.0) < 1e-9 or not _close(received, c * expected):
        return None
    return c


def _factor_words(c: float, batch: int | None) -> str:
    named = {2.0: "2", 0.5: "1/2"}
    if batch and batch > 2:
        named.update(
            {float(batch): "N (the batch size)", 1.0 / batch: "1/N (one over the batch size)"}
        )
    for value, word in named.items():
        if abs(c - value) <= 1e-6 * abs(value):
            return word
    return f"{c:.4g}"


def _only_where(received, expected, mask) -> bool:
    """Right off ``mask``, wrong somewhere on it."""
    if received.shape != expected.shape or mask.shape != expected.shape or not mask.any():
        return False
    return _close(received[~mask], expected[~mask]) and not _close(received[mask], expected[mask])


def _tied(x: np.ndarray) -> np.ndarray:
    """Entries whose value occurs more than once in their (last two axes') plane."""
    flat = x.reshape(-1, *x.shape[-2:]) if x.ndim >= 2 else x.reshape(1, 1, -1)
    out = np.zeros(flat.shape, bool)
    for k, plane in enumerate(flat):
        values, counts = np.unique(plane, return_counts=True)
        out[k] = np.isin(plane, values[counts > 1])
    return out.reshape(x.shape)


def _wrong_slices(received, expected, axis) -> list[int] | None:
    """Indices along ``axis`` where received differs (None when all or none differ)."""
    if received.shape != expected.shape or received.ndim <= axis:
        return None
    moved_r, moved_e = np.moveaxis(received, axis, 0), np.moveaxis(expected, axis, 0)
    wrong = [k for k in range(len(moved_r)) if not _close(moved_r[k], moved_e[k])]
    return wrong if 0 < len(wrong) < len(moved_r) else None


def _steps_words(wrong: list[int], count: int) -> str:
    if wrong == [0]:
        return "the first time step"
    if wrong == [count - 1]:
        return "the last time step"
    if wrong == list(range(count - 1)):
        return "every time step but the last"
    if wrong == list(range(1, count)):
        return "every time step but the first"
    return "time steps " + ", ".join(str(k) for k in wrong)


def relations(name: str, received: np.ndarray, expected: np.ndarray, ctx: Context) -> dict:
    """{key: words} of every relation between ``received`` and ``expected`` on one case.
    Keys identify a relation across cases (the words may carry per-case details)."""
    out = {}
    if expected.any() and _close(received, -expected):
        out["negative"] = f"`{name}` is exactly the negative of the right value (a sign error)"
    c = _factor(received, expected)
    words = _factor_words(c, ctx.batch) if c is not None else ""
    if c is not None and (expected.size >= 3 or "N" in words or words in ("2", "1/2")):
        key = "factor-N" if words.startswith("N ") else "factor-1/N" if "over" in words else None
        out[key or f"factor-{words}"] = f"`{name}` is the right value times {words}"
    if expected.ndim == 2 and expected.size > 1 and _close(received, expected.T):
        out["transpose"] = f"`{name}` is the transpose of the right value"
    if not received.any() and expected.any():
        out["zeros"] = f"`{name}` is all zeros"
    start = ctx.inputs.get(name)  # an updated array (an optimizer's w): compare the steps
    if start is not None and start.shape == expected.shape and received.shape == start.shape:
        step, right = received - start, expected - start
        if right.any() and _close(step, -right):
            out["step-negative"] = f"the step of `{name}` goes the wrong way (its sign is flipped)"
        c = _factor(step, right)
        if c is not None and c != -1.0 and expected.size >= 2:
            out[f"step-factor-{c:.3g}"] = f"the step of `{name}` is {c:.3g} times the right step"
    for short, x in ctx.inputs.items():
        if x.shape != expected.shape or x.dtype.kind != "f":
            continue
        if _close(received, x) and not _close(expected, x):
            out[f"input-{short}"] = f"`{name}` is the input `{short}` returned unchanged"
        if _only_where(received, expected, x == 0):
            out["at-zero"] = (
                f"`{name}` is right everywhere except where `{short}` is exactly 0 (the "
                "convention at the kink)"
            )
        if _only_where(received, expected, np.abs(x) > LARGE):
            out["at-large"] = (
                f"`{name}` is right everywhere except where |`{short}`| is large (above "
                f"{LARGE:g}): an overflow or a cancellation"
            )
        if _only_where(received, expected, _tied(x)):
            out["at-ties"] = (
                f"`{name}` is right everywhere except at tied values of `{short}` (which "
                "of equal maxima receives the gradient)"
            )
    width = expected.shape[-1] if expected.ndim else 0
    if ctx.gates and width >= 4 and width % 4 == 0 and received.shape == expected.shape:
        split = (*expected.shape[:-1], 4, width // 4)
        blocks = _wrong_slices(received.reshape(split), expected.reshape(split), expected.ndim - 1)
        if blocks is not None and len(blocks) == 1:
            gate = GATES[blocks[0]]
            out[f"gate-{blocks[0]}"] = (
                f"`{name}` is right except in the columns of the {gate} (block "
                f"{blocks[0] + 1} of 4 in the 4H layout i, f, o, g)"
            )
    if ctx.time_axis is not None and expected.ndim >= 3:
        wrong = _wrong_slices(received, expected, ctx.time_axis)
        if wrong is not None:
            count = expected.shape[ctx.time_axis]
            words = _steps_words(wrong, count)
            out[f"steps: {words}"] = f"`{name}` is right except at {words}"
    return out
