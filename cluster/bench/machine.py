"""What the figures depend on, recorded in every result: cores, CPU, kernel, filesystem, load."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def machine_info(data_dir: Path) -> dict[str, Any]:
    """What the figures depend on: cores, CPU, kernel and the data dir's filesystem."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    fs, best = "unknown", ""
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and str(data_dir).startswith(parts[1]) and len(parts[1]) > len(best):
                fs, best = parts[2], parts[1]
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "data_dir_fs": fs,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
