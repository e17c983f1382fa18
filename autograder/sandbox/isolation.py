"""What a sandboxed child may see and use: resource limits and the allow-list filesystem.

Three modes, chosen by what the machine allows (``Isolation.for_course``):

* ``"root"``: the fork server runs under bubblewrap as root with only the capabilities it
  needs; each child gets its own PID, mount and IPC namespaces (inside the server's
  network namespace, which has no network), a uid of its worker's own, and joins a
  cgroup that bounds the memory and the process count of the whole submission.
* ``"userns"``: the same namespaces through an unprivileged user namespace (an
  instructor's laptop with bubblewrap); no uid change and no cgroups, so memory and
  processes are bounded per process by ``setrlimit`` only; capabilities are dropped.
* ``"plain"``: no bubblewrap: a separate process with resource limits, nothing hidden.

The filesystem is an allow-list: an empty root with the Python installation (prefixes,
site-packages, the system libraries and the loader cache) bound read-only; every child
mounts its own empty working directory, ``/tmp``, ``/var/tmp`` and ``/dev/shm``. Inside
the bound folders, data a student must not read (scikit-learn's bundled datasets, this
package with its hidden checks, numpy_backprop, the course itself if it lies there) is
covered by empty read-only mounts.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

WORKDIR = "/student"  # the child's own working directory, a fresh tmpfs
CHILD_PATH = "/sandbox/child.py"  # where the server's program is bound inside the jail
SERVER_CAPS = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission and deadlines of each phase (seconds).

    ``memory_bytes`` and ``processes`` bound all of a submission's processes together
    where cgroups are available, and each process (``setrlimit``) everywhere.
    """

    cpu_seconds: int = 60
    memory_bytes: int = 2 << 30
    file_bytes: int = 8 << 20
    processes: int = 64
    tmp_bytes: int = 64 << 20  # each private tmpfs (working directory, /tmp, ...)
    startup_seconds: float = 30.0
    cell_seconds: float = 10.0
    probe_seconds: float = 10.0
    total_seconds: float = 120.0
    result_bytes: int = 256 << 20


@dataclass(frozen=True)
class Isolation:
    """How children are isolated: ``mode`` (see the module docstring), the folders bound
    read-only (``keep``) and the folders covered inside them (``hide``)."""

    mode: str = "plain"
    keep: tuple[str, ...] = ()
    hide: tuple[str, ...] = ()

    @property
    def drop(self) -> bool:
        """True when children run under a uid of their own."""
        return self.mode == "root"

    @classmethod
    def for_course(cls, hidden: list[Path], mode: str | None = None) -> Isolation:
        """The strongest isolation this machine offers, hiding ``hidden`` (course root,
        submissions, outputs) wherever it overlaps the Python installation.

        ``mode`` forces a weaker mode (tests, and ``AUTOGRADER_SANDBOX`` for instructors).
        """
        mode = mode or os.environ.get("AUTOGRADER_SANDBOX") or best_mode()
        if mode == "plain":
            return cls("plain")
        keep = python_folders()
        hide = {os.path.realpath(p) for p in hidden}
        hide |= set(_private_data())
        inside = tuple(sorted(h for h in hide if any(_within(h, k) for k in keep)))
        return cls(mode, keep, inside)

    def describe(self) -> str:
        if self.mode == "root":
            return (
                "bubblewrap as root: only the Python installation visible (read-only), "
                "own PID, mount, IPC and network namespaces, a uid of its own, "
                "one cgroup for the submission's memory and processes"
            )
        if self.mode == "userns":
            return (
                "bubblewrap in a user namespace (without root's privileges): only the Python "
                "installation visible, own PID, mount, IPC and network namespaces, "
                "per-process limits"
            )
        return "separate process with resource limits only (no bubblewrap: files visible)"


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@functools.cache
def best_mode() -> str:
    """The strongest mode whose bubblewrap sandbox starts here: ``root`` (as root),
    else ``userns`` (also tried as root, for containers without CAP_SYS_ADMIN), else
    ``plain``."""
    if shutil.which("bwrap") is None:
        return "plain"
    for mode in ("root", "userns") if os.geteuid() == 0 else ("userns",):
        isolation = Isolation(mode, python_folders())
        probe = [*bwrap_prefix(isolation), sys.executable, "-I", CHILD_PATH, "--selftest", mode]
        probe.append(json.dumps(rebinds(isolation)))
        try:
            if subprocess.run(probe, capture_output=True, timeout=20).returncode == 0:
                return mode
        except (OSError, subprocess.TimeoutExpired):
            continue
    return "plain"


