"""The only program that ever runs student code: a fork server (a "zygote").

The grader starts it once per worker (``python -I child.py SOCKET_FD``), inside
bubblewrap where the machine has it (see ``isolation.py``), with an empty environment. It
imports NumPy once, then serves requests on a SOCK_SEQPACKET socket. A request is a small
JSON object (mode, uid, limits) with, where cgroups are used, open ``cgroup.procs``
files attached. The server never runs student code and never reads a plan: for each
request (in the namespace modes ahead of it, as a spare) it creates the result and
command pipes and starts

* the *init*, in the namespace modes: PID 1 of a new PID namespace (the server calls
  ``unshare(CLONE_NEWPID)``, starts the init, forks the child into the same namespace,
  and calls ``setns`` back to its own). The init is made by ``clone(CLONE_VM |
  CLONE_FILES)``: it shares the server's memory and file table, so no page table is
  copied for it (a fork of a NumPy process costs about 1.5 ms of CPU here), and it only
  ever sleeps in ``pause()`` (no signal handler is installed, so nothing inside the
  namespace can wake or kill it). Its one job is to be PID 1: when it dies, the kernel
  kills every process of the namespace, so nothing a submission started outlives it;
  processes the submission orphans stay unreaped until then (they count against its
  own process limit only);
* the *child*, a fork of the server and PID 2 of that namespace, which locks itself in
  (``jail``): as root still, new mount and IPC namespaces, fresh tmpfs mounts for its
  working directory, ``/tmp``, ``/var/tmp`` and ``/dev/shm``, its own ``/proc`` and the
  submission's cgroup; then resource limits, an unprivileged uid, no capabilities. Then
  it reads its plan from the command pipe, runs the cells, and runs the probes, whose
  inputs wait in the pipe in the plan's order.

A submission's student code thus never runs as PID 1, so signals reach it as they would
anywhere (``abort()`` ends it with SIGABRT, a CPU limit with SIGXCPU). The server answers
a request with the child's pid and, attached, its ends of the two pipes (the read end of
the results, the write end of the commands), then waits for one byte ``K`` or ``E`` from
the grader: it collects the child's exit status (waiting for it a moment after ``E``:
the child closed its pipe), kills the init, replies with the status, and reaps both
while the grader judges.

Frames (both directions): a 4-byte big-endian length, a UTF-8 JSON header, then raw array
bytes (C order) as the header describes. Only numbers and arrays are sent back; the
grader trusts none of it. This file imports nothing from the autograder package.
"""

import builtins
import contextlib
import ctypes
import gc
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import traceback

CLONE_VM, CLONE_FILES = 0x100, 0x400
CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWIPC = 0x00020000, 0x20000000, 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 1, 2, 4, 8, 32, 4096
MS_REC, MS_PRIVATE = 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
WORKDIR = "/student"
LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.clone.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
PAUSE = ctypes.cast(LIBC.pause, ctypes.c_void_p).value
INIT_STACK = 1 << 16  # bytes of stack for an init, which only calls pause()
CHANNEL = [-1, 0]  # the result pipe of the current child, and the pid allowed to write it


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]


def _check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source, target, fstype, flags, options):
    args = [None if a is None else a.encode() for a in (source, target, fstype, options)]
    _check(LIBC.mount(args[0], args[1], args[2], flags, args[3]), f"mount {target}")


def _send(header, payload=b""):
    """Write one frame; a forked copy of the child (a fork bomb's) leaves instead."""
    if os.getpid() != CHANNEL[1]:
        os._exit(0)
    data = json.dumps(header).encode()
    os.write(CHANNEL[0], struct.pack(">I", len(data)) + data)
    view = memoryview(payload)
    while view:
        view = view[os.write(CHANNEL[0], view[: 1 << 20]) :]


