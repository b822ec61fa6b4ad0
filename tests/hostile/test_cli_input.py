"""Hostile catalogue: the command line as people (and scripts) mistype it, on a real
cluster. Each case: exit 2 (bad input) or 1 (failed check) with a message that says what
to do, never a traceback, and the cluster's data unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MESH3 = str(ROOT / "topology/mesh3.yaml")


class Cli:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.env = {**os.environ, "REMESH_HOME": str(tmp / "home")}

    def __call__(
        self, *args: str | bytes, input: bytes | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "cluster.cli", *args],
            env=self.env,
            cwd=self.tmp,
            capture_output=True,
            input=input,
            timeout=120,
        )

    def digests(self) -> list[str]:
        status = json.loads(self("status", "--json").stdout)
        return [n["digest"] for n in status["nodes"]]


@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> Iterator[Cli]:
    c = Cli(tmp_path_factory.mktemp("cli"))
    up = c("up", MESH3)
    assert up.returncode == 0, up.stderr.decode()
    c("write", "node-a", "kept", "1")
    yield c
    c("down", "--purge")


def bomb(tmp: Path) -> str:
    lines = ["name: t", "nodes: [a]", "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i, name in enumerate("bcdef"):
        prev = "abcdef"[i]
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    path = tmp / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def big(tmp: Path) -> str:
    path = tmp / "big.yaml"
    path.write_text("name: big\nnodes: [" + ", ".join(f"n{i}" for i in range(200)) + "]\n")
    return str(path)


def islands(tmp: Path) -> str:
    path = tmp / "islands.yaml"
    path.write_text("name: isl\nnodes: [a, b, c]\nlinks: []\n")
    return str(path)


def other_backend(tmp: Path) -> str:
    path = tmp / "k8s.yaml"
    path.write_text("name: k\nbackend: k8s\nnodes: [a, b]\n")
    return str(path)


CASES = [
    ("scan --limit -1", ["scan", "node-a", "--limit", "-1"], 2, "expected a number >= 0"),
    ("scan --limit abc", ["scan", "node-a", "--limit", "abc"], 2, "expected a whole number"),
    ("status --interval -1", ["status", "--watch", "--interval", "-1"], 2, "above 0"),
    ("bench --rates abc", ["bench", "--rates", "abc", "--only", "latency"], 2, "comma"),
    ("bench --clients 0", ["bench", "--clients", "0", "--only", "latency"], 2, "a number >= 1"),
    ("bench --concurrency -4", ["bench", "--concurrency", "-4"], 2, "a number >= 1"),
    ("bench --latency-seconds nan", ["bench", "--latency-seconds", "nan"], 2, "above 0"),
    ("delay -5", ["delay", "node-a", "node-b", "-5"], 2, "from 0 to 600,000 ms, got -5"),
    ("delay 99999999999", ["delay", "node-a", "node-b", "99999999999"], 2, "from 0 to 600,000 ms"),
    ("delay 5.5", ["delay", "node-a", "node-b", "5.5"], 2, "expected a whole number"),
    ("skew past a year", ["skew", "node-c", "+99999999999999"], 2, "to 31,536,000,000 ms, got"),
    ("skew abc", ["skew", "node-c", "abc"], 2, "expected a whole number, got 'abc'"),
    ("converge --timeout -1", ["converge", "--timeout", "-1"], 2, "above 0"),
    ("converge --timeout nan", ["converge", "--timeout", "nan"], 2, "above 0, got nan"),
    ("converge --timeout 1e300", ["converge", "--timeout", "1e300"], 2, "at most 604,800"),
    ("converge --expect 0", ["converge", "--expect", "0"], 2, "a number >= 1"),
    ("logs -n -5", ["logs", "node-a", "-n", "-5"], 2, "expected a number >= 0, got -5"),
    ("add --timeout inf", ["add", "node-d", "--timeout", "inf"], 2, "above 0, got inf"),
    ("up --timeout 0", ["up", MESH3, "--timeout", "0"], 2, "above 0, got 0"),
    ("nemesis --workers 0", ["nemesis", "--seed", "1", "--workers", "0"], 2, "from 1 to 256"),
    ("nemesis --seed -1", ["nemesis", "--seed", "-1"], 2, "expected a number >= 0"),
    ("nemesis --duration 9999h", ["nemesis", "--seed", "1", "--duration", "9999h"], 2, "a week"),
    ("init --nodes 99999999999", ["init", "x", "--nodes", "99999999999"], 2, "from 1 to 20,000"),
    ("rotate-secrets while up", ["rotate-secrets"], 2, "`cluster down --cluster mesh3` first"),
    ("partition of empty groups", ["partition", "", ""], 2, "at least two groups of nodes"),
    ("partition of unknown node", ["partition", "node-a", "node-x"], 2, "node-x"),
    ("write to unknown node", ["write", "node-x", "k", "v"], 2, "node-x"),
    ("metrics of unknown node", ["metrics", "node-x"], 2, "node-x"),
    ("logs of no node", ["logs"], 2, "give a NODE"),
    ("logs of a node and --all", ["logs", "node-a", "--all"], 2, "give a NODE"),
    ("empty key", ["write", "node-a", "", "v"], 2, "key must not be empty"),
    ("200-node full mesh", [lambda t: "validate", big], 2, "need 40,000 ports"),
    ("alias bomb", [lambda t: "validate", bomb], 2, "expand to more than 100,000"),
    ("islands", [lambda t: "validate", islands], 2, "cannot reach each other"),
    ("up --backend k8s", ["up", "--backend", "k8s", MESH3], 2, "invalid choice: 'k8s'"),
    ("backend: k8s", [lambda t: "validate", other_backend], 2, "one of: supervisor, docker"),
]


@pytest.mark.parametrize(("case", "argv", "code", "text"), CASES, ids=[c[0] for c in CASES])
def test_bad_command_lines_exit_with_a_message_and_change_nothing(cli, case, argv, code, text):
    before = cli.digests()
    args = [a(cli.tmp) if callable(a) else a for a in argv]
    p = cli(*args)
    err = p.stderr.decode()
    assert p.returncode == code, (p.returncode, err)
    assert text in err, err
    assert "Traceback" not in err
    assert cli.digests() == before


def test_a_key_that_is_not_utf8_round_trips(cli):
    key = b"\xff\xfe-not-utf8"
    assert cli("write", "node-a", key, "v").returncode == 0
    assert cli("converge", "--timeout", "30").returncode == 0
    p = cli("read", "node-c", key, "--raw")
    assert (p.returncode, p.stdout) == (0, b"v"), p.stderr


def test_output_into_a_closed_pipe_is_quiet(cli):
    p = subprocess.run(
        f"{sys.executable} -m cluster.cli status | head -c 10",
        shell=True,
        env=cli.env,
        cwd=cli.tmp,
        capture_output=True,
        timeout=60,
    )
    assert b"Traceback" not in p.stderr and b"BrokenPipe" not in p.stderr, p.stderr
    assert len(p.stdout) == 10


def test_converge_on_a_cluster_that_is_down_says_why(tmp_path):
    c = Cli(tmp_path)
    assert c("up", MESH3).returncode == 0
    try:
        assert c("down").returncode == 0
        p = c("converge", "--timeout", "2")
        assert p.returncode == 1
        assert "no node of cluster mesh3 is running" in p.stderr.decode()
    finally:
        c("down", "--purge")