@functools.cache
def python_folders() -> tuple[str, ...]:
    """Folders the child's interpreter needs: the prefixes, site-packages, system libraries."""
    folders = {
        os.path.realpath(p)
        for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages())
    }
    folders.add(os.path.dirname(os.path.realpath(sys.executable)))
    for lib in ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/lib32"):
        if os.path.isdir(lib) and not os.path.islink(lib):
            folders.add(lib)
    # Keep only outermost folders.
    ordered = sorted(folders, key=len)
    outer: list[str] = []
    for folder in ordered:
        if not any(_within(folder, o) for o in outer):
            outer.append(folder)
    return tuple(sorted(outer))


@functools.cache
def _private_data() -> tuple[str, ...]:
    """Installed data a student must not read: scikit-learn's bundled datasets (the labels
    of the grader's test images), this package (hidden checks), numpy_backprop (the
    reference implementations, an answer key), and Debian's system Python packages when
    they are not this interpreter's."""
    private = []
    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.submodule_search_locations:
        datasets = Path(next(iter(spec.submodule_search_locations))) / "datasets"
        private += [str(datasets / name) for name in ("data", "images", "descr")]
    private.append(str(Path(__file__).resolve().parents[1]))
    spec = importlib.util.find_spec("numpy_backprop")  # the reference implementations
    if spec is not None and spec.submodule_search_locations:
        private += list(spec.submodule_search_locations)
    needed = [sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")]
    needed = [os.path.realpath(p) for p in (*needed, *site.getsitepackages())]
    for folder in Path("/usr/lib").glob("python3*"):
        if not any(_within(p, str(folder)) for p in needed):
            private.append(str(folder))
    return tuple(os.path.realpath(p) for p in private if os.path.isdir(p))


PRIVATE = ("/tmp", "/var/tmp", "/dev/shm")  # mounted afresh for every child


def rebinds(isolation: Isolation) -> list[tuple[str, str]]:
    """(folder, stash) for each bound folder inside a mount that every child replaces:
    the child binds it to the stash, mounts its fresh tmpfs, and binds it back."""
    inside = [k for k in isolation.keep if any(_within(k, p) for p in PRIVATE)]
    return [(folder, f"/sandbox/keep{i}") for i, folder in enumerate(inside)]


def bwrap_prefix(isolation: Isolation) -> list[str]:
    """The bubblewrap command line (up to the program to run) for ``isolation``."""
    args = ["bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc"]
    args += ["--unshare-net", "--unshare-uts", "--hostname", "sandbox"]
    if isolation.mode == "userns":
        args += ["--unshare-user"]
    args += ["--cap-drop", "ALL"]
    for cap in SERVER_CAPS:
        args += ["--cap-add", cap]
    # The mounts every child replaces with fresh ones first, so that folders of the
    # installation inside them (a virtual environment under /tmp) can be bound after.
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", "/var/tmp"]
    args += ["--dir", "/dev/shm"]
    made: set[str] = {"/", "/proc", "/dev", "/tmp", "/var", "/var/tmp", "/dev/shm"}

    def parents(path: str) -> None:
        for parent in reversed(Path(path).parents):
            text = str(parent)
            if text not in made:
                made.add(text)
                args.extend(["--perms", "0755", "--dir", text])

    for folder in isolation.keep:
        parents(folder)
        args += ["--ro-bind", folder, folder]
        made.add(folder)
    for link in ("/lib", "/lib64", "/bin"):
        if os.path.islink(link) and link not in made:
            args += ["--symlink", os.readlink(link), link]
    for path in ("/etc/ld.so.cache",):
        if os.path.exists(path):
            parents(path)
            args += ["--ro-bind", path, path]
    for folder in isolation.hide:
        args += ["--perms", "0555", "--tmpfs", folder, "--remount-ro", folder]
    args += ["--perms", "0755", "--dir", WORKDIR]
    child = str(Path(__file__).with_name("child.py"))
    args += ["--perms", "0755", "--dir", "/sandbox", "--ro-bind", child, CHILD_PATH]
    for _, stash in rebinds(isolation):
        args += ["--perms", "0755", "--dir", stash]
    args += ["--chdir", "/"]
    return args
