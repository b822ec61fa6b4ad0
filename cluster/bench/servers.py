"""etcd and Redis server processes: installed if missing, started, and proven gone after."""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cluster.bench.phases import BenchFailed
from cluster.errors import ClusterError

REDIS_CLIENT = "redis>=5"  # the bench extra's pin (pyproject.toml)


class PeersUnavailable(ClusterError):
    """etcd or Redis (server or client) is missing and cannot be installed here: one line
    saying what to install (the CLI's exit 2), never a traceback."""


def _cmdlines() -> dict[int, str]:
    """Every live process's command line, from /proc (NUL separators become spaces)."""
    out: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if raw:
                out[int(entry.name)] = raw.replace(b"\0", b" ").decode(errors="replace")
    return out


def server_pids() -> dict[int, str]:
    """Running etcd and redis-server processes, whoever started them."""
    return {
        pid: cmd
        for pid, cmd in _cmdlines().items()
        if os.path.basename(cmd.split(" ", 1)[0]) in ("etcd", "redis-server")
        or cmd.startswith("redis-server ")
    }


class ProcessGroup:
    """Every server this run started, all with ``marker`` (the data dir) in their argv.

    ``stop`` is idempotent and is registered with atexit, so an exception, Ctrl-C or a
    SIGTERM turned into SystemExit still ends them; it then scans /proc for anything
    still carrying the marker, so "nothing left running" is checked, not assumed.
    """

    def __init__(self, marker: Path) -> None:
        self.marker = marker
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        atexit.register(self.stop)

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start one server with its working directory in the marker dir: redis-server
        rewrites its command line, so the leftover scan goes by working directory."""
        log = open(self.marker / f"{name}.log", "wb")  # noqa: SIM115 - child owns it
        try:
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=self.marker,
            )  # fmt: skip
        finally:
            log.close()
        self.procs.append((name, proc))
        return proc

    def _ours(self, pid: int, cmd: str) -> bool:
        inside = f"{self.marker}/"
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            cwd = ""
        return inside in cmd or f"{cwd}/".startswith(inside)

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                tail = (self.marker / f"{name}.log").read_text(errors="replace")[-800:]
                raise BenchFailed(f"{name} exited with {proc.returncode}:\n{tail}")

    def stop(self) -> list[str]:
        """Stop each in reverse start order (SIGTERM, 5 s, then SIGKILL); return what the
        final /proc scan had to kill. One at a time because an etcd leader that gets
        SIGTERM hands leadership to a live peer first and, when every peer is stopping
        too, waits 7 s for a transfer that cannot happen."""
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()
        killed = []
        for pid, cmd in _cmdlines().items():
            if pid != os.getpid() and self._ours(pid, cmd):
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(f"{pid} {cmd}")
                except ProcessLookupError:
                    pass
        return killed


def version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.strip().splitlines()[0] if out.strip() else "unknown"


def ensure_servers(install: bool, log: Callable[[str], None]) -> None:
    """Install Debian's etcd-server and redis-server when missing, starting no service.

    A temporary ``policy-rc.d`` (only when none exists) keeps postinst from starting the
    packaged services; anything that started anyway (new etcd/redis pids, or systemd
    units) is stopped and disabled, so only this run's servers compete for the 2 cores.
    """
    missing = [
        pkg
        for binary, pkg in (("etcd", "etcd-server"), ("redis-server", "redis-server"))
        if shutil.which(binary) is None
    ]
    if not missing:
        return
    hint = f"install them first: apt-get install {' '.join(missing)}"
    can_install = os.geteuid() == 0 and shutil.which("apt-get") is not None
    if not (install and can_install):
        hint += " (--install needs root and apt-get)" if install else ""
        raise PeersUnavailable(f"missing Debian package(s) {', '.join(missing)}; {hint}")
    log(f"installing {' '.join(missing)} with apt-get")
    before = set(server_pids())
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = not policy.exists()
    if made_policy:
        policy.write_text(
            "#!/bin/sh\n# ci/bench-peers: start no service during install\nexit 101\n"
        )
        policy.chmod(0o755)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300)
        done = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
            env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise PeersUnavailable(f"apt-get took too long ({exc.timeout:.0f} s); {hint}") from None
    finally:
        if made_policy:
            policy.unlink(missing_ok=True)
    if done.returncode != 0:
        raise PeersUnavailable(f"apt-get failed ({done.stderr.strip()[-400:]}); {hint}")
    if Path("/run/systemd/system").is_dir():
        for unit in ("etcd", "redis-server"):
            subprocess.run(["systemctl", "disable", "--now", unit], capture_output=True)
    for pid in set(server_pids()) - before:
        log(f"stopping service started by the install: pid {pid}")
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def import_redis(install: bool = False, log: Callable[[str], None] = print) -> Any:
    """The redis client module; ``install``: pip-installed into this Python when missing."""
    try:
        return _redis()
    except ImportError:
        if not install:
            raise PeersUnavailable(
                f"the Python package redis is missing: pip install 'remesh[bench]' (or "
                f"'{REDIS_CLIENT}') into {sys.prefix}, or pass --install"
            ) from None
    log(f"installing the Python package {REDIS_CLIENT} with pip into {sys.prefix}")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", REDIS_CLIENT],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        failed = (done.stderr.strip().splitlines() or ["no reason given"])[-1]
        failed = failed if done.returncode else ""
    except (OSError, subprocess.TimeoutExpired) as exc:
        failed = str(exc)
    if failed:
        raise PeersUnavailable(
            f"pip could not install {REDIS_CLIENT} into {sys.prefix} ({failed}); "
            "install it yourself: pip install 'remesh[bench]'"
        )
    importlib.invalidate_caches()  # the new package's directory, unseen at start
    try:
        return _redis()
    except ImportError as exc:
        raise PeersUnavailable(
            f"pip installed {REDIS_CLIENT} into {sys.prefix}, yet it does not import ({exc})"
        ) from None


def _redis() -> Any:
    import redis

    return redis
