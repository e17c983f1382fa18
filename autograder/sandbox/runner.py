"""Parent side of the sandbox: drive children of the fork server, stream frames, deadlines.

The parent never executes student code. For each child it sends the plan (cells to
execute, probes to call) down a command pipe, and a probe's input arrays only when the
child announces that probe, so a child holds the inputs of one probe at a time. It reads
frames from the result pipe with a deadline for every phase (start-up, each cell, each
probe). A phase that overruns, a child that dies, or a frame that breaks the protocol is
recorded against that cell or probe; a new child then resumes after it, so one infinite
loop costs only the part that contains it.
"""

from __future__ import annotations

import functools
import os
import selectors
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .isolation import Isolation, Limits
from .wire import ChannelError, FrameReader, clean_text, encode, encode_inputs, scrub_numbers
from .zygote import discard, zygote

MAX_MESSAGE = 500  # characters of an error message kept from the child


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

    @functools.cached_property
    def inputs(self) -> list[str]:
        """Names of the input arrays that the steps refer to, sorted."""
        return sorted(probe_inputs(self))

    @functools.cached_property
    def returns(self) -> frozenset[str]:
        """Every value name the child may send for this probe: the results, and each
        input as the student's function left it (``after:<name>``)."""
        return frozenset(self.send) | {f"after:{n}" for n in self.inputs}


@dataclass
class Outcome:
    """Everything that came back from the child(ren) for one submission.

    ``values[probe][name]``: an array, or ``"bad:<type>"`` for a value that was not a
    plain numeric array; ``after:<input>`` names hold an input array as the student's
    function left it.
    """

    values: dict[str, dict[str, np.ndarray | str]] = field(default_factory=dict)
    probe_errors: dict[str, str] = field(default_factory=dict)
    cell_errors: dict[str, str] = field(default_factory=dict)
    children: int = 0
    grader_error: str = ""
    uid: int | None = None  # the uid the children ran as, if they dropped privileges
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase, see PHASES


PHASES = {  # phase kind -> what the time in it is spent on
    "spawn": "fork and jail set-up",
    "startup": "fork and jail set-up",
    "setup": "setup cells",
    "cell": "student cells",
    "probe": "probes (inputs down, calls, arrays up)",
    "between": "probes (inputs down, calls, arrays up)",
    "stop": "stopping the child",
}


def probe_inputs(probe: Probe) -> set[str]:
    """Names of the input arrays that ``probe``'s steps refer to."""
    names: set[str] = set()

    def walk(spec) -> None:
        if isinstance(spec, dict):
            if isinstance(spec.get("in"), str):
                names.add(spec["in"])
            for value in spec.values():
                walk(value)
        elif isinstance(spec, list):
            for value in spec:
                walk(value)

    walk(probe.steps)
    return names


def run(
    cells: list[Cell],
    probes: list[Probe],
    inputs: dict[str, np.ndarray],
    limits: Limits,
    isolation: Isolation,
) -> Outcome:
    """Execute ``cells`` then ``probes`` in sandboxed children; never raises for student faults."""
    outcome = Outcome()
    base = Path(tempfile.mkdtemp(prefix="autograder-")) if isolation.mode == "plain" else None
    try:
        remaining = [p.id for p in probes]
        skip: list[str] = []
        started = time.monotonic()
        while remaining:
            if time.monotonic() - started > limits.total_seconds:
                for pid in remaining:
                    outcome.probe_errors[pid] = "not run: the submission used up its time budget"
                break
            plan_probes = [p for p in probes if p.id in remaining]
            attempt = Attempt(cells, skip, plan_probes, inputs, limits, isolation, outcome)
            culprit, reason = attempt.run(base, remaining)
            outcome.children += 1
            if culprit is None:
                break
            kind, name = culprit
            if kind == "cell":
                outcome.cell_errors[name] = reason
                skip.append(name)
            elif kind == "probe":
                outcome.probe_errors[name] = reason
                if name in remaining:
                    remaining.remove(name)
                if reason.startswith("timed out"):
                    _skip_group(name, probes, remaining, outcome)
            else:
                for pid in remaining:
                    outcome.probe_errors[pid] = reason
                break
    finally:
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)
    return outcome


