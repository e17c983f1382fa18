"""The grader's handle on one fork server (``child.py``), started once per worker.

It starts the server (under bubblewrap unless the mode is ``plain``), leases the uid its
children run as, creates its cgroup, and runs one request at a time: ``spawn`` hands the
server a child's pipes and budget, ``finish`` makes it kill the child and returns the
exit status. A server that died (only possible in ``plain`` mode, where student code can
signal it) raises ``ConnectionError`` and is replaced on the next ``zygote()`` call.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import itertools
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from . import cgroup
from .isolation import CHILD_PATH, Isolation, Limits, bwrap_prefix, rebinds

CHILD = Path(__file__).with_name("child.py")
BASE_UID = 61000
UID_RANGE = 4096
LEASES = Path(tempfile.gettempdir()) / "autograder-uids"
ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}
_NAMES = itertools.count()


def lease_uid() -> tuple[int, int]:
    """A uid that no other fork server on this machine uses, as (uid, lock fd).

    Leases are ``flock``s on files in LEASES, so they hold across processes and
    concurrent grading runs and are released when their holder dies.
    """
    LEASES.mkdir(mode=0o700, exist_ok=True)
    for uid in range(BASE_UID, BASE_UID + UID_RANGE):
        fd = os.open(LEASES / str(uid), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return uid, fd
    raise RuntimeError(f"all {UID_RANGE} sandbox uids are in use")


class Zygote:
    """One fork server with its uid lease and cgroup; one request at a time."""

    def __init__(self, isolation: Isolation, limits: Limits) -> None:
        self.isolation, self.limits = isolation, limits
        self.uid, self._lease = lease_uid() if isolation.mode == "root" else (None, None)
        self.budget = None
        if isolation.mode == "root":
            cgroup.remove_stale(alive={os.getpid()})
            name = f"{os.getpid()}-{next(_NAMES)}"
            self.budget = cgroup.Budget.create(name, limits.memory_bytes, limits.processes)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        if isolation.mode == "plain":
            command = [sys.executable, "-I", str(CHILD), str(theirs.fileno())]
        else:
            command = [*bwrap_prefix(isolation), sys.executable, "-I", CHILD_PATH]
            command.append(str(theirs.fileno()))
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=None if os.environ.get("AUTOGRADER_DEBUG") else subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
            cwd="/",
            env=ENV,
            start_new_session=True,
        )
        theirs.close()

    def spawn(self, workdir: str) -> tuple[int, int]:
        """Start a child (or take the one the server has ready); returns this side's ends
        of its pipes: (the result pipe's read end, the command pipe's write end)."""
        limits = self.limits
        request = {
            "mode": self.isolation.mode,
            "uid": self.uid,
            "workdir": workdir,
            "rebind": rebinds(self.isolation),
            "spare": bool(getattr(_LOCAL, "spares", False)),  # prepare the next child?
            "limits": {
                "cpu_seconds": limits.cpu_seconds,
                "memory_bytes": limits.memory_bytes,
                "file_bytes": limits.file_bytes,
                "processes": limits.processes,
                "tmp_bytes": limits.tmp_bytes,
            },
        }
        budget = self.budget.fds if self.budget else []
        try:
            message = [json.dumps(request).encode()]
            if budget:
                socket.send_fds(self.sock, message, budget)
            else:
                self.sock.sendmsg(message)
            data, fds, _, _ = socket.recv_fds(self.sock, 16, 2)
        except OSError:
            raise ConnectionError("the sandbox's fork server stopped") from None
        if len(data) != 4 or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            raise ConnectionError("the sandbox's fork server stopped")
        return fds[0], fds[1]

    def finish(self, ended: bool) -> int:
        """Kill the current child (and everything in its namespace); its exit status.
        ``ended``: the child closed its pipe, so wait a moment for its own status first."""
        try:
            self.sock.send(b"E" if ended else b"K")
        except OSError:
            raise ConnectionError("the sandbox's fork server stopped") from None
        return self._read_int()

    def _read_int(self) -> int:
        try:
            data = self.sock.recv(4)
        except OSError:
            data = b""
        if len(data) != 4:
            raise ConnectionError("the sandbox's fork server stopped")
        return struct.unpack(">i", data)[0]

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self.sock.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.budget:
            self.budget.close()
        if self._lease is not None:
            os.close(self._lease)
            self._lease = None


_LOCAL = threading.local()
_ALL: list[Zygote] = []


def zygote(isolation: Isolation, limits: Limits) -> Zygote:
    """This thread's fork server for ``isolation`` and ``limits``, started on first use
    (and again if it died or the settings changed)."""
    server = getattr(_LOCAL, "zygote", None)
    if server is not None and (
        not server.alive() or (server.isolation, server.limits) != (isolation, limits)
    ):
        discard(server)
        server = None
    if server is None:
        server = _LOCAL.zygote = Zygote(isolation, limits)
        _ALL.append(server)
    return server


def enable_spares() -> None:
    """From now on this thread's fork server prepares the next child while the grader
    judges the last one (for a process that grades many submissions, then exits)."""
    _LOCAL.spares = True


@contextlib.contextmanager
def spares():
    """Spares for the duration of a class run in this thread; at its end the fork server
    and its prepared child are stopped, so no process of the sandbox outlives the run."""
    before = getattr(_LOCAL, "spares", False)
    _LOCAL.spares = True
    try:
        yield
    finally:
        _LOCAL.spares = before
        server = getattr(_LOCAL, "zygote", None)
        if server is not None:
            discard(server)


def discard(server: Zygote) -> None:
    """Stop ``server`` and forget it (after it died, or a protocol error)."""
    if getattr(_LOCAL, "zygote", None) is server:
        _LOCAL.zygote = None
    if server in _ALL:
        _ALL.remove(server)
    try:
        server.process.kill()
    except OSError:
        pass
    server.close()


@atexit.register
def _close_all() -> None:
    for server in list(_ALL):
        server.close()
    _ALL.clear()
