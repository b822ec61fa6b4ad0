"""A node that cannot serve says why at start, and the verb that started it says so at
once: an expired certificate (reissued by ``start`` and ``up``, refused by the node
itself), a CA out of date (rotation, while down), a data directory replaced by a file."""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cluster import certs
from cluster.files import atomic_write
from cluster.secrets import Paths, node_args, read_secret, secrets_dir
from tests.integration.test_cli import cli, out  # noqa: F401 - the CLI fixture

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PAIR = str(ROOT / "topology/pair.yaml")
NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def err(p: subprocess.CompletedProcess) -> str:
    return p.stderr.decode()


def plant_expired(state: Path, node: str) -> str:
    """``node``'s certificate replaced by one of the cluster's own CA that ended yesterday;
    returns the date the messages name."""
    paths = Paths(secrets_dir(state))
    ca = certs.Issued(read_secret(paths.ca[0]), read_secret(paths.ca[1]))
    leaf = certs.issue(ca, node, server=True, start=NOW - 40 * DAY, days=39)
    cert, key = paths.node(node)
    atomic_write(key, leaf.key)
    atomic_write(cert, leaf.cert)
    return f"{NOW - 40 * DAY + 39 * DAY:%Y-%m-%d %H:%M} UTC"


def test_start_reissues_an_expired_certificate_the_node_itself_refuses(cli, tmp_path):  # noqa: F811
    cli("up", PAIR)
    state = tmp_path / "home/pair"
    cli("stop", "node-b")
    ended = plant_expired(state, "node-b")

    # The node run by hand with it: exit 2 at once, naming the file, the date and the fix.
    command = [sys.executable, "-m", "node", "--config", str(state / "nodes/node-b/node.yaml")]
    p = subprocess.run(
        [*command, *node_args(state, "node-b", True)], capture_output=True, timeout=60
    )
    assert p.returncode == 2, err(p)
    assert err(p).splitlines() == [
        f"error: the TLS certificate {Paths(secrets_dir(state)).node('node-b')[0]} expired on "
        f"{ended}: issue a new one signed by the cluster CA (`cluster start NODE` or "
        "`cluster up` reissue theirs)"
    ]

    # `cluster start` reissues it (as `up` does), says so, and the node serves with it.
    p = cli("start", "node-b")
    assert out(p) == "node-b started\n"
    assert "note: reissued node-b's certificate" in err(p) and f"expired on {ended}" in err(p)
    cert, key = Paths(secrets_dir(state)).node("node-b")
    ca = Paths(secrets_dir(state)).ca[0]
    assert certs.problem(cert.read_bytes(), key.read_bytes(), ca.read_bytes(), "node-b") == ""
    cli("write", "node-a", "k", "v")
    cli("converge", "--timeout", "30")
    assert out(cli("read", "node-b", "k")) == "v\n"

    # Down, the same: `up` reissues it and says so.
    cli("down")
    ended = plant_expired(state, "node-a")
    p = cli("up", PAIR)
    assert "note: reissued node-a's certificate" in err(p) and f"expired on {ended}" in err(p)
    assert out(cli("read", "node-a", "k")) == "v\n"


def test_a_ca_out_of_date_names_rotation_which_works_while_down(cli, tmp_path):  # noqa: F811
    cli("up", PAIR)
    cli("write", "node-a", "k", "v")
    state = tmp_path / "home/pair"
    old = certs.make_ca("pair", start=NOW - 40 * DAY, days=39)
    ca_cert, ca_key = Paths(secrets_dir(state)).ca
    atomic_write(ca_key, old.key)
    atomic_write(ca_cert, old.cert)
    cli("stop", "node-b")

    p = cli("start", "node-b", ok=False)
    assert p.returncode == 2, err(p)
    assert f"the cluster CA {ca_cert}: it expired on" in err(p), err(p)
    assert "`cluster down --cluster pair`, `cluster rotate-secrets --cluster pair`" in err(p)
    assert "Traceback" not in err(p)

    before = (state / "cluster.json").read_text()
    p = cli("add", "node-c", ok=False)  # refused before anything changed
    assert p.returncode == 2 and "it expired on" in err(p) and "rotate-secrets" in err(p), err(p)
    assert (state / "cluster.json").read_text() == before

    p = cli("rotate-secrets", ok=False)  # what the message says, in its order
    assert p.returncode == 2 and "is up" in err(p), err(p)
    cli("down")
    cli("rotate-secrets")
    cli("up", PAIR)
    assert out(cli("read", "node-b", "k")) == "v\n"
    assert certs.ca_problem(ca_cert.read_bytes(), ca_key.read_bytes()) == ""


def test_a_data_directory_replaced_by_a_file_is_named_by_start_and_up(cli, tmp_path):  # noqa: F811
    cli.expect_errors = True  # node-b logs why it cannot start
    cli("up", PAIR)
    cli("write", "node-a", "k", "v")
    cli("converge", "--timeout", "30")
    state = tmp_path / "home/pair"
    data = state / "nodes/node-b/data"
    cli("stop", "node-b")
    data.rename(data.with_name("data.kept"))
    data.write_text("not a directory")

    want = re.compile(  # EXITED or FATAL: whether it lived a second (startsecs)
        rf"error: node-b failed to start \((EXITED|FATAL)\): cannot use the data directory "
        rf"{re.escape(str(data))}: {re.escape(str(data))} is a file, not a directory; put the "
        rf"data directory back, or move {re.escape(str(data))} away and the node starts empty"
    )
    p = cli("start", "node-b", ok=False)
    assert p.returncode == 1 and want.match(err(p)), err(p)
    assert "still missing" not in err(p)

    cli("down")
    p = cli("up", PAIR, ok=False)
    assert p.returncode == 1 and want.match(err(p)), err(p)

    data.unlink()  # the advice: moved away, the node starts empty and catches up
    cli("up", PAIR)
    cli("converge", "--timeout", "30")
    assert out(cli("read", "node-b", "k")) == "v\n"
