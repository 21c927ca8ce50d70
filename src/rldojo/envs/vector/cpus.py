"""CPU cores: those this process may run on, and those other processes leave idle.

`auto` (the calibration that picks sync or workers) counts idle cores; the worker engines size
themselves to the usable ones.
"""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


#: /proc/stat ticks (1/100 s each) a sample must span per core to be trusted over the load average.
MIN_TICKS_PER_CPU = 3


def cpu_ticks() -> tuple[int, int] | None:
    """(idle, total) scheduler ticks so far of the cores this process may use, from /proc/stat
    (None where there is no /proc/stat). Idle includes iowait."""
    try:
        allowed = os.sched_getaffinity(0)
        with open("/proc/stat") as stat:
            lines = stat.read().splitlines()
    except (AttributeError, OSError):
        return None
    idle = total = 0
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in allowed:
            continue
        values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
        # niced processes count as busy: with scheduler autogroups (common), nice only ranks
        # processes within one session, so another session's niced work still takes its share
        idle += values[3] + values[4]
        total += sum(values)
    return (idle, total) if total else None


def idle_cpus(since: tuple[int, int] | None = None) -> int:
    """Usable cores not kept busy by other processes: on a shared machine, workers on busy cores only
    add switching. `since`: a `cpu_ticks()` taken before this process ran its calibration; the idle
    share of the cores since then, plus the core this process used (it waits while workers step).
    Without it, or over too short a span, the last minute's load average less this process."""
    cpus = usable_cpus()
    now = cpu_ticks() if since is not None else None
    if since is not None and now is not None and now[1] - since[1] >= MIN_TICKS_PER_CPU * cpus:
        idle_share = (now[0] - since[0]) / (now[1] - since[1])
        return max(1, min(cpus, int(idle_share * cpus + 1 + 0.5)))
    try:
        busy = max(0.0, os.getloadavg()[0] - 1.0)
    except OSError:
        return cpus
    return max(1, min(cpus, int(cpus - busy + 0.5)))