class Attempt:
    """One child process: the plan goes down, frames come up, until it ends or must stop."""

    def __init__(self, cells, skip, probes, inputs, limits, isolation, outcome):
        self.probes, self.limits, self.outcome = probes, limits, outcome
        self.isolation, self.inputs = isolation, inputs
        self.cell_ids = {c.id for c in cells}
        self.plan = encode(
            {
                "cells": [{"id": c.id, "source": c.source} for c in cells],
                "skip_cells": list(skip),
                "probes": [{"id": p.id, "steps": p.steps, "send": p.send} for p in probes],
            }
        )
        self.next_probe = 0  # index in ``probes`` of the next probe to be announced
        self.names: frozenset[str] = frozenset()  # value names the current probe may send
        self.clock = time.monotonic()

    def _charge(self, phase) -> None:
        """Add the time since the last phase change to ``phase``'s kind."""
        now = time.monotonic()
        kind = "setup" if phase[0] == "cell" and phase[1].startswith("setup:") else phase[0]
        name = PHASES.get(kind, kind)
        self.outcome.phases[name] = self.outcome.phases.get(name, 0.0) + now - self.clock
        self.clock = now

    def run(self, base, remaining) -> tuple[tuple[str, str] | None, str]:
        """Returns (culprit, reason) if the child had to stop early, else (None, "")."""
        server = zygote(self.isolation, self.limits)
        self.outcome.uid = server.uid
        workdir = ""
        if base is not None:
            workdir = tempfile.mkdtemp(dir=base)
        try:
            result_r, command_w = server.spawn(workdir)
            self._charge(("spawn", ""))
        except ConnectionError:
            discard(server)
            self.outcome.grader_error = "the sandbox could not be started"
            return ("all", ""), "not run: the grader could not start the sandbox"
        os.set_blocking(command_w, False)
        # The plan, then every probe's inputs in the plan's order: they wait in the pipe
        # until the child reads them at each probe's start, so no probe waits for a round
        # trip to this process (the child sees them early, but only its own inputs).
        self.outbox = bytearray(self.plan)
        for probe in self.probes:
            self.outbox += encode_inputs({n: self.inputs[n] for n in probe.inputs})
        phase, culprit, reason, ended, closed = ("startup", ""), None, "", False, False
        try:
            phase, culprit, reason, ended = self._exchange(result_r, command_w, remaining)
            closed = culprit is None and not ended
        finally:
            self._charge(phase)
            os.close(result_r)
            os.close(command_w)
            try:
                returncode = server.finish(closed)
                self._charge(("stop", ""))
            except ConnectionError:
                discard(server)
                returncode = None
                if culprit is None and not ended:
                    culprit, reason = phase, "your code stopped the grader's sandbox process"
        if culprit is None and not ended:
            culprit, reason = phase, _death_message(returncode)
        if culprit is not None and culprit[0] == "startup":
            self.outcome.grader_error = f"the sandboxed process could not start: {reason}"
            return ("all", ""), "not run: the grader could not start the sandbox"
        if culprit is not None and culprit[0] == "between":
            return ("all", ""), reason
        return culprit, reason

    def _exchange(self, result_r, command_w, remaining):
        limits = self.limits
        reader = FrameReader(limits.result_bytes)
        phase, deadline = ("startup", ""), time.monotonic() + limits.startup_seconds
        selector = selectors.DefaultSelector()
        selector.register(result_r, selectors.EVENT_READ)
        writing = False
        try:
            while True:
                if self.outbox and not writing:
                    selector.register(command_w, selectors.EVENT_WRITE)
                    writing = True
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    return phase, phase, _timeout_message(phase, limits), False
                for key, _ in selector.select(timeout):
                    if key.fd == command_w:
                        try:
                            del self.outbox[: os.write(command_w, self.outbox[: 1 << 16])]
                        except BlockingIOError:
                            pass
                        except BrokenPipeError:
                            self.outbox.clear()
                        if not self.outbox:
                            selector.unregister(command_w)
                            writing = False
                        continue
                    data = os.read(result_r, 1 << 20)
                    if not data:
                        return phase, None, "", False
                    for frame in reader.feed(data):
                        try:
                            before = phase
                            phase, deadline, ended = self._apply(frame, phase, deadline, remaining)
                            if phase != before:
                                self._charge(before)
                        except ChannelError as error:
                            reader.error = error
                            break
                        if ended:
                            return phase, None, "", True
                    if reader.error is not None:
                        reason = f"your code corrupted the grader's result channel: {reader.error}"
                        return phase, phase, reason, False
        finally:
            selector.close()

    def _apply(self, frame, phase, deadline, remaining):
        """Update the phase and the outcome from one frame. Returns (phase, deadline, ended)."""
        header, now, outcome, limits = frame.header, time.monotonic(), self.outcome, self.limits
        kind = header["t"]
        if kind == "cell_start":
            if header["cell"] not in self.cell_ids or phase[0] not in ("startup", "cell"):
                raise ChannelError("a cell was announced out of order")
            return ("cell", header["cell"]), now + limits.cell_seconds, False
        if kind == "cell_error":
            if phase != ("cell", header["cell"]):
                raise ChannelError("a cell error names another cell")
            outcome.cell_errors[header["cell"]] = _message(header["error"])
        elif kind == "probe_start":
            ahead = self.probes[self.next_probe :]
            if not ahead or header["probe"] != ahead[0].id or phase[0] == "probe":
                raise ChannelError("a check was announced out of order")
            probe = self.probes[self.next_probe]
            self.next_probe += 1
            self.names = probe.returns
            return ("probe", probe.id), now + limits.probe_seconds, False
        elif kind in ("value", "bad_value", "probe_error", "probe_done"):
            if phase != ("probe", header["probe"]):
                raise ChannelError("a result names another check")
            if kind == "value" or kind == "bad_value":
                if header["name"] not in self.names:
                    raise ChannelError("a result has a name the check does not return")
                value = frame.array if kind == "value" else f"bad:{header['type'][:80]}"
                outcome.values.setdefault(phase[1], {})[header["name"]] = value
            elif kind == "probe_error":
                outcome.probe_errors[phase[1]] = _message(header["error"])
            else:
                if phase[1] in remaining:
                    remaining.remove(phase[1])
                return ("between", ""), now + limits.probe_seconds, False
        elif kind == "end":
            return phase, deadline, True
        return phase, deadline, False


