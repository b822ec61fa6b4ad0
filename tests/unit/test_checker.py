"""The history checker on hand-written histories: each anomaly is caught, valid runs pass."""

from __future__ import annotations

import json

import pytest

from cluster.checker import FinalState, check, outcomes
from cluster.history import History, Op, dump, load

pytestmark = pytest.mark.unit

NODES = ("a", "b", "c")


class H:
    """A tiny history builder: each call records an invoke and its completion."""

    def __init__(self) -> None:
        self.h = History(start=0.0)

    def put(self, key: str, value: str, type_: str = "ok", hlc: int = 0, origin: str = "a"):
        return self._op("put", key, value, type_, hlc, origin)

    def delete(self, key: str, type_: str = "ok", hlc: int = 0, origin: str = "a"):
        return self._op("delete", key, None, type_, hlc, origin)

    def _op(self, op, key, value, type_, hlc, origin):
        inv = self.h.invoke(0, origin, op, key, value)
        fields = {"hlc": hlc, "origin": origin, "seq": 1} if type_ == "ok" else {"error": "x"}
        self.h.complete(inv, type_, **fields)
        return self

    @property
    def ops(self) -> list[Op]:
        return self.h.snapshot()


def live(hlc: int, value: str, origin: str = "a") -> FinalState:
    return FinalState(hlc, origin, False, value)


def tomb(hlc: int, origin: str = "a") -> FinalState:
    return FinalState(hlc, origin, True, None)


def everywhere(**states: FinalState | None) -> dict[str, dict[str, FinalState | None]]:
    return {n: dict(states) for n in NODES}


def kinds(verdict) -> list[str]:
    return [a["kind"] for a in verdict.anomalies]


# ------------------------------------------------------------------ anomalies
def test_lost_write_acked_max_put_missing():
    h = H().put("k", "w0-1", hlc=10).put("k", "w0-2", hlc=20)
    v = check(h.ops, everywhere(k=live(10, "w0-1")))
    assert not v.valid and kinds(v) == ["wrong-winner"]  # older acked value survived
    v = check(h.ops, everywhere(k=None))
    assert kinds(v) == ["lost-write"] and "w0-2" in v.anomalies[0]["detail"]


def test_lost_write_older_info_write_survived():
    h = H().put("k", "w0-1", "info").put("k", "w0-2", hlc=20)
    # The info put applied but with a version below the acked one: the acked put was lost.
    v = check(h.ops, everywhere(k=live(15, "w0-1")))
    assert kinds(v) == ["lost-write"]


def test_resurrected_delete():
    h = H().put("k", "w0-1", hlc=10).delete("k", hlc=20)
    v = check(h.ops, everywhere(k=live(10, "w0-1")))
    assert kinds(v) == ["resurrected-delete"] and v.anomalies[0]["key"] == "k"


def test_wrong_winner():
    h = H().put("k", "w0-1", hlc=30, origin="b").put("k", "w1-1", hlc=30, origin="c")
    v = check(h.ops, everywhere(k=live(30, "w0-1", "b")))
    assert kinds(v) == ["wrong-winner"]  # same hlc: the larger origin "c" must win


def test_phantom_value_nobody_wrote():
    h = H().put("k", "w0-1", hlc=10)
    v = check(h.ops, everywhere(k=live(50, "zz-9")))
    assert "phantom" in kinds(v)


def test_phantom_failed_op_applied():
    h = H().put("k", "w0-1", hlc=10).put("k", "w0-2", "fail")
    v = check(h.ops, everywhere(k=live(50, "w0-2")))
    assert kinds(v) == ["phantom"] and "failed" in v.anomalies[0]["detail"]


def test_phantom_key_with_no_ops():
    v = check(H().put("k", "w0-1", hlc=1).ops, everywhere(k=live(1, "w0-1"), other=live(2, "x")))
    assert kinds(v) == ["phantom"] and v.anomalies[0]["key"] == "other"


def test_phantom_tombstone_without_a_delete():
    v = check(H().put("k", "w0-1", hlc=10).ops, everywhere(k=tomb(20)))
    assert kinds(v) == ["phantom"]


def test_divergence():
    h = H().put("k", "w0-1", hlc=10).put("k", "w0-2", "info")
    final = everywhere(k=live(10, "w0-1"))
    final["c"]["k"] = live(40, "w0-2")
    v = check(h.ops, final)
    assert kinds(v) == ["divergence"]
    assert "c: value 'w0-2'" in v.anomalies[0]["detail"]


def test_divergence_with_a_lost_write_on_one_node():
    h = H().put("k", "w0-1", hlc=10).put("k", "w0-2", hlc=20)
    final = everywhere(k=live(20, "w0-2"))
    final["b"]["k"] = None
    v = check(h.ops, final)
    assert sorted(kinds(v)) == ["divergence", "lost-write"]
    assert [a["nodes"] for a in v.anomalies if a["kind"] == "lost-write"] == [["b"]]


# ---------------------------------------------------------------------- valid
def test_info_write_that_applied_and_won():
    h = H().put("k", "w0-1", hlc=10).put("k", "w1-1", "info")
    v = check(h.ops, everywhere(k=live(99, "w1-1", "c")))
    assert v.valid, v.anomalies


