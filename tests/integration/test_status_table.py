"""`cluster status` through the real CLI (issue 25 item 8, issue 33): a snapshot is shown
as under way only while its stream is, a node far behind is sent one snapshot rather than
one per reconnect, the default table fits 100 columns after membership churn (the
details under -v and --json), and a node whose storage failed says so."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from cluster.api import Cluster
from cluster.certs import make_ca
from cluster.wait import wait_for
from tests.integration.test_cli import cli, out  # noqa: F401 - the CLI fixture

pytestmark = pytest.mark.integration

SLOW_SNAPSHOTS = """\
name: snap3
nodes: [node-a, node-b, node-c]
settings: {snapshot_rate_keys: 400, snapshot_chunk_keys: 100}
"""


def started_snapshots(c: Cluster, to: str) -> list[str]:
    """The "sending <to> a snapshot" lines of every other node's log."""
    return [
        line
        for n in c.topology.names()
        if n != to
        for line in c.log_path(n).read_text().splitlines()
        if f"sending {to} a snapshot" in line
    ]


def test_a_node_far_behind_is_sent_one_snapshot_and_none_stays_shown_as_under_way(
    cli,  # noqa: F811
    tmp_path,
):
    """node-c misses 2 x 15,000 entries over 1,000 keys: both its peers would send it the
    state (2.5 s at 400 keys/s). It merges one at a time, so the second is refused at its
    Begin. That link used to reconnect within 50-400 ms and the sender start the whole
    snapshot again, four times a second, the last one cut off and left in ``status`` as
    "sending" for good. It now asks again once the first snapshot ended."""
    path = tmp_path / "snap3.yaml"
    path.write_text(SLOW_SNAPSHOTS)
    cli("up", str(path))
    c = Cluster.open("snap3", tmp_path / "home")
    cli("stop", "node-c")
    for r in range(15):  # from both: each lacks 15,000 of its peer's own entries
        for n in ("node-a", "node-b"):
            c.write_batch(n, [(b"k%04d" % i, b"%s%d" % (n.encode(), r)) for i in range(1000)])
    cli("converge", "--timeout", "60")
    cli("start", "node-c")
    cli("converge", "--timeout", "120")
    assert c.node_status("node-c").snapshots_received >= 1
    started = started_snapshots(c, "node-c")
    assert len(started) <= 2, "\n".join(started)  # one each at most, not one per reconnect
    table = out(cli("status"))
    assert not re.search(r"snapshot: .* (sending|receiving)", table), table
    verbose = out(cli("status", "-v"))
    if len(started) == 2:  # the refused one is said to be cut off, not under way
        assert "cut off sending to node-c" in verbose, verbose
    assert re.search(r"snapshot: node-c received from node-[ab]: 1000 records", verbose), verbose


def churn(cli, c: Cluster, rounds: int) -> None:  # noqa: F811
    """node-d joins, writes and leaves ``rounds`` times: each time a new incarnation, whose
    origin stays in every vv after it left."""
    for r in range(rounds):
        cli("add", "node-d")
        cli("write", "node-d", f"from-d-{r}", "1")
        cli("converge", "--timeout", "60")
        cli("remove", "node-d")


def test_the_default_table_fits_100_columns_after_churn_with_details_under_v_and_json(
    cli,  # noqa: F811
    tmp_path,
):
    cli("up", "mesh3.yaml")
    c = Cluster.open("mesh3", tmp_path / "home")
    churn(cli, c, 3)
    for n in ("node-a", "node-b", "node-c"):
        cli("write", n, f"k-{n}", "v")
    cli("converge", "--timeout", "60")
    table = out(cli("status"))
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= 100, table
    assert lines[0].split() == [
        "NODE", "STATE", "PID", "ADDRESS", "KEYS", "DIGEST", "LINKS", "LAG", "BEHIND",
    ]  # fmt: skip
    assert all(row.split()[1] == "RUNNING" and row.split()[-1] == "0" for row in lines[1:4])
    verbose = out(cli("status", "-v"))
    assert "+3 retired (3 entries)" in verbose, verbose  # node-d's three incarnations
    assert "LOG: entries on disk/entries the vv names" in verbose
    assert all(f"{n}@" in verbose for n in ("node-a", "node-b", "node-c"))
    nodes = json.loads(out(cli("status", "--json")))["nodes"]
    assert all(sum(1 for o in n["vv"] if o.startswith("node-d@")) == 3 for n in nodes), nodes
    assert all(n["storage_ok"] is True and n["behind"] == 0 for n in nodes), nodes
    assert all(n["log_entries"] == sum(n["vv"].values()) for n in nodes)

    # A handshake the tool cannot complete (the CA it trusts is not the nodes'): a short
    # STATE cell, a one-line note with the reason, the whole message under -v and --json.
    ca = c.dir / "secrets/ca.pem"
    kept = ca.read_bytes()
    ca.write_bytes(make_ca("mesh3").cert)
    try:
        table = out(cli("status"))
        verbose = out(cli("status", "-v"))
        nodes = json.loads(out(cli("status", "--json")))["nodes"]
    finally:
        ca.write_bytes(kept)
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= 100, table
    assert [row.split()[1:3] for row in lines[1:4]] == [["RUNNING", "(error)"]] * 3, table
    assert "CERTIFICATE_VERIFY_FAILED" not in "".join(lines[:4]), table
    assert "unable to get local issuer certificate" in table and "status -v" in table, table
    assert all(len(n["error"]) > 100 and n["error"] in " ".join(verbose.split()) for n in nodes)

    # Storage that fails under a running node: the STATE cell and a note say so.
    shutil.rmtree(c.dir / "nodes/node-b/data")
    assert cli("write", "node-b", "after", "1", ok=False).returncode == 1
    cli.expect_errors = True  # node-b logs "storage failed" at ERROR: it is the point

    def failed() -> str | None:
        table = out(cli("status"))
        return table if "RUNNING (storage failed)" in table else None

    table = wait_for(failed, 30, "status to say node-b's storage failed")
    assert "node-b: storage failed:" in table and max(map(len, table.splitlines())) <= 100
    nodes = {n["name"]: n for n in json.loads(out(cli("status", "--json")))["nodes"]}
    assert nodes["node-b"]["storage_ok"] is False and nodes["node-b"]["storage_error"]
    assert nodes["node-a"]["storage_ok"] is True