def _read_exact(fd, count):
    chunks, left = [], count
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the grader closed the command pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _receive(fd):
    """One frame from the grader: (header, payload)."""
    (size,) = struct.unpack(">I", _read_exact(fd, 4))
    header = json.loads(_read_exact(fd, size))
    return header, _read_exact(fd, header.get("nbytes", 0))


def _receive_inputs(fd, np):
    header, payload = _receive(fd)
    inputs, offset = {}, 0
    for name, dtype, shape, nbytes in header["arrays"]:
        array = np.frombuffer(payload[offset : offset + nbytes], dtype=dtype).reshape(shape)
        inputs[name] = array.copy()
        offset += nbytes
    return inputs


def drop_capabilities():
    """No capabilities left in any set, and none to be gained by exec."""
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()
    _check(LIBC.capset(ctypes.byref(header), data), "capset")
    _check(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def enter_namespaces(request):
    """In the child, inside its PID namespace: private mounts and IPC, fresh tmpfs for the
    working directory, /tmp, /var/tmp and /dev/shm, and a /proc of this namespace."""
    if request["mode"] == "plain":
        os.setsid()
        return
    uid = request["uid"] if request["mode"] == "root" else os.getuid()
    _check(LIBC.unshare(CLONE_NEWNS | CLONE_NEWIPC), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    rebind = request.get("rebind", [])
    for folder, stash in rebind:  # parts of the installation under /tmp (a venv there)
        _mount(folder, stash, None, MS_BIND | MS_REC, None)
    size = f"size={request['limits']['tmp_bytes']},nr_inodes=4096,uid={uid},gid={uid}"
    for path, bits in (("/tmp", 1777), ("/var/tmp", 1777), ("/dev/shm", 1777)):
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"{size},mode={bits}")
    _mount("tmpfs", WORKDIR, "tmpfs", MS_NOSUID | MS_NODEV, f"{size},mode=700")
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    for folder, stash in rebind:
        os.makedirs(folder, mode=0o755, exist_ok=True)
        _mount(stash, folder, None, MS_BIND | MS_REC, None)
        _mount(None, folder, None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)


def jail(request):
    """Limits, then the unprivileged uid and no capabilities: the last step before the
    first student line runs."""
    mode, limits = request["mode"], request["limits"]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
    if mode == "root":
        os.setgroups([])
        os.setgid(request["uid"])
        os.setuid(request["uid"])
    if mode != "plain":
        drop_capabilities()
    # Die with the server (set again after the uid change, which clears it).
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    workdir = request["workdir"] if mode == "plain" else WORKDIR
    os.chdir(workdir)
    os.environ["HOME"] = os.environ["TMPDIR"] = workdir


def _describe(error):
    try:
        text = f"{type(error).__name__}: {error}"
    except BaseException:  # a hostile __str__
        text = type(error).__name__
    frames = [
        f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith("<cell")
    ]
    where = f" (in {frames[-1].filename[1:-1]}, line {frames[-1].lineno})" if frames else ""
    return (text[:400] + where)[:500]


def serve(sock_fd):
    """The fork server's loop: one request at a time, until the grader closes the socket.

    When the request asks for it (a class run), except in plain mode, the next
    submission's processes are started as soon as the last one's are gone (a *spare*:
    forked, namespaced, mounted, jailed, waiting for its plan), so that their set-up
    overlaps the grader's judging instead of delaying it."""
    import numpy  # noqa: F401  (preloaded once, inherited by every child)

    # Every object alive now is shared with each child, page by page, until one of them
    # writes to it; a garbage collection in a child writes to the header of every object
    # it visits, copying nearly the whole heap (about 10 ms a child). Frozen objects are
    # never visited: the children collect only what they allocate themselves.
    gc.freeze()
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # Python's own SIGINT handler would be copied into each init: with none, a signal
    # sent to an init from inside its namespace is dropped by the kernel.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    server = socket.socket(fileno=sock_fd)
    try:
        _serve_requests(server)
    finally:
        for running in SPARE:
            running.kill()


SPARE = []  # the prepared child (and init) of the next request, if any


def _serve_requests(server):
    budget = []
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(server, 1 << 16, 8)
        except OSError:
            return
        if not message:
            return
        request = json.loads(message)
        for fd in budget:  # the cgroup.procs files of the request just received replace these
            os.close(fd)
        budget = fds
        if SPARE and SPARE[0].key != _key(request):
            SPARE.pop().kill()
        running = SPARE.pop() if SPARE else Running(server, request, budget)
        status = serve_one(server, running)
        server.send(struct.pack(">i", status))
        running.reap()  # killed already: the grader need not wait for the kernel's cleanup
        if request["mode"] != "plain" and request.get("spare"):
            SPARE.append(Running(server, request, budget))


def _key(request):
    """What a spare must have been started with to serve ``request``."""
    return json.dumps(request, sort_keys=True)


OWN_PID_NAMESPACE = []  # an open /proc/self/ns/pid of the server, once it needs one


def _own_pid_namespace():
    if not OWN_PID_NAMESPACE:
        OWN_PID_NAMESPACE.append(os.open("/proc/self/ns/pid", os.O_RDONLY))
    return OWN_PID_NAMESPACE[0]


def start_init():
    """A process that shares this one's memory and file table and sleeps in ``pause()``
    until killed (after ``unshare(CLONE_NEWPID)``: PID 1 of the new namespace). Sharing
    the file table, it holds no copy of a pipe end that this process closes. Returns (its
    pid, the stack it sleeps on, which must live as long as it does)."""
    stack = ctypes.create_string_buffer(INIT_STACK)
    top = (ctypes.addressof(stack) + INIT_STACK) & ~15
    pid = LIBC.clone(PAUSE, top, CLONE_VM | CLONE_FILES | signal.SIGCHLD, None)
    if pid < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"clone: {os.strerror(errno)}")
    return pid, stack


