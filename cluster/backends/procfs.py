"""Local processes through /proc: alive (zombies are not), process groups, and ours.

Shared by every backend that runs processes on this machine, and by ``down``'s
check that nothing is left.
"""

from __future__ import annotations

import os
from pathlib import Path


def _proc_stat(pid: int) -> list[str] | None:
    """Fields after the command name in /proc/PID/stat, or None if gone/unknown."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time ``pid`` has used, or None if it is gone or not ours to see."""
    fields = _proc_stat(pid)
    if fields is None or len(fields) < 13:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs. Zombies count as dead: in a container PID 1 may
    never reap the orphaned daemon, and os.kill(pid, 0) succeeds on zombies."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not Path("/proc/self/stat").exists():
        return True
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids in process group ``pgid``. Supervisord makes each
    child a group leader, so this also finds grandchildren a node spawned."""
    if not Path("/proc/self/stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None and stat[0] != "Z" and stat[2] == str(pgid):
                members.append(int(entry.name))
    return members


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [os.fsdecode(a) for a in raw.split(b"\0") if a]


def processes_under(directory: Path) -> dict[int, list[str]]:
    """Live Python processes started with a config file inside ``directory``.

    Every program of a cluster (and its supervisord) is ``python ... --config
    FILE`` (``-c`` for supervisord) with FILE in the cluster's state directory,
    so this finds them even when supervisord is gone and they were reparented
    to init, and never a pager or ``tail -f`` a person has open on a log there.
    """
    if not Path("/proc/self/stat").exists():
        return {}
    inside = str(directory).rstrip("/") + "/"
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        args = cmdline(pid)
        ours = args and Path(args[0]).name.startswith("python")
        configs = [b for a, b in zip(args, args[1:], strict=False) if a in ("--config", "-c")]
        if ours and any(c.startswith(inside) for c in configs) and pid_alive(pid):
            found[pid] = args
    return found
