"""Parent side of the sandbox: start ``child.py``, stream its frames, enforce deadlines.

The parent never executes student code. It writes a plan (cells to execute, probes to
call, the names of the input arrays) into a private working directory, starts a fresh
interpreter on ``child.py``, and reads frames from a pipe with a deadline for every
phase (start-up, each cell, each probe). A phase that overruns, or a child that dies,
is recorded against that cell or probe; a new child then resumes after it, so one
infinite loop costs only the part that contains it.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import selectors
import shutil
import signal
import site
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .wire import FrameReader

CHILD = Path(__file__).with_name("child.py")
BASE_UID = 61000


@dataclass(frozen=True)
class Limits:
    """Resource limits of one child process and deadlines of each phase (seconds)."""

    cpu_seconds: int = 60
    memory_bytes: int = 2 << 30
    file_bytes: int = 8 << 20
    processes: int = 64
    startup_seconds: float = 30.0
    cell_seconds: float = 10.0
    probe_seconds: float = 10.0
    total_seconds: float = 120.0
    result_bytes: int = 256 << 20


@dataclass(frozen=True)
class Isolation:
    """What the child is locked out of. ``drop`` False: no uid drop or namespaces (not root)."""

    drop: bool
    hide: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()

    @classmethod
    def for_course(cls, hidden: list[Path]) -> Isolation:
        """Hide ``hidden`` (course root, submissions, outputs) from every child.

        As root each child runs as a uid of its own (leased machine-wide, so it can neither
        signal nor read another child), in private mount and network namespaces with empty
        tmpfs mounts over ``hidden``; the Python installation stays visible for NumPy.
        """
        if os.geteuid() != 0:
            return cls(drop=False)
        keep = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, *site.getsitepackages())}
        hide = {str(p.resolve()) for p in hidden} | set(_dataset_folders())
        for path in keep:  # a private ancestor (pyenv under /root) becomes a tmpfs with 755
            for parent in Path(path).parents:
                if parent != Path("/") and not parent.stat().st_mode & 0o001:
                    hide.add(str(parent))
        return cls(drop=True, hide=tuple(sorted(hide)), keep=tuple(sorted(keep)))

    def describe(self) -> str:
        if not self.drop:
            return "separate process with resource limits (not root: no uid drop, files visible)"
        return (
            "separate process under a uid of its own, private mount and network namespaces, "
            f"{len(self.hide)} course path(s) hidden, resource limits"
        )


def _dataset_folders() -> list[str]:
    """Data bundled with scikit-learn (digits, iris...): a student could look up the
    labels of the grader's test images there, so children do not see it."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return []
    datasets = Path(next(iter(spec.submodule_search_locations))) / "datasets"
    return [str(datasets / name) for name in ("data", "images", "descr")]


LEASES = Path(tempfile.gettempdir()) / "autograder-uids"
UID_RANGE = 4096