class Running:
    """The processes of one submission: the child (and, in the namespace modes, the init
    of its PID namespace), with the server's ends of its pipes."""

    def __init__(self, server, request, budget):
        self.key = _key(request)
        namespaced = request["mode"] != "plain"
        own = _own_pid_namespace() if namespaced else -1
        self.init, self.stack, self.status, self.ends = -1, None, None, []
        child = -1
        try:
            if namespaced:  # the next process this server starts is PID 1 of a new namespace
                _check(LIBC.unshare(CLONE_NEWPID), "unshare pid")
                self.init, self.stack = start_init()
            result_r, result_w = os.pipe()
            command_r, command_w = os.pipe()
            child = os.fork()  # PID 2 of that namespace
        finally:
            if namespaced and child != 0:  # back (here, not in the child): later processes
                _check(LIBC.setns(own, CLONE_NEWPID), "setns pid")  # start in this one
            if child < 0:  # the fork failed
                self.child = -1
                self.kill()
        if child == 0:
            server.close()
            for fd in (result_r, command_w, *OWN_PID_NAMESPACE):
                os.close(fd)
            try:
                run_child(request, [result_w, command_r, *budget])
            finally:
                os._exit(70)
        for fd in (result_w, command_r):
            os.close(fd)
        self.child = child
        self.ends = [result_r, command_w]  # handed to the grader, then closed here

    def wait(self, timeout):
        """The child's exit status, waiting at most ``timeout`` seconds for it to end;
        -SIGKILL if it has not ended by then (it is killed next)."""
        if self.status is None and timeout > 0:
            with _pidfd(self.child) as fd:
                if fd >= 0:
                    select.select([fd], [], [], timeout)
        if self.status is None:
            pid, status = os.waitpid(self.child, os.WNOHANG)
            if pid == self.child:
                self.status = os.waitstatus_to_exitcode(status)
        return -signal.SIGKILL if self.status is None else self.status

    def stop(self):
        """SIGKILL the init (PID 1 of a namespace takes every process in it along; in plain
        mode the child's process group goes at least)."""
        targets = [(os.kill, self.init)] if self.init > 0 else []
        if self.child > 0:  # its group (plain mode); itself, unless reaped (its pid is free)
            targets.append((os.killpg, self.child))
            targets += [(os.kill, self.child)] if self.status is None else []
        for kill, pid in targets:
            try:
                kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def reap(self):
        """Wait for the killed processes: the child first, since the init's end waits for
        every process of its namespace to be reaped."""
        if self.child > 0 and self.status is None:
            os.waitpid(self.child, 0)
            self.status = -signal.SIGKILL
        if self.init > 0:
            os.waitpid(self.init, 0)
            self.init, self.stack = -1, None
        for fd in self.ends:
            try:
                os.close(fd)
            except OSError:
                pass
        self.ends = []

    def kill(self):
        """Stop every process of this submission and wait for them."""
        self.stop()
        self.reap()