def _message(text: str) -> str:
    """An error message written by student code, as it may appear in feedback."""
    return scrub_numbers(clean_text(text, MAX_MESSAGE))


def _skip_group(name: str, probes: list[Probe], remaining: list[str], outcome: Outcome) -> None:
    """After a probe timed out, do not wait again for the other probes of its group."""
    group = next(p.group for p in probes if p.id == name)
    if not group:
        return
    for probe in probes:
        if probe.group == group and probe.id in remaining:
            remaining.remove(probe.id)
            outcome.probe_errors[probe.id] = "not run: an earlier call of the same part timed out"


def _timeout_message(phase, limits) -> str:
    kind, name = phase
    if kind == "cell":
        return f"timed out: running cell '{name}' took longer than {limits.cell_seconds:g} s"
    if kind == "probe":
        return f"timed out: the call took longer than {limits.probe_seconds:g} s (an endless loop?)"
    return f"timed out after {limits.startup_seconds:g} s"


SIGNAL_WORDS = {
    "SIGXCPU": "it used up its CPU time",
    "SIGKILL": "it was killed (CPU time or memory limit)",
    "SIGSEGV": "it crashed (segmentation fault)",
    "SIGXFSZ": "it wrote a file larger than allowed",
}


def _death_message(returncode: int | None) -> str:
    if returncode is None:
        return "the process running your code stopped the grader's sandbox process"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        why = SIGNAL_WORDS.get(name, f"it received {name}")
        return f"the process running your code stopped: {why}"
    return f"your code ended the grading process (exit status {returncode})"
