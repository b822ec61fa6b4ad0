import pytest

from cluster.commands.output import faults_line, status_table
from cluster.commands.table import CUT_HINT, SHORT, judge, notes, pack
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


def _rows() -> list[NodeView]:
    return [
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


def test_status_table_shows_down_links_lag_and_stopped_nodes():
    table = status_table(_rows(), verbose=True).splitlines()
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
        "BEHIND",
        "VV",
    ]
    assert "1/2 up (down: node-b)" in table[1] and "node-b:2" in table[1]
    assert "abcdef012345" in table[1] and "node-a@012345:3" in table[1]
    assert table[1].split()[4] == "node-a@012345"  # the incarnation, short
    assert table[1].split()[5:8] == ["3", "1", "2/3"]  # keys, tombstones, log held/named
    assert table[2].split()[:3] == ["node-b", "EXITED", "-"]
    assert table[3].split()[:3] == ["node-c", "RUNNING", "(recovering)"]
    assert table[4].split()[:3] == ["node-d", "RUNNING", "(decommissioned)"]


def test_the_default_table_is_short_and_the_vv_names_retired_incarnations_as_a_count():
    rows = _rows()
    retired = {f"node-{i}@{i:012x}": 1000 + i for i in range(250)}
    rows[0].vv = {**rows[0].vv, **retired}  # membership churn: 250 incarnations gone
    table = status_table(rows).splitlines()
    assert table[0].split() == SHORT
    assert max(len(line) for line in table) <= 100, table
    assert table[1].split()[6:9] == ["1/2", "up", "2"]  # links up; the worst subscriber lag
    assert "node-a@" not in table[1] and "abcdef01" in table[1] and "abcdef012" not in table[1]
    verbose = status_table(rows, verbose=True).splitlines()[1]
    assert "node-a@012345:3 +250 retired (" in verbose and "node-7@" not in verbose


def test_behind_counts_what_the_most_advanced_node_holds_and_a_digest_split_is_said():
    rows = [
        NodeView("a", "RUNNING", 1, "x", vv={"o": 5, "p": 2}, digest="d1"),
        NodeView("b", "RUNNING", 2, "x", vv={"o": 3}, digest="d2"),
        NodeView("c", "RUNNING", 3, "x", vv={"o": 5, "p": 2}, digest="d3"),
    ]
    judge(rows)
    assert [r.behind for r in rows] == [0, 4, 0]
    assert [r.digest_differs for r in rows] == [True, False, True]
    said = notes(rows)
    assert said == [
        "a: same vv as another node, other digest: two contents for one (origin, seq)? "
        "(docs/integrity.md)",
        "c: same vv as another node, other digest: two contents for one (origin, seq)? "
        "(docs/integrity.md)",
    ]


def test_storage_failure_and_long_errors_are_a_short_cell_with_the_whole_text_under_v():
    handshake = "failed to connect: " + "ssl handshake: certificate has expired " * 8
    rows = [
        NodeView("node-a", "RUNNING", 1, "x", storage_error="checkpoint: [Errno 30] read-only"),
        NodeView("node-b", "RUNNING", 2, "x", error=handshake),
    ]
    table = status_table(rows).splitlines()
    assert "RUNNING (storage failed)" in table[1]
    assert "RUNNING (error)" in table[2] and "handshake" not in table[2]
    short_notes = notes(rows)
    assert short_notes[0] == "node-a: storage failed: checkpoint: [Errno 30] read-only"
    assert " ... " in short_notes[1] and len(short_notes[1]) <= 100
    assert short_notes[1].endswith("certificate has expired")  # the reason, at the end
    assert short_notes[2] == CUT_HINT
    assert " ".join(handshake.split()) in notes(rows, verbose=True)[1]


def test_a_snapshot_cut_off_is_not_shown_as_under_way():
    rows = [
        NodeView("a", "RUNNING", 1, "x", snapshot="cut off sending to b at 7000/110917 records"),
        NodeView("b", "RUNNING", 2, "x", snapshot="received from c: 110917 records in 9.00s"),
    ]
    assert notes(rows) == []
    assert notes(rows, verbose=True) == [
        "snapshot: a cut off sending to b at 7000/110917 records",
        "snapshot: b received from c: 110917 records in 9.00s",
    ]


def test_pack_keeps_items_whole_within_100_columns():
    lines = pack("metrics: ", [f"node-{i} http://127.0.0.1:4{i:04d}/metrics" for i in range(7)])
    assert len(lines) > 1 and all(len(line) <= 100 for line in lines)
    assert " ".join(lines).count("/metrics") == 7


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
