"""One cgroup per fork server: a memory and process budget for all of a submission's
processes together (a fork server runs one submission's child at a time).

cgroup v2 (``memory.max``, ``pids.max``) is used when the unified hierarchy has both
controllers, else the v1 ``memory`` and ``pids`` hierarchies. The grader opens each
group's ``cgroup.procs`` and hands the open file to the child, which writes ``0`` (itself)
into it before it drops its privileges: the kernel checks the opener's credentials, so
the child needs no access to ``/sys``. Where neither is usable (not root, no cgroupfs),
``Budget.create`` returns None and only per-process ``setrlimit`` limits apply.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
GROUP = "autograder"


class Budget:
    """The cgroup(s) of one fork server. ``fds``: open ``cgroup.procs`` files to join."""

    def __init__(self, folders: list[Path]):
        self.folders = folders
        self.fds = [os.open(f / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC) for f in folders]

    @classmethod
    def create(cls, name: str, memory_bytes: int, processes: int) -> Budget | None:
        """A new group ``name`` with the two limits, or None where cgroups are unusable."""
        if os.geteuid() != 0:
            return None
        try:
            return cls._create_v2(name, memory_bytes, processes) or cls._create_v1(
                name, memory_bytes, processes
            )
        except OSError:
            return None

    @classmethod
    def _create_v2(cls, name: str, memory_bytes: int, processes: int) -> Budget | None:
        controllers = ROOT / "cgroup.controllers"
        if not controllers.exists():
            return None
        if not {"memory", "pids"} <= set(controllers.read_text().split()):
            return None
        parent = ROOT / GROUP
        parent.mkdir(exist_ok=True)
        (parent / "cgroup.subtree_control").write_text("+memory +pids")
        folder = parent / name
        folder.mkdir()
        (folder / "memory.max").write_text(str(memory_bytes))
        if (folder / "memory.swap.max").exists():
            (folder / "memory.swap.max").write_text("0")
        (folder / "pids.max").write_text(str(processes))
        return cls([folder])

    @classmethod
    def _create_v1(cls, name: str, memory_bytes: int, processes: int) -> Budget | None:
        memory, pids = ROOT / "memory", ROOT / "pids"
        if not (memory / "cgroup.procs").exists() or not (pids / "cgroup.procs").exists():
            return None
        folders = []
        for hierarchy in (memory, pids):
            folder = hierarchy / GROUP / name
            folder.mkdir(parents=True, exist_ok=True)
            folders.append(folder)
        (folders[0] / "memory.limit_in_bytes").write_text(str(memory_bytes))
        swap = folders[0] / "memory.memsw.limit_in_bytes"
        if swap.exists():
            swap.write_text(str(memory_bytes))
        (folders[1] / "pids.max").write_text(str(processes))
        return cls(folders)

    def peak_bytes(self) -> int | None:
        """The most memory the group has held (v1 ``max_usage``, v2 ``memory.peak``)."""
        for file in ("memory.max_usage_in_bytes", "memory.peak"):
            path = self.folders[0] / file
            if path.exists():
                return int(path.read_text().split()[0])
        return None

    def close(self) -> None:
        """Close the files and remove the (by now empty) groups."""
        for fd in self.fds:
            os.close(fd)
        self.fds = []
        for folder in self.folders:
            try:
                folder.rmdir()
            except OSError:
                pass


def remove_stale(alive: set[int]) -> None:
    """Remove empty groups left by grading runs that were killed (named ``<pid>-<n>``)."""
    for hierarchy in (ROOT, ROOT / "memory", ROOT / "pids"):
        parent = hierarchy / GROUP
        if not parent.is_dir():
            continue
        for folder in parent.iterdir():
            pid = folder.name.split("-")[0]
            if pid.isdigit() and int(pid) not in alive and not _exists(int(pid)):
                try:
                    folder.rmdir()
                except OSError:
                    pass


def _exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()
