"""Measuring a whole command: wall seconds, CPU seconds of every process it starts, peak memory.

CPU: the command runs in its own cgroup (cgroup v1 ``cpuacct`` or v2 ``cpu.stat``) where the
machine allows one, so worker processes that exit before the command does are counted too;
elsewhere the machine's busy time from /proc/stat over the run (includes other load: run on an
idle machine). Memory: /proc is polled every 20 ms for the processes of the command; reported
are the largest single process's peak RSS and the peak of their sum (shared pages counted once
per process, so the sum overstates forked workers).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_V1 = Path("/sys/fs/cgroup/cpuacct")
CGROUP_V2 = Path("/sys/fs/cgroup")


@dataclass
class Measured:
    wall: float
    cpu: float
    rss_max: float  # MB, the largest process
    rss_sum: float  # MB, all processes at once
    cpu_basis: str  # "cgroup" | "machine"
    returncode: int
    stdout: bytes
    stderr: bytes


class _Group:
    """A cgroup for one command, or None where none can be made."""

    def __init__(self, name: str) -> None:
        self.path: Path | None = None
        self.v2 = False
        for base, v2 in ((CGROUP_V1, False), (CGROUP_V2, True)):
            try:
                if base.is_dir() and (v2 or (base / "cpuacct.usage").exists()):
                    if v2 and not (base / "cgroup.controllers").exists():
                        continue
                    p = base / name
                    p.mkdir(exist_ok=True)
                    (p / "cgroup.procs").stat()
                    self.path, self.v2 = p, v2
                    return
            except OSError:
                continue

    def usage(self) -> float:
        assert self.path is not None
        if self.v2:
            for line in (self.path / "cpu.stat").read_text().splitlines():
                if line.startswith("usage_usec"):
                    return int(line.split()[1]) / 1e6
            return 0.0
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    def pids(self) -> list[int]:
        assert self.path is not None
        return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine so far (/proc/stat: all but idle and iowait)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(x) for x in fields]
    busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


def _children(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    mine = {root}
    grew = True
    while grew:
        more = {p for p, parent in parents.items() if parent in mine} - mine
        mine |= more
        grew = bool(more)
    return sorted(mine)


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(cmd: list[str], stdout: Path | None = None, env: dict[str, str] | None = None) -> Measured:
    group = _Group(f"keytrail-bench-{os.getpid()}")
    out = open(stdout, "wb") if stdout else subprocess.PIPE  # noqa: SIM115
    before = group.usage() if group.path else _machine_busy()
    started = time.perf_counter()
    if group.path is not None:
        procs = str(group.path / "cgroup.procs")
        proc = subprocess.Popen(["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh", *cmd],
                                stdout=out, stderr=subprocess.PIPE, env=env)
    else:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env)
    peak = {"max": 0.0, "sum": 0.0}
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            pids = group.pids() if group.path is not None else _children(proc.pid)
            sizes = [_rss_mb(p) for p in pids]
            if sizes:
                peak["max"] = max(peak["max"], max(sizes))
                peak["sum"] = max(peak["sum"], sum(sizes))
            time.sleep(0.02)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    data, err = proc.communicate()
    wall = time.perf_counter() - started
    done.set()
    watcher.join()
    cpu = (group.usage() if group.path else _machine_busy()) - before
    if stdout:
        out.close()  # type: ignore[union-attr]
    if group.path is not None:
        try:
            group.path.rmdir()
        except OSError:
            pass
    return Measured(wall, cpu, peak["max"], peak["sum"], "cgroup" if group.path else "machine", proc.returncode,
                    data or b"", err or b"")
