"""The bench's ``apply`` section: what applying one replicated entry costs, per stage.

The measurement lives with the code it measures (``node/tools/applycost.py``); it runs here
as its own process, so the cluster tool imports none of the node's insides, and its
CPU figures are not mixed with the bench's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from cluster.errors import ClusterError


def bench_apply(entries: int, value_size: int, keys: int) -> dict[str, Any]:
    """``python -m node.tools.applycost``'s figures (docs/benchmarks.md, "apply")."""
    args = [str(entries), str(value_size), str(keys)]
    p = subprocess.run(
        [sys.executable, "-m", "node.tools.applycost", *args], capture_output=True, text=True
    )
    if p.returncode != 0:
        raise ClusterError(f"the apply section failed: {p.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(p.stdout)
    return result