@contextlib.contextmanager
def _pidfd(pid):
    """A pidfd of ``pid`` (readable once it has ended), or -1 where there is none."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        yield -1
        return
    try:
        yield fd
    finally:
        os.close(fd)


def serve_one(server, running):
    """Hand the grader its ends of the pipes with the child's pid, then wait for its word:
    ``K`` (kill now) or ``E`` (the child's pipe closed: collect its status, then kill).
    Returns the child's exit status; its processes are killed, not yet reaped."""
    socket.send_fds(server, [struct.pack(">i", running.child)], running.ends)
    for fd in running.ends:
        os.close(fd)
    running.ends = []
    word = b""
    while word not in (b"K", b"E"):
        word = server.recv(16)
        if not word:
            break
    status = running.wait(2.0 if word == b"E" else 0.0)
    running.stop()
    return status


def run_child(request, fds):
    """The child (a fork of the server): as root still, its own mounts and cgroup; then
    the jail, the plan, the cells and the probes."""
    out, commands, *budget = fds
    CHANNEL[:] = [out, os.getpid()]
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the server
    enter_namespaces(request)
    for fd in budget:  # join the submission's cgroup(s) before any student code runs
        os.write(fd, b"0")
        os.close(fd)
    jail(request)
    import numpy as np

    plan, _ = _receive(commands)
    ndarray, generic, ascontig = np.ndarray, np.generic, np.ascontiguousarray

    def send_value(probe, name, value):
        if isinstance(value, (float, int, bool, generic)):
            value = np.asarray(value)
        if not isinstance(value, ndarray):
            _send({"t": "bad_value", "probe": probe, "name": name, "type": type(value).__name__})
            return
        array = ascontig(ndarray.view(value, ndarray))
        if array.dtype.kind not in "biuf" or array.dtype.itemsize > 8:
            _send({"t": "bad_value", "probe": probe, "name": name, "type": f"{array.dtype} array"})
            return
        header = {"t": "value", "probe": probe, "name": name, "dtype": array.dtype.str}
        header.update(shape=list(array.shape), nbytes=array.nbytes)
        _send(header, array.tobytes())

    namespace = {"__name__": "__main__", "__builtins__": builtins}
    skip = set(plan["skip_cells"])
    for cell in plan["cells"]:
        if cell["id"] in skip:
            continue
        _send({"t": "cell_start", "cell": cell["id"]})
        try:
            exec(compile(cell["source"], f"<cell {cell['id']}>", "exec"), namespace)
        except BaseException as error:
            _send({"t": "cell_error", "cell": cell["id"], "error": _describe(error)})

    for probe in plan["probes"]:
        pid = probe["id"]
        _send({"t": "probe_start", "probe": pid})
        inputs = _receive_inputs(commands, np)
        env = {}
        try:
            for step in probe["steps"]:
                if "get" in step:
                    env[step["save"]] = env[step["get"]][step["key"]]
                    continue
                function = namespace.get(step["call"])
                if function is None:
                    raise NameError(f"name '{step['call']}' is not defined")
                args = [_argument(a, inputs, env) for a in step["args"]]
                given = [p for a, v in zip(step["args"], args, strict=True) for p in _given(a, v)]
                result = function(*args)
                if os.getpid() != CHANNEL[1]:  # a forked copy returning: not ours to report
                    os._exit(0)
                for name, value in given:  # the inputs as the student left them
                    send_value(pid, f"after:{name}", value)
                names = step["save"]
                if len(names) == 1 and not isinstance(result, (tuple, list)):
                    result = (result,)
                if not isinstance(result, (tuple, list)) or len(result) != len(names):
                    count = len(result) if isinstance(result, (tuple, list)) else 1
                    raise TypeError(
                        f"{step['call']} returned {count} value(s), expected {len(names)}: "
                        + ", ".join(names)
                    )
                env.update(zip(names, result, strict=True))
            for name in probe["send"]:
                send_value(pid, name, env[name])
        except BaseException as error:
            _send({"t": "probe_error", "probe": pid, "error": _describe(error)})
        del inputs, env
        _send({"t": "probe_done", "probe": pid})
    _send({"t": "end"})


def _argument(spec, inputs, env):
    """Build one call argument from its spec (see autograder/checks/base.py)."""
    if "in" in spec:
        return inputs[spec["in"]].copy()
    if "var" in spec:
        return env[spec["var"]]
    if "dict" in spec:
        return {k: _argument(v, inputs, env) for k, v in spec["dict"].items()}
    if "list" in spec:
        return [_argument(v, inputs, env) for v in spec["list"]]
    if "code" in spec:
        import numpy as np

        bound = {k: _argument(v, inputs, env) for k, v in spec.get("with", {}).items()}
        return eval(spec["code"], {"np": np, "__builtins__": builtins, **bound})
    return spec["lit"]


def _given(spec, value):
    """(input name, the object handed over) for every ``{"in": name}`` inside ``spec``
    (top level, dict and list specs; not code), followed through ``value`` after the call."""
    if "in" in spec:
        return [(spec["in"], value)]
    if "dict" in spec and isinstance(value, dict):
        return [p for k, v in spec["dict"].items() for p in _given(v, value.get(k))]
    if "list" in spec and isinstance(value, list):
        return [p for s, v in zip(spec["list"], value, strict=False) for p in _given(s, v)]
    return []


def selftest(mode, rebind):
    """Exit 0 if a child can be locked in as in ``mode`` here (run by the grader once, to
    choose the mode: bubblewrap may start where namespaces or mounts inside it fail)."""
    request = {"mode": mode, "uid": 65534, "limits": {"tmp_bytes": 1 << 20}, "rebind": rebind}
    init = -1
    if mode != "plain":  # as the server does it: an init, then the child beside it
        own = os.open("/proc/self/ns/pid", os.O_RDONLY)
        _check(LIBC.unshare(CLONE_NEWPID), "unshare pid")
        init, stack = start_init()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            enter_namespaces(request)
            os.stat(sys.executable)  # the interpreter is still there, whatever was remounted
            if mode != "plain" and os.getpid() != 2:
                raise OSError("the child is not beside the init of its namespace")
            if mode == "root":
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            if mode != "plain":
                drop_capabilities()
            code = 0
        finally:
            os._exit(code)
    if mode != "plain":  # back to its own namespace and out again, as the server does
        _check(LIBC.setns(own, CLONE_NEWPID), "setns pid")
        _check(LIBC.unshare(CLONE_NEWPID), "unshare pid again")
    _, status = os.waitpid(child, 0)
    if init > 0:
        os.kill(init, signal.SIGKILL)
        os.waitpid(init, 0)
        del stack
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    if sys.argv[1] == "--selftest":
        selftest(sys.argv[2], json.loads(sys.argv[3]))
    serve(int(sys.argv[1]))
