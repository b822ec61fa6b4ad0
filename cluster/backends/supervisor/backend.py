"""The supervisord ``Backend``: one supervisord per state directory runs the processes.

Nodes are not restarted when they die (a crash must stay visible), every
process starts in its own process group so a stop or kill takes its children
too, and readiness is the caller's health check, not supervisord's timer.
When supervisord itself died, the processes it left running are found by their
command lines (which name files inside the state directory) and reported as
``UNSUPERVISED``; ``up`` and ``down`` stop them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cluster.backends.base import RUNNING, UNSUPERVISED, ProcessInfo, ProcessSpec
from cluster.backends.procfs import pid_alive, processes_under
from cluster.backends.supervisor.conf import Program, SupervisorError, program_commands
from cluster.backends.supervisor.daemon import Supervisor
from cluster.wait import WaitTimeout, wait_for

HOST = "127.0.0.1"


def _program(spec: ProcessSpec) -> Program:
    return Program(
        spec.name,
        list(spec.command),
        directory=spec.directory,
        env=dict(spec.env),
        stopwaitsecs=spec.stop_timeout,
        priority=1 if spec.first else 999,
        # readiness is the caller's health check; one that restarts must survive a second
        # each start, else a proxy that cannot listen would restart forever
        startsecs=1 if spec.restart else 0,
        autorestart=spec.restart,
        startretries=3 if spec.restart else 0,
    )


def _info(raw: dict[str, Any]) -> ProcessInfo:
    pid = int(raw.get("pid") or 0)
    return ProcessInfo(raw["name"], raw["statename"], pid, str(pid) if pid else "")


class SupervisorBackend:
    """Runs a cluster's processes under its own supervisord (see ``Backend``)."""

    def __init__(self, state_dir: Path) -> None:
        self._sup = Supervisor(state_dir)

    def apply(self, specs: Sequence[ProcessSpec]) -> None:
        self._sup.render([_program(s) for s in specs])

    def reshape(self, specs: Sequence[ProcessSpec]) -> None:
        self.apply(specs)
        if self._sup.is_running():
            self._sup.reload_programs()

    def is_up(self) -> bool:
        return self._sup.is_running()

    def up(self, progress: Callable[[str], None] | None = None) -> None:
        self._sup.start()

    def start(self, name: str, wait: bool = True) -> None:
        self._sup.start_program(name, wait=wait)

    def stop(self, name: str) -> None:
        self._sup.stop_program(name)

    def kill(self, name: str) -> None:
        self._sup.signal_program(name, "KILL")
        try:
            wait_for(lambda: self.info(name).state != RUNNING, 10, f"{name} to die")
        except WaitTimeout as exc:
            raise SupervisorError(str(exc)) from None

    def pause(self, name: str) -> None:
        self._sup.signal_program(name, "STOP")

    def resume(self, name: str) -> None:
        self._sup.signal_program(name, "CONT")

    def info(self, name: str) -> ProcessInfo:
        return _info(self._sup.info(name))

    def processes(self) -> dict[str, ProcessInfo]:
        if self._sup.is_running():
            return {name: _info(raw) for name, raw in self._sup.all_info().items()}
        return self._leftovers()

    def _leftovers(self) -> dict[str, ProcessInfo]:
        """Processes a dead supervisord left running, named by the files their commands name."""
        inside = str(self._sup.state_dir) + "/"
        owner = {
            arg: name
            for name, command in program_commands(self._sup.conf_path).items()
            for arg in command[1:]
            if arg.startswith(inside)
        }
        found: dict[str, ProcessInfo] = {}
        for pid, args in sorted(processes_under(self._sup.state_dir).items()):
            name = next((owner[a] for a in args if a in owner), None)
            if name is not None:
                found[name] = ProcessInfo(name, UNSUPERVISED, pid, str(pid))
        return found

    def pids(self) -> list[int]:
        if not self._sup.is_running():
            return sorted(p.pid for p in self._leftovers().values())
        daemon = self.daemon_pid()
        return sorted(self._sup.pids() + ([daemon] if daemon else []))

    def daemon_pid(self) -> int | None:
        pid = self._sup.daemon_pid()
        return pid if pid is not None and pid_alive(pid) else None

    def log_path(self, name: str) -> Path:
        return self._sup.log_dir / f"{name}.log"

    def address(self, name: str, port: int) -> str:
        return f"{HOST}:{port}"

    def down(self, purge: bool = False) -> list[str]:
        return self._sup.shutdown()  # its data is in the state directory: the caller's
