"""Port picking: outside the ephemeral range, distinct across concurrent pickers."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket

import pytest

from cluster import ports

pytestmark = pytest.mark.component


@pytest.fixture(autouse=True)
def own_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("REMESH_PORTS_FILE", str(tmp_path / "ports"))
    return tmp_path / "ports"


def test_ports_are_distinct_bindable_and_below_the_ephemeral_range():
    got = ports.free_ports(20)
    assert len(set(got)) == 20
    low, _ = ports.ephemeral_range()
    assert all(ports.LOW <= p < low for p in got)
    for p in got:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))


def test_a_reserved_port_is_not_handed_out_again(own_registry):
    first = set(ports.free_ports(30))
    second = set(ports.free_ports(30))
    assert not first & second
    assert first | second <= {int(p) for p in json.loads(own_registry.read_text())}


def test_a_port_in_use_is_skipped(monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        taken = busy.getsockname()[1]
        monkeypatch.setattr(ports, "LOW", taken)
        monkeypatch.setattr(ports, "ephemeral_range", lambda: (taken + 1002, 65535))
        monkeypatch.setattr(ports.random, "sample", lambda pop, k: list(pop)[:k])
        assert taken not in ports.free_ports(3)


def test_expired_reservations_are_dropped(own_registry, monkeypatch):
    own_registry.write_text(json.dumps({"12345": 0.0}))  # expired long ago
    ports.free_ports(1)
    assert "12345" not in json.loads(own_registry.read_text())


def test_a_corrupt_registry_is_replaced_not_fatal(own_registry):
    own_registry.write_text("{not json")
    assert len(ports.free_ports(2)) == 2
    assert len(json.loads(own_registry.read_text())) == 2


def _pick(registry: str, queue) -> None:
    os.environ["REMESH_PORTS_FILE"] = registry
    queue.put(ports.free_ports(50))


def test_concurrent_processes_get_disjoint_ports(own_registry):
    queue = multiprocessing.get_context("fork").Queue()
    procs = [
        multiprocessing.get_context("fork").Process(target=_pick, args=(str(own_registry), queue))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    picks = [queue.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    flat = [port for pick in picks for port in pick]
    assert len(flat) == len(set(flat)) == 200


def test_without_room_below_the_ephemeral_range_the_kernel_picks(monkeypatch, own_registry):
    monkeypatch.setattr(ports, "ephemeral_range", lambda: (1024, 65535))
    got = ports.free_ports(10)
    assert len(set(got)) == 10
    assert set(got) == {int(p) for p in json.loads(own_registry.read_text())}


def test_ports_to_avoid_are_never_picked(monkeypatch):
    low = ports.LOW
    monkeypatch.setattr(ports, "ephemeral_range", lambda: (low + 1001, 65535))
    # 1001 ports, 450 of them tried (50 per port + 200): at least 10 are not avoided
    avoid = set(range(low, low + 440))
    got = ports.free_ports(5, avoid=avoid)
    assert not set(got) & avoid and all(low <= p <= low + 1000 for p in got)


def test_a_symlink_planted_at_the_registry_is_refused_and_its_target_untouched(
    own_registry, tmp_path
):
    target = tmp_path / "root-only"
    target.write_text("precious")
    own_registry.symlink_to(target)
    with pytest.raises(OSError, match="is a symlink: refusing to follow it"):
        ports.free_ports(1)
    assert target.read_text() == "precious"


def test_a_directory_at_the_registry_is_a_clear_error(own_registry):
    own_registry.mkdir()
    with pytest.raises(OSError, match="is a directory, not a file"):
        ports.free_ports(1)


def test_the_runtime_directory_must_be_ours_and_private(tmp_path, monkeypatch):
    from cluster.files import UnsafePath, private_dir

    planted = tmp_path / "planted"
    planted.mkdir()
    link = tmp_path / "remesh-link"
    link.symlink_to(planted)
    with pytest.raises(UnsafePath, match="not a directory"):
        private_dir(link)
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o777)
    os.chmod(loose, 0o777)
    assert private_dir(loose) == loose and (loose.stat().st_mode & 0o777) == 0o700
    if os.geteuid() == 0:  # only root can make a directory someone else's (CI runs as root)
        other = tmp_path / "other"
        other.mkdir()
        os.chown(other, 12345, 12345)
        with pytest.raises(UnsafePath, match="belongs to uid 12345"):
            private_dir(other)
