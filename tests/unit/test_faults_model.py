"""The fault algebra: which links a partition, an isolation, a cut or a delay touches."""

from __future__ import annotations

import pytest

from cluster.faults.model import (
    cut_faults,
    delay_faults,
    isolate_faults,
    mode_faults,
    partition_faults,
)

pytestmark = pytest.mark.unit

LINKS = [f"{s}>{d}" for s in "abc" for d in "abc" if s != d]


def test_partition_faults_cut_only_links_between_groups() -> None:
    assert partition_faults([["a"], ["b", "c"]], LINKS, "blackhole") == {
        "a>b": {"mode": "blackhole"},
        "a>c": {"mode": "blackhole"},
        "b>a": {"mode": "blackhole"},
        "c>a": {"mode": "blackhole"},
    }
    # c is in no group: its links are left alone.
    assert partition_faults([["a"], ["b"]], LINKS, "reset") == {
        "a>b": {"mode": "reset"},
        "b>a": {"mode": "reset"},
    }
    assert partition_faults([["a", "b", "c"]], LINKS, "blackhole") == {}
    with pytest.raises(ValueError, match="more than one partition group"):
        partition_faults([["a", "b"], ["b"]], LINKS, "blackhole")
    with pytest.raises(ValueError, match="blackhole or reset"):
        partition_faults([["a"], ["b"]], LINKS, "ok")


def test_isolate_faults_cut_every_link_of_the_node() -> None:
    assert isolate_faults("b", LINKS, "reset") == {
        "a>b": {"mode": "reset"},
        "b>a": {"mode": "reset"},
        "b>c": {"mode": "reset"},
        "c>b": {"mode": "reset"},
    }
    assert isolate_faults("z", LINKS, "blackhole") == {}


def test_cut_delay_and_mode_faults() -> None:
    assert cut_faults([("a", "b")], "reset") == {"a>b": {"mode": "reset"}, "b>a": {"mode": "reset"}}
    assert delay_faults("a", "c", 50) == {"a>c": {"delay_ms": 50}, "c>a": {"delay_ms": 50}}
    assert mode_faults(["a>b"], "ok") == {"a>b": {"mode": "ok"}}
    with pytest.raises(ValueError, match="blackhole or reset"):
        cut_faults([("a", "b")], "ok")
    with pytest.raises(ValueError, match="one of ok, blackhole, reset"):
        mode_faults(["a>b"], "drop")
