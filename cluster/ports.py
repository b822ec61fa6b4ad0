"""Free TCP ports on loopback, so clusters and parallel tests never collide.

Two races make "bind port 0, close, hand the number out" flaky on a busy machine:

- the kernel gives the same ephemeral range to outgoing connections, so a port
  probed free can be taken as the local end of some connect() before the node or
  proxy binds it (and again whenever a killed node restarts on its old port);
- two processes picking ports at once (parallel ``cluster up``, xdist workers)
  can probe the same free port before either binds it.

So ports are picked from below the kernel's ephemeral range, where connect()
never lands (when the range leaves room below it), and each pick is recorded
for a while in a small registry shared by every process on the machine, under
an exclusive file lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import socket
import time
from collections.abc import Collection, Iterator
from pathlib import Path

from cluster.files import open_private, private_dir, runtime_dir

LOW = 10000  # below this sit well-known service ports
RESERVE_SECONDS = 120.0  # long enough for the picker to bind what it got


def registry_path() -> Path:
    """The reservations file: in this user's private runtime directory (0700), so no
    other user can plant a symlink or a directory at its name."""
    override = os.environ.get("REMESH_PORTS_FILE")
    return Path(override) if override else runtime_dir() / "ports.json"


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def bindable(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing holds ``port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _kernel_port(host: str) -> int:
    """A port the kernel calls free now (from the ephemeral range)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _registry() -> Iterator[dict[int, float]]:
    """The shared reservations ``{port: expiry}``, read and rewritten under a lock."""
    path = registry_path()
    private_dir(path.parent)
    fd = open_private(path)
    with os.fdopen(fd, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            reserved = {int(p): float(t) for p, t in json.loads(f.read() or "{}").items()}
        except (ValueError, AttributeError):
            reserved = {}  # a torn or foreign file: start over, the bind probe still guards
        now = time.time()
        reserved = {p: t for p, t in reserved.items() if t > now}
        yield reserved
        f.seek(0)
        f.truncate()
        f.write(json.dumps(reserved))
        f.flush()


def free_ports(count: int, host: str = "127.0.0.1", avoid: Collection[int] = ()) -> list[int]:
    """``count`` distinct ports, free now, not handed to anyone else recently and
    not in ``avoid`` (ports the caller keeps but has not bound yet)."""
    low, high = LOW, ephemeral_range()[0] - 1
    tries = 50 * count + 200
    if high - low >= 1000:
        candidates = iter(random.sample(range(low, high + 1), min(high - low + 1, tries)))
    else:  # no room below the ephemeral range (it was widened): let the kernel pick
        candidates = (_kernel_port(host) for _ in range(tries))
    picked: list[int] = []
    with _registry() as reserved:
        for port in candidates:
            if (
                port not in reserved
                and port not in picked
                and port not in avoid
                and bindable(port, host)
            ):
                picked.append(port)
                if len(picked) == count:
                    break
        else:
            raise OSError(
                f"no {count} free TCP ports on {host} (below the kernel's ephemeral range "
                f"from {low}): use fewer nodes, `proxies: false`, or sparser `links:`"
            )
        expiry = time.time() + RESERVE_SECONDS
        reserved.update(dict.fromkeys(picked, expiry))
    return picked
