"""A newcomer's first day (issue #25), through the real CLI on a real mesh3: what a verb
says must be what it did, and a check that passed must say what it did not look at."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster.api import Cluster
from tests.hostile.test_cli_input import Cli as BytesCli

pytestmark = pytest.mark.integration


class Cli(BytesCli):
    """The hostile catalogue's CLI runner, with text out and never a traceback."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.home = tmp / "home"

    def __call__(self, *args: str | bytes, input: bytes | None = b"") -> Any:
        p = super().__call__(*args, input=input)
        out = subprocess.CompletedProcess(
            p.args, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode()
        )
        assert "Traceback" not in out.stderr, out.stderr
        return out


def ok(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return p.stdout


@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> Iterator[Cli]:
    c = Cli(tmp_path_factory.mktemp("first-day"))
    ok(c("up", "mesh3"))
    try:
        yield c
        problems = Cluster.open(None, c.home).unexpected_log_lines()
        assert not problems, "\n".join(problems)
    finally:
        c("down", "--purge")


def test_converge_names_the_members_it_left_out_and_all_or_expect_fail_on_them(cli):
    assert ok(cli("pause", "node-c")) == "node-c paused (SIGSTOP)\n"  # supervisord's way
    try:
        ok(cli("write", "node-a", "pk", "1"))
        text = ok(cli("converge", "--timeout", "30"))
        assert "2 of 3 members" in text and "left out: node-c (paused)" in text, text
        report = json.loads(ok(cli("converge", "--timeout", "30", "--json")))
        assert report["left_out"] == {"node-c": "paused"}
        assert sorted(n["node"] for n in report["nodes"]) == ["node-a", "node-b"]

        p = cli("converge", "--all", "--timeout", "30")
        assert p.returncode == 1 and "--all: 1 of 3 members left out: node-c (paused)" in p.stderr
        p = cli("converge", "--expect", "3", "--timeout", "30", "--json")
        assert p.returncode == 1 and "--expect 3: 2 nodes took part" in p.stderr, p.stderr
        assert json.loads(p.stdout)["left_out"] == {"node-c": "paused"}
        assert "left out: node-c" in ok(cli("converge", "--expect", "2"))
        p = cli("converge", "--expect", "4")
        assert p.returncode == 2 and "cluster mesh3 has 3 members" in p.stderr
    finally:
        assert ok(cli("resume", "node-c")) == "node-c resumed (SIGCONT)\n"
    ok(cli("stop", "node-b"))
    try:
        p = cli("converge", "--all")
        assert p.returncode == 1 and "node-b (down: STOPPED)" in p.stderr, p.stderr
    finally:
        ok(cli("start", "node-b"))
    text = ok(cli("converge", "--all", "--expect", "3", "--timeout", "30"))
    assert "3 of 3 members" in text and "left out" not in text, text


def test_write_takes_key_value_or_key_equals_value_and_never_an_empty_stdin_by_accident(cli):
    ok(cli("write", "node-a", "foo=bar"))
    assert ok(cli("read", "node-a", "foo")) == "bar\n"
    assert cli("read", "node-a", "foo=bar").returncode == 1  # no key named 'foo=bar'
    ok(cli("write", "node-a", "x=y", "z"))  # with VALUE, the key is taken as typed
    assert ok(cli("read", "node-a", "x=y")) == "z\n"

    p = cli("write", "node-a", "forgot")  # stdin is empty (not a terminal)
    assert p.returncode == 2, p
    assert "stdin was empty" in p.stderr and "--empty" in p.stderr, p.stderr
    assert cli("read", "node-a", "forgot").returncode == 1  # nothing was written
    ok(cli("write", "node-a", "forgot", "--empty"))
    assert ok(cli("read", "node-a", "forgot", "--raw")) == ""
    ok(cli("write", "node-a", "piped", input=b"from stdin"))
    assert ok(cli("read", "node-a", "piped", "--raw")) == "from stdin"

    p = cli("write", "node-a", "k", "v", "--empty")
    assert p.returncode == 2 and "not with VALUE and --empty" in p.stderr, p.stderr
    assert "KEY=VALUE" in ok(cli("write", "--help"))


def test_delete_of_an_absent_key_says_so_and_that_a_tombstone_was_written(cli):
    p = cli("delete", "node-b", "nonexistent")
    text = ok(p)
    assert "nonexistent was absent on node-b; a tombstone was written anyway" in text, text
    assert "deleted" not in text
    ok(cli("write", "node-a", "present", "1"))
    ok(cli("converge", "--timeout", "30"))
    assert ok(cli("delete", "node-b", "present")).startswith("deleted present on node-b seq")
    report = json.loads(ok(cli("delete", "node-b", "present", "--json")))
    assert report["absent"] is True and report["tombstone"] is True and report["seq"] > 0


def test_init_errors_never_point_at_a_line_of_a_file_that_does_not_exist(tmp_path):
    cli = Cli(tmp_path)
    p = cli("init", "/proc/x")
    assert p.returncode == 2 and p.stderr == "error: /proc/x.yaml: cannot write: " + (
        "No such file or directory\n"
    ), p.stderr
    p = cli("init", "Bad_Name")
    assert p.returncode == 2, p
    assert p.stderr.startswith("error: cluster init Bad_Name: name: expected lowercase"), p.stderr
    assert not re.search(r":\d+:", p.stderr), p.stderr  # no file:line of generated text
    assert not (tmp_path / "Bad_Name.yaml").exists()
    p = cli("init", ".")
    assert p.returncode == 2 and "expected a cluster name" in p.stderr, p.stderr
    (tmp_path / "sub").mkdir()
    assert "cluster mine" in ok(cli("init", "sub/mine", "--nodes", "4"))
    assert "cluster mine, 4 nodes" in ok(cli("validate", "sub/mine.yaml"))


def planted_missing(tmp: Path, *packages: str) -> str:
    """A PYTHONPATH on which importing each of ``packages`` fails, as where it is missing."""
    for name in packages:
        (tmp / "missing" / name).mkdir(parents=True)
        (tmp / "missing" / name / "__init__.py").write_text(
            f"raise ImportError('planted: no {name} here')\n"
        )
    return str(tmp / "missing")


def test_bench_failures_known_before_measuring_are_one_line_and_exit_2(tmp_path):
    cli = Cli(tmp_path)
    cli.env["PYTHONPATH"] = planted_missing(tmp_path, "redis", "matplotlib")
    cli.env["PIP_NO_INDEX"] = "1"  # --install's pip finds nothing and says so: no network
    cases = [
        (["--peers"], "the Python package redis is missing: pip install 'remesh[bench]'"),
        (["--peers", "--install"], "redis>=5 into"),  # could not install, or not importable
        (["--plot", "lat.png"], "--plot needs matplotlib: pip install 'remesh[bench]'"),
        (["--out", "/proc/nope/r.json"], "--out /proc/nope/r.json: cannot write there"),
    ]
    for extra, said in cases:
        p = cli("bench", "--only", "", *extra)
        assert p.returncode == 2, (extra, p.returncode, p.stderr)
        assert p.stderr.startswith("error: ") and p.stderr.count("\n") == 1, p.stderr
        assert said in p.stderr, (extra, p.stderr)
        assert p.stdout == ""  # nothing was measured