@contextmanager
def uid_lease(drop: bool) -> Iterator[int | None]:
    """A uid no other sandboxed child on this machine uses while the lease is held.

    Leases are ``flock``s on files in LEASES, so they hold across threads, processes and
    concurrent grading runs; a lease left by a killed grader is free again, and whatever
    that grader's children left running under the uid is killed before reuse.
    """
    if not drop:
        yield None
        return
    LEASES.mkdir(mode=0o700, exist_ok=True)
    for uid in range(BASE_UID, BASE_UID + UID_RANGE):
        fd = os.open(LEASES / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            if os.pread(fd, 5, 0) != b"clean":  # a grader died holding it: reap leftovers
                _kill_uid(uid)
            os.pwrite(fd, b"dirty", 0)
            yield uid
            os.pwrite(fd, b"clean", 0)  # every child of the lease was reaped by the server
        finally:
            os.close(fd)
        return
    raise RuntimeError(f"all {UID_RANGE} sandbox uids are in use")


@dataclass(frozen=True)
class Cell:
    id: str
    source: str


@dataclass(frozen=True)
class Probe:
    """A recipe of calls: ``steps`` as understood by child.py, ``send`` the names returned."""

    id: str
    steps: list[dict]
    send: list[str]
    group: str = ""  # after a timeout, the rest of the group is skipped


@dataclass
class Outcome:
    """Everything that came back from the child(ren) for one submission."""

    values: dict[str, dict[str, np.ndarray | str]] = field(default_factory=dict)
    probe_errors: dict[str, str] = field(default_factory=dict)
    cell_errors: dict[str, str] = field(default_factory=dict)
    children: int = 0
    grader_error: str = ""
    uid: int | None = None  # the uid the children ran as, if they dropped privileges


def run(
    cells: list[Cell],
    probes: list[Probe],
    inputs: dict[str, np.ndarray],
    limits: Limits,
    isolation: Isolation,
) -> Outcome:
    """Execute ``cells`` then ``probes`` in sandboxed children; never raises for student faults."""
    with uid_lease(isolation.drop) as uid:
        return _run(cells, probes, inputs, limits, isolation, uid)


def _run(cells, probes, inputs, limits, isolation, uid) -> Outcome:
    outcome = Outcome(uid=uid)
    base = Path(tempfile.mkdtemp(prefix="autograder-"))
    try:
        np.savez(base / "inputs.npz", **inputs)
        os.chmod(base / "inputs.npz", 0o600)  # read by the child before it drops root
        (base / "work").mkdir()
        if uid is not None:
            os.chmod(base, 0o711)
            os.chown(base / "work", uid, uid)
            os.chmod(base / "work", 0o700)
        remaining = [p.id for p in probes]
        skip: list[str] = []
        started = time.monotonic()
        while remaining:
            if time.monotonic() - started > limits.total_seconds:
                for pid in remaining:
                    outcome.probe_errors[pid] = "not run: the submission used up its time budget"
                break
            plan_probes = [p for p in probes if p.id in remaining]
            culprit, reason = _attempt(
                base, cells, skip, plan_probes, limits, isolation, uid, outcome, remaining
            )
            outcome.children += 1
            if culprit is None:
                break
            kind, name = culprit
            if kind == "cell":
                outcome.cell_errors[name] = reason
                skip.append(name)
            elif kind == "probe":
                outcome.probe_errors[name] = reason
                remaining.remove(name)
                if reason.startswith("timed out"):
                    _skip_group(name, probes, remaining, outcome)
            else:
                for pid in remaining:
                    outcome.probe_errors[pid] = reason
                break
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return outcome


ZYGOTE_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}


class Zygote:
    """The parent's handle on one fork server (``child.py``): it forks a sandboxed child
    per request, so NumPy is imported once per grading thread instead of once per child.
    One request at a time: ``spawn`` then ``wait``."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock = ours
        self.process = subprocess.Popen(
            [sys.executable, "-I", str(CHILD), str(theirs.fileno())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=None if os.environ.get("AUTOGRADER_DEBUG") else subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
            cwd="/",
            env=ZYGOTE_ENV,
            start_new_session=True,
        )
        theirs.close()

    def spawn(self, plan: Path, channel: int, uid: int | None) -> int:
        """Fork a child for ``plan``; when it ends, the server also kills every process
        left under ``uid`` before it reports the exit status."""
        message = f"{plan}\n{'' if uid is None else uid}"
        socket.send_fds(self.sock, [message.encode()], [channel])
        return self._read_int()

    def wait(self) -> int:
        return self._read_int()

    def _read_int(self) -> int:
        data = b""
        while len(data) < 4:
            chunk = self.sock.recv(4 - len(data))
            if not chunk:
                raise ConnectionError("the sandbox's fork server stopped")
            data += chunk
        return struct.unpack(">i", data)[0]

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self.sock.close()
        self.process.kill()
        self.process.wait()


_LOCAL = threading.local()


def zygote() -> Zygote:
    """This thread's fork server, started on first use (and again if it died)."""
    server = getattr(_LOCAL, "zygote", None)
    if server is None or not server.alive():
        server = _LOCAL.zygote = Zygote()
    return server


def _skip_group(name: str, probes: list[Probe], remaining: list[str], outcome: Outcome) -> None:
    """After a probe timed out, do not wait again for the other probes of its group."""
    group = next(p.group for p in probes if p.id == name)
    if not group:
        return
    for probe in probes:
        if probe.group == group and probe.id in remaining:
            remaining.remove(probe.id)
            outcome.probe_errors[probe.id] = "not run: an earlier call of the same part timed out"


