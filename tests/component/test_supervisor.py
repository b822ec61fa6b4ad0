"""The supervisord backend against a real supervisord running tiny dummy programs.

Fast (well under a second per test) but real: these pin the behaviour the
cluster tool relies on -- killed nodes stay dead, pauses are real SIGSTOPs,
and shutdown leaves no process behind even when a child is stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cluster.backends.supervisor import (
    Program,
    Supervisor,
    SupervisorError,
    pid_alive,
    processes_under,
)
from cluster.wait import wait_for as shared_wait_for

pytestmark = [pytest.mark.component, pytest.mark.timeout(60)]

# Handles TERM by logging and exiting 0, so a clean stop is observable in its log.
SLEEPER = (
    "import signal, sys, time; "
    "signal.signal(signal.SIGTERM, lambda *a: (print('got TERM', flush=True), sys.exit(0))); "
    "print('ready', flush=True); time.sleep(3600)"
)


def sleeper(name: str, **kw: object) -> Program:
    kw.setdefault("startsecs", 0)
    return Program(name, [sys.executable, "-c", SLEEPER], **kw)  # type: ignore[arg-type]


def start_ready(sup: Supervisor, name: str) -> int:
    """Start a sleeper and wait until its TERM handler is installed; return its pid."""
    log = sup.log_dir / f"{name}.log"
    before = log.read_text().count("ready") if log.exists() else 0
    sup.start_program(name)
    wait_for(lambda: log.read_text().count("ready") > before, f"{name} to be ready")
    return sup.info(name)["pid"]


def wait_for(cond: Callable[[], object], what: str, timeout: float = 10) -> None:
    """Poll ``cond`` until true or fail naming ``what``."""
    shared_wait_for(cond, timeout, what)


def proc_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def ctl_status(sup: Supervisor) -> dict[str, str]:
    """Program states as the real supervisorctl client reports them."""
    out = subprocess.run(
        [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(sup.conf_path), "status"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}


@pytest.fixture
def make_sup(tmp_path: Path) -> Iterator[Callable[..., Supervisor]]:
    """Render and start supervisord; always shut it down and check nothing is left."""
    started: list[tuple[Supervisor, int]] = []

    def make(programs: list[Program], state_dir: Path | None = None) -> Supervisor:
        sup = Supervisor(state_dir or tmp_path / "state")
        sup.render(programs)
        try:
            sup.start()
        finally:
            pid = sup.daemon_pid()
            if pid is not None:
                started.append((sup, pid))
        return sup

    yield make
    for sup, pid in started:
        try:
            sup.shutdown()
        finally:
            if pid_alive(pid):  # last resort so a failing test leaks nothing
                os.kill(pid, 9)
        assert not pid_alive(pid)


def test_render_start_and_run_a_program(make_sup: Callable[..., Supervisor]) -> None:
    sup = make_sup([sleeper("node-a"), sleeper("proxy", priority=1)])
    assert sup.is_running()
    assert sup.all_info()["node-a"]["statename"] == "STOPPED"  # autostart=false
    sup.start_program("node-a")
    info = sup.info("node-a")
    assert info["statename"] == "RUNNING"
    assert pid_alive(info["pid"])
    assert sup.pids() == [info["pid"]]
    assert ctl_status(sup) == {"node-a": "RUNNING", "proxy": "STOPPED"}
    sup.start_program("node-a")  # already started: no-op
    assert sup.info("node-a")["pid"] == info["pid"]


def test_killed_program_is_not_restarted(make_sup: Callable[..., Supervisor]) -> None:
    sup = make_sup([sleeper("node-a")])
    sup.start_program("node-a")
    pid = sup.info("node-a")["pid"]
    sup.signal_program("node-a", "KILL")
    wait_for(lambda: sup.info("node-a")["statename"] != "RUNNING", "node-a to die")
    wait_for(lambda: not pid_alive(pid), f"pid {pid} to be gone")
    # Every RPC runs a supervisord loop iteration, where an autorestart would happen.
    for _ in range(5):
        info = sup.info("node-a")
        assert info["statename"] == "EXITED" and info["pid"] == 0
    assert sup.pids() == []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_stop_and_cont_pause_the_process(make_sup: Callable[..., Supervisor]) -> None:
    sup = make_sup([sleeper("node-a")])
    sup.start_program("node-a")
    pid = sup.info("node-a")["pid"]
    sup.signal_program("node-a", "STOP")
    wait_for(lambda: proc_state(pid) == "T", "node-a to be stopped")
    assert sup.info("node-a")["statename"] == "RUNNING"  # supervisord cannot tell
    sup.signal_program("node-a", "CONT")
    wait_for(lambda: proc_state(pid) in "RS", "node-a to resume")


def test_stop_and_start_again(make_sup: Callable[..., Supervisor]) -> None:
    sup = make_sup([sleeper("node-a")])
    first = start_ready(sup, "node-a")
    sup.stop_program("node-a")
    assert sup.info("node-a")["statename"] == "STOPPED"
    assert not pid_alive(first)
    assert "got TERM" in (sup.log_dir / "node-a.log").read_text()
    sup.stop_program("node-a")  # already stopped: no-op
    sup.start_program("node-a")
    second = sup.info("node-a")
    assert second["statename"] == "RUNNING" and second["pid"] != first
    assert pid_alive(second["pid"])


def test_shutdown_leaves_nothing_even_with_a_stopped_child(
    make_sup: Callable[..., Supervisor],
) -> None:
    # stopwaitsecs long enough that only the CONT-before-TERM path can be quick.
    sup = make_sup([sleeper("node-a", stopwaitsecs=30), sleeper("node-b")])
    pids = [start_ready(sup, "node-a"), start_ready(sup, "node-b")]
    assert sorted(pids) == sup.pids()
    sup_pid = sup.daemon_pid()
    assert sup_pid is not None
    sup.signal_program("node-a", "STOP")
    sup.shutdown()
    assert not sup.is_running()
    assert not pid_alive(sup_pid)
    assert not any(pid_alive(p) for p in pids)
    assert "got TERM" in (sup.log_dir / "node-a.log").read_text()  # resumed, not SIGKILLed
    sup.shutdown()  # idempotent


LEAKER = """
import signal, subprocess, sys, time
helper = "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
helper += "print('helper', os.getpid(), flush=True); time.sleep(3600)"
subprocess.Popen([sys.executable, "-c", helper])
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
time.sleep(3600)
"""


def test_shutdown_kills_and_reports_a_surviving_grandchild(
    make_sup: Callable[..., Supervisor], tmp_path: Path
) -> None:
    # The main process exits on TERM, so supervisord never escalates to a group
    # SIGKILL; the TERM-ignoring helper in its process group would outlive it.
    script = tmp_path / "leaker.py"
    script.write_text(LEAKER)
    sup = make_sup([Program("node-a", [sys.executable, str(script)], startsecs=0)])
    sup.start_program("node-a")
    log = sup.log_dir / "node-a.log"
    wait_for(lambda: "helper" in log.read_text(), "the helper to ignore TERM")
    helper = int(log.read_text().split()[1])
    with pytest.raises(SupervisorError, match=rf"unclean shutdown.*node-a.*{helper}"):
        sup.shutdown()
    wait_for(lambda: not pid_alive(helper), "the helper to be SIGKILLed")


def test_shutdown_of_a_never_started_supervisor_is_a_noop(tmp_path: Path) -> None:
    Supervisor(tmp_path / "nothing").shutdown()


def test_long_state_dir_uses_tmp_socket(
    make_sup: Callable[..., Supervisor], tmp_path: Path
) -> None:
    state_dir = tmp_path / ("d" * 60) / ("e" * 60)
    sup = make_sup([sleeper("node-a")], state_dir=state_dir)
    private = sup.socket_path.parent
    assert private.name == f"remesh-{os.getuid()}"  # this user's 0700 runtime directory
    assert private.stat().st_uid == os.getuid() and private.stat().st_mode & 0o777 == 0o700
    assert f"file={sup.socket_path}" in sup.conf_path.read_text()
    other = Supervisor(state_dir)  # another verb, another process: same socket
    assert other.socket_path == sup.socket_path
    other.start_program("node-a")
    assert ctl_status(sup) == {"node-a": "RUNNING"}


def test_unknown_program_error_names_the_known_ones(make_sup: Callable[..., Supervisor]) -> None:
    sup = make_sup([sleeper("node-a"), sleeper("node-b")])
    with pytest.raises(
        SupervisorError, match=r"no process named 'node-x' \(known: node-a, node-b\)"
    ):
        sup.start_program("node-x")
    with pytest.raises(SupervisorError, match="no process named 'node-x'"):
        sup.info("node-x")


def test_crash_during_startup_is_reported_with_its_log(
    make_sup: Callable[..., Supervisor],
) -> None:
    # startsecs far above the crash time, so it surely dies while STARTING.
    argv = [sys.executable, "-c", "print('bad config: port'); raise SystemExit(3)"]
    crash = Program("node-a", argv, startsecs=30)
    sup = make_sup([crash])
    with pytest.raises(SupervisorError, match=r"(?s)node-a failed to start.*bad config: port"):
        sup.start_program("node-a")
    # startretries=0: it gives up (BACKOFF -> FATAL) instead of respawning.
    wait_for(lambda: sup.info("node-a")["statename"] == "FATAL", "node-a to be FATAL")
    assert (sup.log_dir / "node-a.log").read_text().count("bad config") == 1


def test_signal_to_a_stopped_program_is_an_error(make_sup: Callable[..., Supervisor]) -> None:
    sup = make_sup([sleeper("node-a")])
    with pytest.raises(SupervisorError, match="not running"):
        sup.signal_program("node-a", "STOP")


def test_environment_values_survive_supervisor_quoting(
    make_sup: Callable[..., Supervisor],
) -> None:
    env = {
        "SPACES": " a b ",
        "COMMA": "x,y=z",
        "PERCENT": "100%(here)s",
        "SINGLE": "it's",
        "DOUBLE": 'say "hi"!',
        "HASH": "a#b;c",
        "BACKSLASH": r"C:\dir\n",
        "EMPTY": "",
        "UNICODE": "héllo",
    }
    dump = (
        "import json, os, time; print(json.dumps(dict(os.environ)), flush=True); time.sleep(3600)"
    )
    sup = make_sup([Program("env", [sys.executable, "-c", dump], env=env, startsecs=0)])
    sup.start_program("env")
    log = sup.log_dir / "env.log"
    wait_for(lambda: log.exists() and log.read_text().endswith("\n"), "env dump")
    seen = json.loads(log.read_text(encoding="utf-8").splitlines()[0])
    assert {k: seen.get(k) for k in env} == env


def test_calls_without_supervisord_say_it_is_not_answering(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    sup.render([sleeper("node-a")])
    assert not sup.is_running()
    with pytest.raises(SupervisorError, match="not answering"):
        sup.start_program("node-a")


def test_processes_under_finds_our_programs_not_a_reader_of_a_log(tmp_path: Path) -> None:
    """Leftovers are found by ``--config FILE`` in the state directory; a ``tail -f``
    on a log there (or a program of another directory) is never taken for one."""
    state, other = tmp_path / "mesh3", tmp_path / "mesh3x"
    for d in (state, other):
        (d / "logs").mkdir(parents=True)
        (d / "logs/node-a.log").write_text("")
    forever = "import time\nwhile True: time.sleep(1)"
    ours = subprocess.Popen([sys.executable, "-c", forever, "--config", str(state / "n.yaml")])
    theirs = subprocess.Popen([sys.executable, "-c", forever, "--config", str(other / "n.yaml")])
    reader = subprocess.Popen(["tail", "-f", str(state / "logs/node-a.log")])
    try:
        shared_wait_for(lambda: ours.pid in processes_under(state), 10, "our program found")
        found = processes_under(state)
        assert theirs.pid not in found and reader.pid not in found
    finally:
        for p in (ours, theirs, reader):
            p.kill()
            p.wait()
