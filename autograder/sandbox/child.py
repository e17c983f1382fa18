"""The only program that ever runs student code, as a fork server (a "zygote").

The grader starts it once per grading thread (``python -I child.py SOCKET_FD``) with an
empty environment; it imports NumPy, then serves requests on a Unix socket: each request
names a plan file and passes the write end of a result pipe, and the server forks a
child for it, replies with the child's pid and later with its exit status. The server
itself never runs student code. It imports nothing from the autograder package.

Each forked child, before the first student line runs:

1. reads the plan (JSON) and loads the inputs (``np.load(..., allow_pickle=False)``)
   from the parent's private directory;
2. locks itself in (see ``jail``): new mount and network namespaces when it can, the
   course's files hidden under empty tmpfs mounts, resource limits, an unprivileged
   uid/gid, the working directory its own.

Then it executes the student's cells and the probes of the plan, and writes frames to
the result pipe. A frame is a 4-byte big-endian length, a UTF-8 JSON header of that
length, then ``header["nbytes"]`` raw bytes of an array (C order, ``header["dtype"]``,
``header["shape"]``). Only numbers and arrays are sent; the parent trusts none of it.
"""

import builtins
import ctypes
import json
import os
import resource
import signal
import socket
import struct
import sys
import traceback

CHANNEL = [-1]  # the result pipe of the current child
CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG = 1


def _send(header, payload=b""):
    data = json.dumps(header).encode()
    os.write(CHANNEL[0], struct.pack(">I", len(data)) + data)
    view = memoryview(payload)
    while view:
        view = view[os.write(CHANNEL[0], view[: 1 << 20]) :]


def _mount(libc, source, target, fstype, flags, options):
    args = [None if a is None else a.encode() for a in (source, target, fstype, options)]
    if libc.mount(args[0], args[1], args[2], flags, args[3]) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}")


def _inside(path, folders):
    return any(path.startswith(f.rstrip("/") + "/") for f in folders)


def hide_paths(jail):
    """Cover each of ``jail["hide"]`` with an empty read-only tmpfs in a private mount
    namespace, re-exposing the directories of ``jail["keep"]`` that lie inside them; a
    hidden path inside a kept one (a data folder of an installed package) is covered last."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE, None)
    outer = [h for h in jail["hide"] if not _inside(h, jail["keep"])]
    inner = [h for h in jail["hide"] if _inside(h, jail["keep"])]
    kept = []
    for index, path in enumerate(jail["keep"]):
        if _inside(path, outer):
            holder = os.path.join(jail["stash"], str(index))
            os.makedirs(holder, exist_ok=True)
            _mount(libc, path, holder, None, MS_BIND | MS_REC, None)
            kept.append((holder, path))
    for path in outer:
        if os.path.isdir(path):
            _mount(libc, "tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    for holder, path in kept:
        os.makedirs(path, exist_ok=True)
        _mount(libc, holder, path, None, MS_BIND | MS_REC, None)
    for path in inner:
        if os.path.isdir(path):
            _mount(libc, "tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")


def jail(plan):
    """Apply the isolation that the parent asked for, as far as this machine allows."""
    spec = plan["jail"]
    limits = spec["limits"]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    if spec.get("uid") is not None:
        if spec.get("hide"):
            hide_paths(spec)
        resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
        os.setgroups([])
        os.setgid(spec["uid"])
        os.setuid(spec["uid"])
    elif hasattr(resource, "RLIMIT_NPROC"):
        resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
    # Die with the grader (set after the uid change, which clears it), even if it was
    # already gone before this line ran.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != spec["server"]:
        os._exit(1)
    os.chdir(spec["workdir"])
    os.environ["HOME"] = os.environ["TMPDIR"] = spec["workdir"]


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
    """The fork server's loop: one request at a time, until the grader closes the socket."""
    import numpy  # noqa: F401  (preloaded once, inherited by every child)

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    server = socket.socket(fileno=sock_fd)
    me = os.getpid()
    while True:
        message, fds, _, _ = socket.recv_fds(server, 4096, 1)
        if not message or len(fds) != 1:
            return
        plan_path, uid = message.decode().split("\n")
        pid = os.fork()
        if pid == 0:
            server.close()
            os.setsid()
            code = 0
            try:
                run_child(plan_path, fds[0], me)
            except BaseException:
                code = 70
            os._exit(code)
        os.close(fds[0])
        server.sendall(struct.pack(">i", pid))
        _, status = os.waitpid(pid, 0)
        if uid:
            kill_every_process_of(int(uid))
        server.sendall(struct.pack(">i", os.waitstatus_to_exitcode(status)))


def kill_every_process_of(uid):
    """SIGKILL every process of ``uid`` in one kernel pass: a forked reaper takes that uid
    and calls kill(-1), which no fork bomb can outrun (forks wait for the pass to end)."""
    reaper = os.fork()
    if reaper == 0:
        try:
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(reaper, 0)


def run_child(plan_path, channel, server_pid):
    with open(plan_path, encoding="utf-8") as handle:
        plan = json.load(handle)
    plan["jail"]["server"] = server_pid
    CHANNEL[0] = channel
    import numpy as np

    with np.load(plan["inputs"], allow_pickle=False) as archive:
        inputs = {name: archive[name] for name in archive.files}
    jail(plan)
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
                given = [
                    pair for a, v in zip(step["args"], args, strict=True) for pair in _given(a, v)
                ]
                result = function(*args)
                for name, value in given:  # the inputs as the student left them
                    send_value(pid, "after:" + name, value)
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
        _send({"t": "probe_done", "probe": pid})
    _send({"t": "end"})


def _given(spec, value):
    """(input name, the object handed over) for every ``{"in": name}`` inside ``spec``
    (top level, dict and list specs; not code)."""
    if "in" in spec:
        return [(spec["in"], value)]
    if "dict" in spec and isinstance(value, dict):
        return [p for k, v in spec["dict"].items() for p in _given(v, value.get(k))]
    if "list" in spec and isinstance(value, list):
        return [p for s, v in zip(spec["list"], value, strict=False) for p in _given(s, v)]
    return []


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


if __name__ == "__main__":
    serve(int(sys.argv[1]))
