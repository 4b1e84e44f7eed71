"""Shared helpers of kubemu's benchmarks: percentiles, the machine a run happened on (CPUs, RAM,
CPU model, the data disk and its measured fsync latency, load), and CPU accounting: per process
group, restricted to this process's descendants so another user's processes never count as
ours, and machine-wide, so a run can say how much CPU unrelated processes took meanwhile.
"""

from __future__ import annotations

import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path


def results_heading(script: str) -> str:
    """The RESULTS.md heading of this run: the UTC time and the command that ran `script`,
    its `--note` left out (the note goes below the tables)."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    argv, flags = iter(sys.argv[1:]), []
    for arg in argv:
        if arg == "--note":
            next(argv, None)
        elif not arg.startswith("--note="):
            flags.append(arg)
    return f"\n## {now} — `{shlex.join(['python', script, *flags])}`\n"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU seconds the processes have used so far (vanished ones count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used so far (all cores, /proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def descendants(text: str = "") -> list[int]:
    """This process's descendants (so never another user's Ray) whose command line contains
    `text` (Ray titles actor processes `ray::Class`); py-spy profilers are left out."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    found, frontier = [], [os.getpid()]
    while frontier:
        pid = frontier.pop()
        for child in (c for c, pp in parent.items() if pp == pid):
            frontier.append(child)
            try:
                cmd = Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if text in cmd and "py-spy" not in cmd:
                found.append(child)
    return found


def describe_machine(data_dir: Path) -> str:
    """nproc, RAM, CPU model, the data disk and its fsync latency, as a markdown list."""
    info = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), "?")
    mem = next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines()
               if ln.startswith("MemTotal"))
    df = subprocess.run(["df", "-h", "--output=source,fstype,size", str(data_dir)],
                        capture_output=True, text=True).stdout.splitlines()[-1].split()
    rot = Path(f"/sys/block/{Path(df[0]).name}/queue/rotational")
    kind = f"rotational={rot.read_text().strip()}" if rot.exists() else "?"
    syncs = []
    with tempfile.NamedTemporaryFile(dir=data_dir) as fh:
        for _ in range(100):
            fh.write(b"x" * 4096)
            t0 = time.perf_counter()
            fh.flush()
            os.fsync(fh.fileno())
            syncs.append(time.perf_counter() - t0)
    return "\n".join([
        f"- machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}, "
        f"{int(mem) / 2**20:.1f} GiB RAM, {platform.system()} {platform.release()}",
        f"- disk: {df[0]} ({df[1]}, {df[2]}, {kind}) for {data_dir}; 4 KiB append+fsync "
        f"p50 {percentile(syncs, 50) * 1000:.2f} ms, p99 {percentile(syncs, 99) * 1000:.2f} ms",
        f"- python {platform.python_version()}, etcd {_etcd_version()}, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end of the run",
    ])


def _etcd_version() -> str:
    try:
        out = subprocess.run(["etcd", "--version"], capture_output=True, text=True).stdout
        return out.split()[2]
    except (OSError, IndexError):
        return "?"