def _attempt(base, cells, skip, probes, limits, isolation, uid, outcome, remaining):
    """One child process. Returns (culprit, reason) if it had to stop early, else (None, "").

    ``base`` (root's) holds the plan, the inputs and the bind-mount stash; the child
    works in ``base/work``, which is all it can write.
    """
    read_end, write_end = os.pipe()
    plan = {
        "inputs": str(base / "inputs.npz"),
        "cells": [{"id": c.id, "source": c.source} for c in cells],
        "skip_cells": skip,
        "probes": [{"id": p.id, "steps": p.steps, "send": p.send} for p in probes],
        "jail": {
            "workdir": str(base / "work"),
            "stash": str(base / f"stash{outcome.children}"),
            "uid": uid,
            "hide": list(isolation.hide),
            "keep": list(isolation.keep),
            "limits": {
                "cpu_seconds": limits.cpu_seconds,
                "memory_bytes": limits.memory_bytes,
                "file_bytes": limits.file_bytes,
                "processes": limits.processes,
            },
        },
    }
    plan_path = base / "plan.json"
    plan_path.write_text(json.dumps(plan), encoding="utf-8")
    os.chmod(plan_path, 0o600)
    try:
        pid = zygote().spawn(plan_path, write_end, uid)
    finally:
        os.close(write_end)
    reader = FrameReader(limits.result_bytes)
    phase, deadline = ("startup", ""), time.monotonic() + limits.startup_seconds
    culprit, reason = None, ""
    selector = selectors.DefaultSelector()
    selector.register(read_end, selectors.EVENT_READ)
    ended = False
    try:
        while True:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                culprit, reason = phase, _timeout_message(phase, limits)
                break
            if not selector.select(timeout):
                continue
            data = os.read(read_end, 1 << 20)
            if not data:
                break
            for frame in reader.feed(data):
                phase, deadline, ended = _apply(frame, phase, deadline, limits, outcome, remaining)
            if reader.error is not None:
                culprit = phase
                reason = f"your code corrupted the grader's result channel: {reader.error}"
                break
            if ended:
                break
    finally:
        selector.close()
        os.close(read_end)
        returncode = _kill(pid)
    if culprit is None and not ended:
        culprit, reason = phase, _death_message(returncode)
    if culprit is not None and culprit[0] == "startup":
        outcome.grader_error = f"the sandboxed process could not start: {reason}"
        return ("all", ""), "not run: the grader could not start the sandbox"
    if culprit is not None and culprit[0] == "between":
        return ("all", ""), reason
    return culprit, reason


def _apply(frame, phase, deadline, limits, outcome, remaining):
    """Update the phase and the outcome from one frame. Returns (phase, deadline, ended)."""
    header, now = frame.header, time.monotonic()
    kind = header["t"]
    if kind == "cell_start":
        return ("cell", str(header.get("cell"))), now + limits.cell_seconds, False
    if kind == "cell_error":
        outcome.cell_errors[str(header.get("cell"))] = str(header.get("error", ""))[:500]
    elif kind == "probe_start":
        return ("probe", str(header.get("probe"))), now + limits.probe_seconds, False
    elif kind == "value" and phase[0] == "probe":
        outcome.values.setdefault(phase[1], {})[str(header.get("name"))] = frame.array
    elif kind == "bad_value" and phase[0] == "probe":
        outcome.values.setdefault(phase[1], {})[str(header.get("name"))] = (
            f"bad:{str(header.get('type'))[:80]}"
        )
    elif kind == "probe_error" and phase[0] == "probe":
        outcome.probe_errors[phase[1]] = str(header.get("error", ""))[:500]
    elif kind == "probe_done" and phase[0] == "probe":
        if phase[1] in remaining:
            remaining.remove(phase[1])
        return ("between", ""), now + limits.probe_seconds, False
    elif kind == "end":
        return phase, deadline, True
    return phase, deadline, False


def _timeout_message(phase, limits) -> str:
    kind, name = phase
    if kind == "cell":
        return f"timed out: running cell '{name}' took longer than {limits.cell_seconds:g} s"
    if kind == "probe":
        return f"timed out: the call took longer than {limits.probe_seconds:g} s (an endless loop?)"
    return f"timed out after {limits.startup_seconds:g} s"


def _death_message(returncode) -> str:
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        why = {
            "SIGXCPU": "it used up its CPU time",
            "SIGKILL": "it was killed (CPU time or memory limit)",
            "SIGSEGV": "it crashed (segmentation fault)",
            "SIGXFSZ": "it wrote a file larger than allowed",
        }.get(name, f"it received {name}")
        return f"the process running your code stopped: {why}"
    return f"your code ended the grading process (exit status {returncode})"


def _kill(pid: int) -> int:
    """Kill the child and its process group; the fork server then kills whatever else runs
    under the child's uid. Returns the child's exit code (negative: killed by a signal)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return zygote().wait()


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of ``uid`` (see child.kill_every_process_of), from here."""
    reaper = os.fork()
    if reaper == 0:
        try:
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(reaper, 0)
