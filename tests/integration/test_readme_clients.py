"""The README's Node.js and grpcurl examples, taken from README.md and run as written
against node-a of a mesh3 that `cluster up mesh3.yaml` brought up (mutual TLS, the
token): docs and test cannot drift. Only the address is replaced by node-a's (the README
says to take it from `cluster status`). ``ci/install-clients`` installs the clients; a
missing one fails the test with that fix, it never skips."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cluster.api import Cluster

pytestmark = [pytest.mark.integration, pytest.mark.needs("clients")]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
ADDRESS = "127.0.0.1:9701"
INSTALL = "run ci/install-clients (Node.js, its gRPC packages and grpcurl)"


def block(lang: str, containing: str) -> str:
    """The README's one ```lang block that contains ``containing``."""
    blocks = re.findall(rf"^```{lang}\n(.*?)^```", README.read_text(), re.M | re.S)
    found = [b for b in blocks if containing in b]
    assert len(found) == 1, f"README: expected one ```{lang} block with {containing!r}"
    return found[0]


def with_address(code: str, address: str) -> str:
    assert ADDRESS in code, f"README example no longer dials {ADDRESS}: update this test"
    return code.replace(ADDRESS, address)


@pytest.fixture
def mesh3(tmp_path: Path):
    """mesh3 in the per-user home of a HOME of its own, as a new user's `cluster up`."""
    env = {k: v for k, v in os.environ.items() if k not in ("REMESH_HOME", "XDG_STATE_HOME")}
    env["HOME"] = str(tmp_path / "user")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    (tmp_path / "user").mkdir()

    def cli(*args: str) -> str:
        p = subprocess.run(
            [sys.executable, "-m", "cluster.cli", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode == 0, f"cluster {' '.join(args)}: {p.stdout}{p.stderr}"
        return p.stdout

    cli("up", "mesh3.yaml")
    try:
        c = Cluster(tmp_path / "user/.local/state/remesh/mesh3")
        assert c.tls
        yield cli, env, c.address("node-a")
    finally:
        cli("down", "--purge")


def test_the_grpcurl_example_runs_as_written(mesh3, tmp_path: Path) -> None:
    cli, env, address = mesh3
    if not shutil.which("grpcurl", path=env["PATH"]):
        pytest.fail(f"no grpcurl on PATH: {INSTALL}")
    cli("write", "node-a", "k", "old")
    script = with_address(block("sh", "grpcurl $TLS"), address)
    p = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "remesh.v1.KV" in p.stdout and "grpc.health.v1.Health" in p.stdout, p.stdout
    assert '"value": "dg=="' in p.stdout, p.stdout  # the Get after the Put: v
    assert cli("read", "node-a", "k") == "v\n"


def test_the_nodejs_example_runs_as_written(mesh3, tmp_path: Path) -> None:
    cli, env, address = mesh3
    modules = ROOT / ".clients" / "node_modules"
    node = shutil.which("node")
    if node is None or not (modules / "@grpc" / "grpc-js").is_dir():
        pytest.fail(f"no node or no @grpc/grpc-js in {modules}: {INSTALL}")
    cli("write", "node-a", "k", "v")
    script = tmp_path / "example.js"
    script.write_text(with_address(block("js", "GrpcReflection"), address))
    p = subprocess.run(
        [node, str(script)],
        cwd=tmp_path,
        env={**env, "NODE_PATH": str(modules)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0 and p.stdout == "v\n", p.stdout + p.stderr
