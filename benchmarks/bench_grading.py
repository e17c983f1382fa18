"""Grading throughput: this autograder with 1 and 2 workers against plain ``nbgrader
autograde`` on the same synthetic class of assignment 1, measured in the same run.

    python -m benchmarks.bench_grading [--students 200] [--nbgrader-students 200] [--large 0]
                                       [--dask] [--repeats 3]

Prints submissions per minute, the ratios (ours at 2 workers / nbgrader, 2 workers / 1
worker), the peak resident memory of the grader's process tree (workers, fork servers
and the sandboxed children alive when sampled), the median milliseconds per submission
of each phase of grading (read from the records of the 1-worker run) and the cost of
writing the gradebook rows in batches against nbgrader's own API, one submission at a
time, on the same records. One more run confines one worker, with every process it starts,
to one core: two workers on two cores against it is what a second core adds (on a machine
with two cores, one unconfined worker already keeps both busy: its sandboxed children and
the writing of results run beside it). ``--large 2000`` also grades a class of that size
with 2 workers to show that memory stays flat; ``--dask`` also grades the class on a Dask
``LocalCluster`` of two worker processes, as a cluster of machines would. Each local
configuration runs ``--repeats`` times, the configurations in turn, and its median time
counts (one run's time moves by 10 % on a shared machine); the others run once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil

from autograder.records import SubmissionResult
from autograder.submission import fill_answers, solution_answers

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

BUGGY = {
    "mse": "def mse_loss(pred, y):\n    n = pred.shape[0]\n"
    "    return 0.5 * np.sum((pred - y) ** 2) / n, (y - pred) / n\n",
    "relu": "def relu_forward(x):\n    return np.maximum(x, 0), x\n\n\n"
    "def relu_backward(dout, cache):\n    return dout * (cache >= 0)\n",
}
HOSTILE = {
    "sigmoid": "class Any:\n    def __eq__(self, other):\n        return True\n\n\n"
    "def sigmoid_forward(x):\n    return Any(), None\n\n\ndef sigmoid_backward(d, c):\n"
    "    return Any()\n",
    "dense_forward": "import sys\nprint('All tests passed!' * 1000)\nsys.exit(0)\n",
}


def make_class(folder: Path, students: int) -> None:
    """70% correct, 20% with a classic mistake, 10% hostile (fast attacks)."""
    release = nbformat.read(ROOT / "exercises" / "assignment1" / "assignment1.ipynb", 4)
    answers = solution_answers(
        nbformat.read(ROOT / "solutions" / "assignment1" / "assignment1.ipynb", 4)
    )
    kinds = [answers] * 7 + [{**answers, **BUGGY}] * 2 + [{**answers, **HOSTILE}]
    for i in range(students):
        path = folder / f"student{i:05d}" / "assignment1" / "assignment1.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(fill_answers(release, kinds[i % len(kinds)]), path)


def timed(command: list[str], cwd: Path, cores: set[int] | None = None) -> tuple[float, float]:
    """Wall time of ``command`` and the peak resident memory (MB) of the grader: its own
    process plus its worker processes and fork servers, sampled every 50 ms. ``cores``:
    the processors the command and everything it starts may run on (default: all)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
    )
    peak = [0]

    def watch() -> None:
        root = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                pass
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, err = process.communicate()
    watcher.join()
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{err.decode()[-2000:]}")
    return time.perf_counter() - start, peak[0] / 2**20


def ours(
    submitted: Path, out: Path, workers: int, scheduler: str = "", cores: set[int] | None = None
) -> tuple[float, float]:
    command = [str(BIN / "autograder"), "--root", str(ROOT), "grade", "assignment1"]
    command += ["--submissions", str(submitted), "--course", str(out), "--out", str(out)]
    command += ["--workers", str(workers)]
    if scheduler:
        command += ["--scheduler", scheduler]
    return timed(command, ROOT, cores)


def on_local_cluster(submitted: Path, out: Path) -> float:
    """Seconds to grade ``submitted`` on a Dask LocalCluster of 2 single-threaded worker
    processes (the cluster is started before the clock starts)."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        seconds, _ = ours(submitted, out, 2, cluster.scheduler_address)
    return seconds


def nbgrader(work: Path, submitted: Path, students: int) -> float:
    """Plain ``nbgrader autograde`` on the first ``students`` submissions."""
    course = work / "nbgrader-course"
    (course / "source").mkdir(parents=True)
    shutil.copytree(ROOT / "solutions" / "assignment1", course / "source" / "assignment1",
                    ignore=shutil.ignore_patterns("*.py"))  # fmt: skip
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    env_path = f"{BIN}:/usr/bin:/bin"
    run = {"cwd": course, "check": True, "capture_output": True, "env": {"PATH": env_path}}
    subprocess.run([str(BIN / "nbgrader"), "generate_assignment", "assignment1"], **run)
    for student in sorted(submitted.iterdir())[:students]:
        shutil.copytree(student, course / "submitted" / student.name)
    start = time.perf_counter()
    subprocess.run([str(BIN / "nbgrader"), "autograde", "assignment1"], **run)
    return time.perf_counter() - start


def phase_medians(out: Path) -> dict[str, float]:
    """Median milliseconds per graded submission of each phase, from a run's records."""
    samples: dict[str, list[float]] = {}
    for path in (out / "results" / "assignment1").glob("*.json"):
        record = json.loads(path.read_text())
        if record["status"] == "graded":
            for name, ms in record.get("phases", {}).items():
                samples.setdefault(name, []).append(ms)
    return {name: statistics.median(values) for name, values in samples.items()}