def test_info_write_that_did_not_apply():
    h = H().put("k", "w0-1", hlc=10).put("k", "w1-1", "info").put("j", "w1-2", "info")
    v = check(h.ops, everywhere(k=live(10, "w0-1"), j=None))
    assert v.valid, v.anomalies
    assert v.counts["ops"] == {"ok": 1, "fail": 0, "info": 2}


def test_concurrent_writes_max_wins():
    h = (
        H()
        .put("k", "w0-1", hlc=100, origin="a")
        .put("k", "w1-1", hlc=100, origin="c")
        .put("k", "w2-1", hlc=99, origin="b")
    )
    assert check(h.ops, everywhere(k=live(100, "w1-1", "c"))).valid


def test_delete_is_the_final_winner():
    h = H().put("k", "w0-1", hlc=10).delete("k", hlc=20, origin="b").put("k", "w0-2", "fail")
    assert check(h.ops, everywhere(k=tomb(20, "b"))).valid


def test_info_delete_may_win_with_an_unknown_version():
    h = H().put("k", "w0-1", hlc=10).delete("k", "info")
    assert check(h.ops, everywhere(k=tomb(11, "c"))).valid
    assert check(h.ops, everywhere(k=live(10, "w0-1"))).valid
    assert kinds(check(h.ops, everywhere(k=tomb(5, "c")))) == ["lost-write"]


def test_unfinished_invoke_counts_as_info(tmp_path):
    h = History(start=0.0)
    h.invoke(0, "a", "put", "k", "w0-1")
    assert [o.type for o in outcomes(h.snapshot())] == ["info"]
    assert check(h.snapshot(), everywhere(k=live(3, "w0-1"))).valid
    dump(h.snapshot(), tmp_path / "h.jsonl")
    assert load(tmp_path / "h.jsonl") == h.snapshot()
    assert json.loads((tmp_path / "h.jsonl").read_text())["type"] == "invoke"


# ------------------------------------------- the nemesis schedule and its CLI (pure)
def test_plan_replays_per_seed_and_covers_every_kind():
    import random

    from cluster.nemesis import plan

    nodes = ["a", "b", "c", "d", "e"]
    links = [f"{s}>{d}" for s in nodes for d in nodes if s != d]
    faults = ["kill", "partition", "pause"]
    p1 = plan(random.Random(7), nodes, links, faults, 20)
    assert p1 == plan(random.Random(7), nodes, links, faults, 20)
    assert p1 != plan(random.Random(8), nodes, links, faults, 20)
    assert sum(s.hold + s.gap for s in p1) >= 20
    assert {f.kind for s in p1[:3] for f in s.faults} == set(faults)
    for step in p1:
        assert 0.5 <= step.hold <= 3.0
        targets = [f.node for f in step.faults if f.node]
        assert len(targets) == len(set(targets)) < len(nodes)
        for f in step.faults:
            assert f.kind != "partition" or (f.params.cuts and set(f.params.cuts) <= set(links))
    # The same kinds run again even with no time: one step per kind at least.
    assert len(plan(random.Random(1), nodes, links, faults, 0.1)) >= 3


def test_ring_partition_on_three_nodes_cuts_one_way_each():
    import random

    from cluster.nemesis.kinds import Context
    from cluster.nemesis.kinds.partition import plan_cut

    nodes = ["a", "b", "c"]
    links = [f"{s}>{d}" for s in nodes for d in nodes if s != d]
    ctx = Context(random.Random(0), nodes, links, set(), nodes, True, 0)
    rings = [f for f in (plan_cut(ctx) for _ in range(50)) if f and f.shape == "ring"]
    assert rings
    for f in rings:
        assert len(f.cuts) == 3 and len({c.split(">")[0] for c in f.cuts}) == 3


def test_parse_duration():
    import argparse

    from cluster.commands.nemesis import parse_duration

    assert parse_duration("30s") == 30 and parse_duration("2m") == 120
    assert parse_duration("45") == 45 and parse_duration("500ms") == 0.5
    for bad in ("", "s", "-3s", "0", "3x"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_duration(bad)


def test_cli_unknown_fault_and_invalid_run(monkeypatch, capsys):
    import cluster.commands.nemesis as nemesis
    from cluster.api import Cluster
    from cluster.cli import main

    assert main(["nemesis", "--seed", "1", "--faults", "kill,meteor"]) == 2
    assert "unknown fault meteor; valid faults: partition, kill, pause" in capsys.readouterr().err

    class Fake:
        name = "mesh3"

    summary = {
        "cluster": "mesh3",
        "seed": 9,
        "valid": False,
        "verdict": "invalid",
        "anomalies": [{"kind": "lost-write", "key": "k", "detail": "gone"}],
        "ops": {"ok": 5, "info": 1, "fail": 0},
        "faults_injected": {"kill": 1},
        "converged": True,
        "convergence_seconds": 0.5,
        "out_dir": "x",
        "replay": "cluster nemesis --cluster mesh3 --seed 9 --duration 30s",
    }
    monkeypatch.setattr(Cluster, "open", staticmethod(lambda *a: Fake()))
    monkeypatch.setattr(nemesis, "run_nemesis", lambda *a, **k: summary)
    assert main(["nemesis", "--seed", "9"]) == 1
    out, err = capsys.readouterr()
    assert "INVALID" in out and "lost-write k: gone" in out
    assert "seed 9" in err and summary["replay"] in err
