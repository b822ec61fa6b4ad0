"""Hostile catalogue: the tool on a machine shared with other users and other clusters."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cluster.errors import ClusterError
from cluster.readiness import not_ready
from cluster.verblock import LOCK_FILE, hold
from node.pb import remesh_pb2 as pb

ROOT = Path(__file__).resolve().parents[2]


class FakeClient:
    """Answers like whatever holds the node's port."""

    address = "127.0.0.1:9701"

    def __init__(self, node_id: str, cluster: str) -> None:
        self.st = pb.StatusResponse(node_id=node_id, cluster=cluster)

    def serving(self) -> bool:
        return True

    def status(self, timeout: float = 2) -> pb.StatusResponse:
        return self.st


@pytest.mark.unit
@pytest.mark.parametrize(
    ("node_id", "cluster", "text"),
    [
        ("node-a", "other", "answers as node 'node-a' of cluster 'other', not 'node-a' of 'mine'"),
        ("node-b", "mine", "answers as node 'node-b' of cluster 'mine'"),
    ],
)
def test_a_node_of_another_cluster_on_the_port_is_never_ready(node_id, cluster, text):
    with pytest.raises(ClusterError, match=text):
        not_ready("node-a", FakeClient(node_id, cluster), {"node-a"}, (), "mine")  # type: ignore[arg-type]
    assert not_ready("node-a", FakeClient("node-a", "mine"), {"node-a"}, (), "mine") == []  # type: ignore[arg-type]


@pytest.mark.component
def test_a_second_up_of_a_cluster_that_is_starting_exits_2_and_changes_nothing(tmp_path):
    home = tmp_path / "home"
    with hold(home / "mesh3", "up"):
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "cluster.cli",
                "--home",
                str(home),
                "up",
                str(ROOT / "topology/mesh3.yaml"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert p.returncode == 2, p.stderr
    assert f"busy: up by pid {os.getpid()} since" in p.stderr and "Traceback" not in p.stderr
    assert "--wait" in p.stderr
    assert sorted(x.name for x in (home / "mesh3").iterdir()) == [LOCK_FILE]


@pytest.mark.integration
def test_everything_a_cluster_writes_is_private_to_its_user(clean_cluster):
    c = clean_cluster("mesh3")
    c.write("node-a", b"secret", b"value")
    c.converge(30)
    loose = []
    for path in [c.dir, *c.dir.rglob("*")]:
        if path.is_symlink() or path.is_socket():
            continue
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            loose.append(f"{path.relative_to(c.dir.parent)} {oct(mode)}")
    assert not loose, "readable by others:\n" + "\n".join(loose)
    assert os.stat(c.dir / "nodes/node-a/data").st_uid == os.getuid()


# A fixed name in a shared temp directory: another user can plant a symlink there first
# and have us (often root) write through it. Scripts use mktemp, the code private dirs.
FIXED_TMP = re.compile(r"(?<![\w$}.])/(?:tmp|var/tmp|dev/shm)/[\w.-]")


IMAGE_SOURCE = Path("cluster/backends/docker/image.py")


@pytest.mark.unit
def test_no_fixed_path_in_a_shared_temp_directory_in_scripts_tool_or_tests():
    scanned, found = 0, []
    for path in [*ROOT.glob("ci/*"), *ROOT.glob(".ci/*")] + sorted(
        p for d in ("cluster", "node", "tests") for p in (ROOT / d).rglob("*.py")
    ):
        if path.relative_to(ROOT) == IMAGE_SOURCE:  # /tmp inside the image built, not the host
            continue
        text = path.read_text(errors="replace")
        scanned += 1
        for n, line in enumerate(text.splitlines(), 1):
            if FIXED_TMP.search(line) and "FIXED_TMP" not in line and "noqa: tmp" not in line:
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert scanned > 50, "the scan found no files: the layout changed"
    assert not found, "fixed paths in a shared temp dir (use mktemp, a private dir):\n" + "\n".join(
        found
    )