def gradebook_writes(out: Path, work: Path) -> tuple[float, float]:
    """Milliseconds per submission to write a run's records into a fresh gradebook: in
    batches (this grader) and with nbgrader's API, one commit per submission."""
    from nbgrader.api import Gradebook

    from autograder.gradebook import GradebookWriter
    from autograder.marks import marks_for

    release = nbformat.read(ROOT / "exercises" / "assignment1" / "assignment1.ipynb", 4)
    results = [
        SubmissionResult.from_dict(json.loads(p.read_text()))
        for p in sorted((out / "results" / "assignment1").glob("*.json"))
    ]
    url = f"sqlite:///{work / 'batched.db'}"
    start = time.perf_counter()
    with GradebookWriter(url, "assignment1", "assignment1", release) as gb:
        for result in results:
            gb.queue(result, marks_for(result, gb.cells, gb.prior(result.student), None, gb.late))
            if gb.pending >= 200:
                gb.flush()
        gb.flush()
    batched = (time.perf_counter() - start) * 1000 / len(results)
    GradebookWriter(f"sqlite:///{work / 'api.db'}", "assignment1", "assignment1", release).close()
    start = time.perf_counter()
    with Gradebook(f"sqlite:///{work / 'api.db'}") as gb:
        for result in results:
            gb.add_student(result.student)
            gb.add_submission("assignment1", result.student)
            for part in result.parts:
                grade = gb.find_grade(part.grade_id, "assignment1", "assignment1", result.student)
                grade.auto_score, grade.needs_manual_grade = part.score, False
            gb.db.commit()
    one_by_one = (time.perf_counter() - start) * 1000 / len(results)
    return batched, one_by_one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--nbgrader-students", type=int, default=200)
    parser.add_argument("--large", type=int, default=0)
    parser.add_argument("--dask", action="store_true", help="also grade on a local Dask cluster")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each local configuration (median)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_class(work / "class", args.students)
        rows = []
        cores = sorted(os.sched_getaffinity(0))
        runs = [("autograder, 1 worker(s)", 1, None), ("autograder, 2 worker(s)", 2, None)]
        if len(cores) >= 2:  # one worker with one core, two with two: scaling per core
            runs.append(("autograder, 1 worker on 1 core", 1, {cores[0]}))
        measured: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in runs}
        for repeat in range(args.repeats):  # in turn, so a drift of the machine hits all
            for k, (name, workers, confined) in enumerate(runs):
                out = work / f"out{k}-{repeat}"
                measured[name].append(ours(work / "class", out, workers, cores=confined))
        for name, _, _ in runs:
            seconds = statistics.median(t for t, _ in measured[name])
            rows.append((name, args.students, seconds, max(m for _, m in measured[name])))
        if args.dask:
            seconds = on_local_cluster(work / "class", work / "out-dask")
            rows.append(("Dask LocalCluster, 2 workers", args.students, seconds, float("nan")))
        n = min(args.nbgrader_students, args.students)
        rows.append(("nbgrader autograde", n, nbgrader(work, work / "class", n), float("nan")))
        if args.large:
            make_class(work / "large", args.large)
            seconds, peak = ours(work / "large", work / "out-large", 2)
            rows.append(("autograder, 2 workers (large)", args.large, seconds, peak))
        phases = phase_medians(work / "out0-0")
        batched, one_by_one = gradebook_writes(work / "out0-0", work)
    print(f"{'run':34} {'subs':>6} {'seconds':>9} {'subs/min':>9} {'peak MB':>8}")
    rate = {}
    for name, count, seconds, peak in rows:
        rate[name] = 60 * count / seconds
        print(f"{name:34} {count:6d} {seconds:9.1f} {rate[name]:9.1f} {peak:8.0f}")
    one, two = rate["autograder, 1 worker(s)"], rate["autograder, 2 worker(s)"]
    versus = two / rate["nbgrader autograde"]
    print(f"\n2 workers / nbgrader autograde: {versus:.1f}x (goal >= 100)")
    print(f"2 workers / 1 worker:           {two / one:.2f}x (goal >= 1.8)")
    if "autograder, 1 worker on 1 core" in rate:
        per_core = two / rate["autograder, 1 worker on 1 core"]
        print(f"2 workers on 2 cores / 1 worker on 1 core: {per_core:.2f}x")
    if args.dask:
        dask = rate["Dask LocalCluster, 2 workers"]
        print(f"Dask cluster / local 2 workers: {dask / two:.2f}x")
    if args.large:
        peaks = {name: peak for name, _, _, peak in rows}
        large, small = peaks["autograder, 2 workers (large)"], peaks["autograder, 2 worker(s)"]
        print(f"peak memory, {args.large} / {args.students} submissions: {large / small:.2f}x")
    print("\nmedian ms per submission by phase (1 worker; the last one in the main process):")
    for name, ms in phases.items():
        print(f"  {name:42} {ms:7.2f}")
    print(f"  {'total':42} {sum(phases.values()):7.2f}")
    print(f"gradebook rows, in batches:                 {batched:7.2f} ms per submission")
    print(f"gradebook rows, nbgrader API, one by one:   {one_by_one:7.2f} ms per submission")
    print(f"batched / one by one:                       {batched / one_by_one:7.2f}x")


if __name__ == "__main__":
    main()
