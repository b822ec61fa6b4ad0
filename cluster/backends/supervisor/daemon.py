"""supervisord itself: start it, stop it, and control its programs over XML-RPC.

Every cluster verb is a separate process, so all state lives in the state
directory (config, logs, socket path recorded in the config) and every call
talks to supervisord through its XML-RPC API on a unix socket -- never by
scraping ``supervisorctl`` output.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import Faults, SupervisorTransport

from cluster.backends.procfs import group_members, pid_alive, processes_under
from cluster.backends.supervisor.conf import (
    Program,
    SupervisorError,
    recorded_socket_path,
    render_conf,
)
from cluster.files import atomic_write, open_private, private_dir, runtime_dir

# Linux sun_path is 108 bytes including the NUL; keep a margin.
_MAX_SOCKET_PATH = 100
# Quick calls (state, info, signal) should never take long; a hung or
# SIGSTOPped supervisord must not hang the caller forever.
_QUICK_TIMEOUT = 10.0
# Safety net for waiting on start/stop; supervisord enforces the real limits.
_WAIT_TIMEOUT = 120.0
_POLL = 0.02
_STOPPED_STATES = ("STOPPED", "EXITED", "FATAL")


class _UnixTransport(SupervisorTransport):
    """SupervisorTransport whose unix socket honours a timeout (upstream's does not)."""

    def __init__(self, socket_path: Path, timeout: float | None) -> None:
        super().__init__(serverurl=f"unix://{socket_path}")

        class _Conn(http.client.HTTPConnection):
            def connect(self) -> None:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(timeout)
                self.sock.connect(str(socket_path))

        self._get_connection = lambda: _Conn("localhost")


_RPC_ERRORS = (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError)


class Supervisor:
    """One supervisord per state directory (e.g. ``.cluster/mesh3``)."""

    def __init__(self, state_dir: Path | str) -> None:
        # abspath, not resolve(): keep the caller's path (symlinks included)
        # so the derived socket name is stable across verbs.
        self.state_dir = Path(os.path.abspath(state_dir))
        self.conf_path = self.state_dir / "supervisord.conf"
        self.log_dir = self.state_dir / "logs"
        self.log_path = self.log_dir / "supervisord.log"
        self.pid_path = self.state_dir / "supervisord.pid"
        self.socket_path = recorded_socket_path(self.conf_path) or self._default_socket_path()

    # -- config ------------------------------------------------------------

    def _default_socket_path(self) -> Path:
        """state_dir/supervisor.sock, or, when that is too long for AF_UNIX, a name in this
        user's private runtime directory (0700): never a guessable name in the shared
        /tmp that another user could create first and answer on."""
        path = self.state_dir / "supervisor.sock"
        if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha1(os.fsencode(self.state_dir)).hexdigest()[:12]
        return runtime_dir() / f"{digest}.sock"

    def render(self, programs: list[Program]) -> Path:
        """Write supervisord.conf for ``programs`` (atomically) and return its path."""
        private_dir(self.log_dir)
        socket_path = self._default_socket_path()
        text = render_conf(programs, self.state_dir, self.log_dir, socket_path)
        atomic_write(self.conf_path, text)
        self.socket_path = socket_path
        return self.conf_path

    # -- XML-RPC -----------------------------------------------------------

    def rpc(self, timeout: float | None = _QUICK_TIMEOUT) -> xmlrpc.client.ServerProxy:
        """A fresh ServerProxy on the unix socket (not thread-safe: one per caller)."""
        return xmlrpc.client.ServerProxy(
            "http://localhost", transport=_UnixTransport(self.socket_path, timeout)
        )

    def _raw_call(self, method: str, *args: Any, timeout: float | None = _QUICK_TIMEOUT) -> Any:
        with self.rpc(timeout) as proxy:
            return getattr(proxy, method)(*args)

    def _call(self, method: str, *args: Any, timeout: float | None = _QUICK_TIMEOUT) -> Any:
        """Call ``method``; connection problems become a SupervisorError (Faults pass)."""
        try:
            return self._raw_call(method, *args, timeout=timeout)
        except xmlrpc.client.Fault:
            raise
        except _RPC_ERRORS as e:
            raise SupervisorError(
                f"supervisord is not answering on {self.socket_path} ({e}); "
                f"is the cluster up? (config {self.conf_path}, log {self.log_path})"
            ) from None

    def _fault(self, fault: xmlrpc.client.Fault, name: str, action: str) -> SupervisorError:
        """Turn a Fault about program ``name`` into an actionable error."""
        code = fault.faultCode
        if code == Faults.BAD_NAME:
            try:
                known = ", ".join(sorted(self.all_info())) or "none"
            except SupervisorError:
                known = "?"
            return SupervisorError(f"no process named {name!r} (known: {known})")
        if code in (Faults.ABNORMAL_TERMINATION, Faults.SPAWN_ERROR):
            return SupervisorError(f"{name} failed to start: {self._describe(name)}")
        if code in (Faults.NO_FILE, Faults.NOT_EXECUTABLE):
            return SupervisorError(f"cannot {action} {name}: {fault.faultString}")
        if code == Faults.NOT_RUNNING:
            return SupervisorError(f"cannot {action} {name}: it is not running")
        if code == Faults.BAD_SIGNAL:
            return SupervisorError(f"cannot {action} {name}: unknown signal")
        if code == Faults.SHUTDOWN_STATE:
            return SupervisorError(f"cannot {action} {name}: supervisord is shutting down")
        return SupervisorError(f"cannot {action} {name}: {fault.faultString}")

    def _describe(self, name: str) -> str:
        """State, exit status and log tail of ``name``: what you need after a crash."""
        try:
            info = self.info(name)
        except SupervisorError as e:
            return str(e)
        text = f"state {info['statename']}"
        if info.get("spawnerr"):
            text += f" ({info['spawnerr']})"
        elif info.get("description"):
            text += f" ({info['description']})"
        log = info.get("stdout_logfile") or str(self.log_dir / f"{name}.log")
        try:
            tail = Path(log).read_text(errors="replace").splitlines()[-10:]
        except OSError:
            tail = []
        text += f"; log {log}"
        if tail:
            text += ":\n  " + "\n  ".join(tail)
        return text

    # -- lifecycle ---------------------------------------------------------

    def is_running(self) -> bool:
        """True if a supervisord answers on our socket (even while shutting down)."""
        try:
            self._raw_call("supervisor.getState", timeout=2.0)
        except xmlrpc.client.Fault:
            return True
        except _RPC_ERRORS:
            return False
        return True

    def start(self, timeout: float = 15) -> None:
        """Launch supervisord (it daemonizes) and wait until it reports RUNNING.

        No-op if it is already answering. Errors found before daemonizing
        (bad config, socket in use) are printed by supervisord to its stdout,
        which goes to logs/supervisord.startup.log and into the error text.
        """
        if not self.conf_path.exists():
            raise SupervisorError(f"{self.conf_path} does not exist: render the cluster first")
        if self.is_running():
            return
        self.reap_orphans()  # leftovers of a supervisord that died would hold the ports
        private_dir(self.log_dir)
        startup_log = self.log_dir / "supervisord.startup.log"
        deadline = time.monotonic() + timeout
        fd = open_private(startup_log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with open(fd, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir,
                umask=0o077,  # its logs, and everything its nodes write, private to the user
            )
        try:
            # The launcher exits as soon as the daemon has forked off.
            rc = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = None
        if rc != 0:
            output = startup_log.read_text(errors="replace").strip()
            raise SupervisorError(
                f"supervisord did not start (config {self.conf_path}, exit {rc}): "
                f"{output or 'no output'}; see {self.log_path}"
            )
        last: object = None
        while time.monotonic() < deadline:
            try:
                state = self._raw_call("supervisor.getState", timeout=2.0)
                if state["statename"] == "RUNNING":
                    return
                last = state["statename"]
            except (xmlrpc.client.Fault, *_RPC_ERRORS) as e:
                last = e
            time.sleep(_POLL)
        raise SupervisorError(
            f"supervisord did not reach RUNNING within {timeout}s on {self.socket_path} "
            f"(last: {last}); see {self.log_path}"
        )

    def shutdown(self, timeout: float = 20) -> list[str]:
        """Stop every program and supervisord, then prove nothing survived.

        Resumes (SIGCONT) each child's process group first: a SIGSTOPped node
        cannot act on TERM, and supervisord would wait stopwaitsecs and SIGKILL
        it. Children whose process group still has a live member after
        supervisord exited are SIGKILLed and reported. No-op if not running.
        """
        if not self.is_running():
            return self.reap_orphans()
        deadline = time.monotonic() + timeout
        try:
            sup_pid: int | None = int(self._call("supervisor.getPID"))
            children = {i["pid"]: n for n, i in self.all_info().items() if i["pid"]}
        except (SupervisorError, xmlrpc.client.Fault):
            # It started going down between is_running() and here.
            sup_pid, children = self.daemon_pid(), {}
        for pid in children:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGCONT)
        # Failures here (timeouts, already shutting down) are judged below by
        # what is left running, not by the RPCs' answers.
        with contextlib.suppress(SupervisorError, xmlrpc.client.Fault):
            self._call("supervisor.stopAllProcesses", False)
            while time.monotonic() < deadline and any(
                i["statename"] not in _STOPPED_STATES for i in self.all_info().values()
            ):
                time.sleep(_POLL)
        with contextlib.suppress(xmlrpc.client.Fault, *_RPC_ERRORS):
            self._raw_call("supervisor.shutdown")
        leftovers: list[str] = []
        if sup_pid is not None:
            while pid_alive(sup_pid) and time.monotonic() < deadline:
                # A connection wakes supervisord's 1s select loop, so it
                # notices sooner that all programs stopped and exits.
                self.is_running()
                time.sleep(_POLL)
            if pid_alive(sup_pid):
                with contextlib.suppress(OSError):
                    os.kill(sup_pid, signal.SIGKILL)
                leftovers.append(f"supervisord (pid {sup_pid}) still running after {timeout}s")
        for pid, name in children.items():
            members = group_members(pid)
            if members:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
                leftovers.append(f"{name} (pid {pid}, group members {members})")
        if leftovers:
            raise SupervisorError(
                "unclean shutdown, SIGKILLed: " + "; ".join(leftovers) + f"; see {self.log_path}"
            )
        return []

    def reap_orphans(self, timeout: float = 10) -> list[str]:
        """Stop processes of this cluster that outlived their supervisord.

        A supervisord killed with SIGKILL (or OOM-killed) cannot stop its
        children; they keep running and hold their ports. Each is resumed and
        sent SIGTERM (a node checkpoints and exits), then SIGKILL if it lingers.
        Returns a description of each process stopped.
        """
        found = processes_under(self.state_dir)
        for pid in found:
            for sig in (signal.SIGCONT, signal.SIGTERM):
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(pid_alive(p) for p in found):
            time.sleep(_POLL)
        for pid in found:
            if pid_alive(pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        return [f"pid {pid}: {shlex.join(args)}" for pid, args in found.items()]

    def daemon_pid(self) -> int | None:
        """supervisord's pid from its pid file (None without one)."""
        try:
            return int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None

    # -- programs ----------------------------------------------------------

    # supervisord's own wait=True answers only on its next loop wake-up (a 1s
    # poll), so every stop would cost a second. Instead we ask it not to wait
    # and poll getProcessInfo: each call wakes the loop, which reaps and
    # advances the state machine at once.

    def start_program(self, name: str, wait: bool = True) -> None:
        """Start ``name``; already running is fine. With wait, it has survived startsecs."""
        try:
            self._call("supervisor.startProcess", name, False)
        except xmlrpc.client.Fault as f:
            if f.faultCode != Faults.ALREADY_STARTED:
                raise self._fault(f, name, "start") from None
        if wait:
            state = self._await(name, lambda s: s != "STARTING", "start")
            if state != "RUNNING":
                raise SupervisorError(f"{name} failed to start: {self._describe(name)}")

    def stop_program(self, name: str, wait: bool = True) -> None:
        """Stop ``name`` (stopsignal, then SIGKILL after stopwaitsecs); stopped is fine."""
        try:
            self._call("supervisor.stopProcess", name, False)
        except xmlrpc.client.Fault as f:
            if f.faultCode != Faults.NOT_RUNNING:
                raise self._fault(f, name, "stop") from None
        if wait:
            self._await(name, lambda s: s in _STOPPED_STATES, "stop")

    def _await(self, name: str, done: Callable[[str], bool], action: str) -> str:
        """Poll ``name``'s state until ``done``; supervisord itself enforces
        startsecs/stopwaitsecs, so the deadline is only a safety net."""
        deadline = time.monotonic() + _WAIT_TIMEOUT
        while not done(state := self.info(name)["statename"]):
            if time.monotonic() > deadline:
                raise SupervisorError(
                    f"{name} did not {action} within {_WAIT_TIMEOUT}s (state {state}); "
                    f"see {self.log_path}"
                )
            time.sleep(_POLL)
        return state

    def reload_programs(self) -> tuple[list[str], list[str]]:
        """Make the running supervisord match its (re-rendered) config file: programs new
        in it are added (not started), programs gone are stopped and removed."""
        try:
            [[added, _changed, removed]] = self._call("supervisor.reloadConfig")
            for name in removed:
                self.stop_program(name)
                self._call("supervisor.removeProcessGroup", name)
            for name in added:
                self._call("supervisor.addProcessGroup", name)
        except xmlrpc.client.Fault as f:
            raise SupervisorError(
                f"supervisord could not reload {self.conf_path}: {f.faultString}"
            ) from None
        return sorted(added), sorted(removed)

    def signal_program(self, name: str, sig: str) -> None:
        """Send ``sig`` ("KILL", "STOP", "CONT", ...) to the program's main pid."""
        try:
            self._call("supervisor.signalProcess", name, sig)
        except xmlrpc.client.Fault as f:
            raise self._fault(f, name, f"send {sig} to") from None

    def info(self, name: str) -> dict[str, Any]:
        """getProcessInfo: statename, pid, exitstatus, stdout_logfile, ..."""
        try:
            return self._call("supervisor.getProcessInfo", name)
        except xmlrpc.client.Fault as f:
            raise self._fault(f, name, "inspect") from None

    def all_info(self) -> dict[str, dict[str, Any]]:
        """getProcessInfo for every program, keyed by name."""
        try:
            infos = self._call("supervisor.getAllProcessInfo")
        except xmlrpc.client.Fault as f:
            raise SupervisorError(f"cannot list programs: {f.faultString}") from None
        return {i["name"]: i for i in infos}

    def pids(self) -> list[int]:
        """Pids of every child supervisord currently has running."""
        return sorted(i["pid"] for i in self.all_info().values() if i["pid"])
