import pytest

from cluster.commands.output import faults_line, status_table
from cluster.status import NodeView

pytestmark = pytest.mark.unit


def test_faults_line_groups_links_by_kind():
    assert faults_line({}) == "links: no faults"
    line = faults_line(
        {
            "a>b": {"mode": "blackhole"},
            "b>a": {"mode": "blackhole"},
            "a>c": {"mode": "ok", "delay_ms": 50},
        }
    )
    assert line == "links: blackhole: a>b b>a; delay 50 ms: a>c"


def test_status_table_shows_down_links_lag_and_stopped_nodes():
    rows = [
        NodeView(
            "node-a",
            "RUNNING",
            11,
            "127.0.0.1:1",
            keys=3,
            vv={"node-a@0123456789ab": 3},
            digest="abcdef0123456789",
            links={"node-b": False, "node-c": True},
            lag={"node-b": 2, "node-c": 0},
            replica_id="node-a@0123456789ab",
            replica_state="serving",
            tombstones=1,
            log_entries=3,
            log_held=2,
        ),
        NodeView("node-b", "EXITED", 0, "127.0.0.1:2"),
        NodeView("node-c", "RUNNING", 12, "127.0.0.1:3", replica_state="recovering"),
        NodeView("node-d", "RUNNING", 13, "127.0.0.1:4", replica_state="decommissioned"),
    ]
    table = status_table(rows).splitlines()
    assert table[0].split() == [
        "NODE",
        "STATE",
        "PID",
        "ADDRESS",
        "REPLICA",
        "KEYS",
        "TOMBS",
        "LOG",
        "DIGEST",
        "LINKS",
        "LAG",
        "VV",
    ]
    assert "1/2 up (down: node-b)" in table[1] and "node-b:2" in table[1]
    assert "abcdef012345" in table[1] and "node-a@012345:3" in table[1]
    assert table[1].split()[4] == "node-a@012345"  # the incarnation, short
    assert table[1].split()[5:8] == ["3", "1", "2/3"]  # keys, tombstones, log held/named
    assert table[2].split()[:3] == ["node-b", "EXITED", "-"]
    assert table[3].split()[:3] == ["node-c", "RUNNING", "(recovering)"]
    assert table[4].split()[:3] == ["node-d", "RUNNING", "(decommissioned)"]



def test_notes_under_the_status_table_name_skewed_clocks_and_held_links():
    from cluster.commands.output import notes

    rows = [
        NodeView(
            "node-a",
            "RUNNING",
            1,
            "a",
            clock_offset_ms={"node-b": 12, "node-c": 4000},
            link_errors={
                "node-c": "clock skew: node-c@0123456789ab is 4 s ahead of this node's clock",
                "node-b": "UNAVAILABLE: connection refused",
            },
        ),
        NodeView("node-b", "RUNNING", 2, "b", replica_state="recovering"),
        NodeView(
            "node-c",
            "RUNNING",
            3,
            "c",
            pins=[
                {"origin": "node-a@0123456789ab", "peer": "node-b", "acked": 7, "since_s": 41.0,
                 "open": False}
            ],
            snapshot="receiving from node-a: 10/99 records",
        ),
    ]
    assert notes(rows) == [
        "clock: node-a sees node-c +4,000 ms",
        "link node-c>node-a: clock skew: node-c@0123456789ab is 4 s ahead of this node's clock",
        "node-b: recovering (asking its peers)",
        "truncation: node-c holds node-a@012345's log past seq 7 for node-b "
        "(down, last ack 41s ago)",
        "snapshot: node-c receiving from node-a: 10/99 records",
    ]
