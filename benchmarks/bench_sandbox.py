"""What the sandbox costs per submission: one fork server, many small submissions.

    python -m benchmarks.bench_sandbox [--submissions 300]

Each submission is what assignment 1 asks of a child: a setup cell, an answer cell and
twenty quick probes. The script prints the isolation mode and, for that mode and for
``plain`` (no bubblewrap, no namespaces: the baseline measured in the same run), the
median and mean milliseconds per submission and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from autograder.sandbox import Cell, Isolation, Limits, Probe, run

CELLS = [
    Cell("setup", "import numpy as np"),
    Cell("answer", "def relu(x):\n    return np.maximum(x, 0.0)\n"),
]
PROBES = [
    Probe(f"p{i}", [{"call": "relu", "args": [{"in": f"x{i}"}], "save": ["y"]}], ["y"])
    for i in range(20)
]


def per_submission(isolation: Isolation, count: int) -> list[float]:
    """Milliseconds of each of ``count`` submissions, after one warm-up."""
    rng = np.random.default_rng(0)
    inputs = {f"x{i}": rng.normal(size=(8, 16)) for i in range(20)}
    run(CELLS, PROBES, inputs, Limits(), isolation)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        outcome = run(CELLS, PROBES, inputs, Limits(), isolation)
        times.append((time.perf_counter() - start) * 1000)
        assert not outcome.probe_errors, outcome.probe_errors
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submissions", type=int, default=300)
    args = parser.parse_args()
    best = Isolation.for_course([])
    rows = {}
    for mode in dict.fromkeys([best.mode, "plain"]):
        times = per_submission(Isolation.for_course([], mode=mode), args.submissions)
        rows[mode] = (statistics.median(times), statistics.fmean(times))
        print(f"{mode:>7}: median {rows[mode][0]:6.1f} ms, mean {rows[mode][1]:6.1f} ms")
    if best.mode != "plain":
        ratio = rows[best.mode][0] / rows["plain"][0]
        print(f"{best.mode} / plain (median per submission): {ratio:.2f}")


if __name__ == "__main__":
    main()
