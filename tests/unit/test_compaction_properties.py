"""Log truncation, tombstone GC and snapshot bootstrap under any schedule: the shipped
decisions (node/protocol/compaction.py, the snapshot judgement of node/protocol/vouch.py
and ``plan_commit``) over in-memory replicas (tests/memreplica.py).

A full mesh of replicas pulls from each other: a subscriber whose vv is below the
server's truncation point gets a snapshot (in chunks, possibly cut off part-way: the
vv does not move), and so does one lacking more entries than ``snapshot_lag_ratio``
times the server's records (Hypothesis picks the ratio; 0: never); anyone else gets
log entries. Each pull leaves the subscriber's ack
(vv, clock, member set) at the server; only open links count. Hypothesis picks writes,
deletes, pulls, partitions, GC rounds (truncation and tombstone collection with no
grace), snapshots cut off, wiped replicas and replicas restored from an older copy
(both a new incarnation), and a lying member sending snapshots (``GcNet.lie``): claims
past what origins announced, on the victim's own writes, a made-up origin, a GC horizon
ahead, an honest state under a forged horizon, a made-up origin under a horizon (the
node that takes it vouches for nothing of it: the two-step lie, where a later lie to
another node used that node's word, is closed; replicas vouch as node/replication/vouched.py).
After healing and draining, every
replica holds the same vv (the made-up origin aside: it is taken on the liar's word),
digest and live data, which is the last-writer-wins maximum of the surviving writes:
no deleted key came back, nothing the liar said lost a write.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from node.clock import pack
from node.pb import remesh_pb2 as pb
from node.protocol.compaction import MemberAck, needs_snapshot, snapshot_cheaper
from node.protocol.errors import PeerFailed, Refused
from node.protocol.horizon import StaleCheck
from node.protocol.identity import replica_id
from node.protocol.vouch import Known, judge
from tests.memreplica import MemoryReplica, Stale

pytestmark = pytest.mark.unit

KEYS = [b"k0", b"k1"]
LIAR = replica_id("liar", "00000000fa6e")
GHOST = replica_id("n0", "00000000fa6e")  # an incarnation of n0 only the liar claims


class GcNet:
    def __init__(self, n: int, retain: int, ratio: float = 0.0) -> None:
        self.names = [f"n{i}" for i in range(n)]
        self.ratio = ratio  # snapshot_lag_ratio: a server far enough ahead sends its state
        self.minted = 0
        self.nodes = {name: MemoryReplica(name, self.mint(name)) for name in self.names}
        self.acks: dict[tuple[str, str], MemberAck] = {}  # (server, subscriber) -> its ack
        self.cut: set[tuple[str, str]] = set()  # (subscriber, server) links down
        self.retain = retain
        self.written: list[pb.Entry] = []
        self.lost: set[tuple[str, int]] = set()
        self.now = 1

    def mint(self, name: str) -> str:
        self.minted += 1
        return replica_id(name, f"{self.minted:012x}")

    def members(self, server: str) -> dict[str, MemberAck | None]:
        out: dict[str, MemberAck | None] = {}
        for sub in self.names:
            if sub != server:
                ack = self.acks.get((server, sub))
                if ack is not None and (sub, server) in self.cut:  # down a long time
                    ack = MemberAck(ack.vv, ack.durable, ack.clock, ack.members, False, 1e9)
                out[sub] = ack
        return out

    def pull(self, sub: str, server: str, limit: int, cut_after: int | None = None) -> None:
        if (sub, server) in self.cut:
            return
        rx, tx = self.nodes[sub], self.nodes[server]
        lag = sum(max(0, top - rx.vv.get(o, 0)) for o, top in tx.vv.items() if o != rx.origin)
        cheaper = snapshot_cheaper(lag, len(tx.state), self.ratio, min_lag=1)
        if needs_snapshot(rx.vv, tx.truncated, rx.origin) or cheaper:
            vv, tops, records, horizon = tx.take_snapshot()
            taken = judge(server, vv, tops, horizon, self.known(sub, server))
            chunks = [records[i : i + 2] for i in range(0, len(records), 2)] or [[]]
            lo = b""
            for i, chunk in enumerate(chunks):
                if cut_after is not None and i >= cut_after:
                    return  # cut off: merged chunks stay, the vv does not move
                hi = chunks[i + 1][0].key if i + 1 < len(chunks) else b""
                rx.merge_snapshot(chunk, lo, hi, taken)
                lo = hi
            rx.finish_snapshot(taken, tops)
        else:
            entries: list[pb.Entry] = []
            for origin, top in sorted(tx.vv.items()):
                if origin != rx.origin:
                    entries += tx.read(origin, rx.vv.get(origin, 0) + 1, top)
            rx.receive(entries[:limit], server)
        rx.vouch({tx.origin: tx.vv.get(tx.origin, 0)})  # the server's word on its own log
        self.acks[(server, sub)] = MemberAck(
            vv=dict(rx.vv),
            durable=dict(rx.vv),
            clock=rx.clock.last,
            members=frozenset(self.names) - {sub},
            open=True,
        )

    def known(self, sub: str, server: str) -> Known:
        """What ``sub`` can check ``server``'s snapshot against: what the peers it reaches
        (``server`` aside) vouch for in their heartbeats; in a pair, only the sender's word."""
        live = [n for name, n in self.nodes.items() if name not in (sub, server)]
        live = [n for n in live if (sub, n.node_id) not in self.cut]
        said = {n.origin: n.vv.get(n.origin, 0) for n in live}
        words = [n.vouches() for n in live]
        most = {o: max(w.get(o, 0) for w in words) for w in words for o in w}
        pair = len(self.names) == 2 and server in self.nodes
        sender = self.nodes[server].origin if server in self.nodes else LIAR
        names = frozenset([*self.names, "liar"])
        return self.nodes[sub].known(sender, said, None if pair else most, names, self.now)

    def lie(
        self, victim: str, extra: int, ahead_ms: int, own: bool, replay: bool, ghost: bool
    ) -> None:
        """A member outside the honest ones sends ``victim`` a lying snapshot: with
        ``replay``, an honest node's state under a GC horizon ``ahead_ms`` from now (when
        that is ahead); else no records, every origin the victim hears directly ``extra``
        entries past that origin's own word (its own origin too with ``own``; a made-up
        origin nobody holds with ``ghost``), the others as far as it holds them, and that
        horizon. Refused, or it changes nothing (a
        replayed state is merged like an honest one)."""
        rx = self.nodes[victim]
        known = self.known(victim, LIAR)
        horizon = pack(max(1, self.now + ahead_ms), 0)
        if replay:
            source = next(n for name, n in self.nodes.items() if name != victim)
            vv, tops, records, real = source.take_snapshot()
            horizon = horizon if ahead_ms > 0 else real
        else:
            vv, records = dict(rx.vv), []
            vv.update({o: max(rx.vv.get(o, 0), s) + extra for o, s in known.announced.items()})
            if own:
                vv[rx.origin] = rx.vv.get(rx.origin, 0) + extra
            if ghost:  # a made-up incarnation: one node takes it, and vouches for nothing
                vv[GHOST] = extra
            tops = dict.fromkeys(vv, pack(self.now, 0))
        before = (honest(rx.vv), dict(rx.state))
        try:
            taken = judge("liar", vv, tops, horizon, known)
        except (Refused, PeerFailed):  # Held: not taken for now
            return
        rx.merge_snapshot(records, b"", b"", taken)
        rx.finish_snapshot(taken, tops)
        assert replay or (honest(rx.vv), dict(rx.state)) == before, f"{victim} took a lie: {taken}"

    def compact(self, name: str, pin_timeout_s: float = 0) -> None:
        """Truncation and GC at ``name``; with ``pin_timeout_s`` members cut off stop
        pinning truncation (they will need a snapshot)."""
        node = self.nodes[name]
        node.now_ms = max(node.now_ms, self.now)
        members = self.members(name)
        node.truncate(members, self.retain, pin_timeout_s)
        node.collect(members, grace_ms=0)

    def wipe(self, name: str, data: MemoryReplica | None = None) -> None:
        """A lost disk (or one restored from ``data``, an older copy): a new incarnation;
        its streams (and acks) start over."""
        del self.nodes[name]
        self.now += 1  # a replaced disk comes up after everything that came before it
        if data is None:
            data = MemoryReplica(name)
        data = data.snapshot()
        data.origin = self.mint(name)
        data.now_ms = max(data.now_ms, self.now)
        self.nodes[name] = data
        for w in self.written:
            if not any(n.vv.get(w.origin, 0) >= w.seq for n in self.nodes.values()):
                self.lost.add((w.origin, w.seq))
            elif data.vv.get(w.origin, 0) >= w.seq:
                self.lost.discard((w.origin, w.seq))
        self.acks = {k: v for k, v in self.acks.items() if name not in k}

    def restore(self, name: str, backup: MemoryReplica) -> bool:
        """Start ``name`` over ``backup``, as a node does: its StaleCheck asks every peer's
        vv and horizon first. A stale copy serves nothing; the operator's remedy, an
        emptied data directory, is what this does then. True when the copy was taken."""
        check = StaleCheck(name, [p for p in self.names if p != name])
        for peer in self.names:
            if peer != name:
                tx = self.nodes[peer]
                verdict = check.on_welcome(peer, backup.vv, tx.vv, tx.horizon, backup.hlc_at)
                if verdict is not None and verdict.stale:
                    self.wipe(name)
                    return False
        self.wipe(name, backup)
        return True

    def drain(self) -> None:
        self.cut.clear()
        for _ in range(4):
            for sub in self.names:
                for server in self.names:
                    if sub != server:
                        self.pull(sub, server, 10**6)
            for name in self.names:
                self.compact(name)

    def expected(self) -> dict[bytes, bytes]:
        best: dict[bytes, pb.Entry] = {}
        for w in self.written:
            if (w.origin, w.seq) in self.lost:
                continue
            if w.key not in best or (w.hlc, w.origin) > (best[w.key].hlc, best[w.key].origin):
                best[w.key] = w
        return {k: w.value for k, w in best.items() if w.op == pb.PUT}


write = st.tuples(
    st.just("write"),
    st.integers(0, 4),
    st.sampled_from(KEYS),
    st.one_of(st.none(), st.binary(min_size=1, max_size=2)),
    st.integers(0, 30),
)
compact = st.tuples(st.just("compact"), st.integers(0, 4), st.sampled_from([0, 1.0]))
# Writes and compactions weigh more than deliveries: a resurrection needs a tombstone
# collected before an older put reaches its node.
action = st.one_of(
    write,
    write,
    compact,
    compact,
    st.tuples(st.just("pull"), st.integers(0, 11), st.integers(1, 4)),
    st.tuples(st.just("cutoff"), st.integers(0, 11), st.integers(0, 2)),
    st.tuples(st.just("round"), st.integers(1, 3)),
    st.tuples(st.just("cut"), st.integers(0, 11)),
    st.tuples(st.just("heal"), st.integers(0, 11)),
    st.tuples(st.just("wipe"), st.integers(0, 4)),
    st.tuples(st.just("backup"), st.integers(0, 4)),
    st.tuples(st.just("restore"), st.integers(0, 4)),
    st.tuples(
        st.just("lie"),
        st.integers(0, 4),
        st.sampled_from([1, 10**12]),
        st.sampled_from([-3, 0, 1, 59_000]),
        st.booleans(),
        st.booleans(),
        st.booleans(),
    ),
)


RESTORED_AFTER_GC = [  # found by Hypothesis: node-b's snapshot must explain the drop
    ("write", 0, b"k1", b"\x00", 0),
    *[("write", 0, b"k0", None, 0)] * 4,
    ("write", 1, b"k1", None, 0),
    ("backup", 0),
    ("round", 1),
    *[("write", 0, b"k0", None, 0)] * 2,
    ("restore", 0),
]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(n=3, retain=0, ratio=0.0, actions=RESTORED_AFTER_GC)
@given(
    n=st.integers(2, 4),
    retain=st.integers(0, 2),
    ratio=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
    actions=st.lists(action, max_size=80),
)
def test_gc_points_snapshots_and_partitions_converge_and_nothing_deleted_comes_back(
    n, retain, ratio, actions
):
    net = GcNet(n, retain, ratio)
    links = [(s, d) for s in net.names for d in net.names if s != d]
    backups: dict[str, MemoryReplica] = {}
    for act in actions:
        kind = act[0]
        if kind == "write":
            _, who, key, value, dt = act
            net.now += dt
            net.written.append(net.nodes[net.names[who % n]].write(key, value, net.now))
        elif kind in ("pull", "cutoff"):
            sub, server = links[act[1] % len(links)]
            if kind == "pull":
                net.pull(sub, server, act[2])
            else:
                net.pull(sub, server, 10**6, cut_after=act[2])
        elif kind == "round":  # every link pulls a little, every node compacts
            for sub in net.names:
                for server in net.names:
                    if sub != server:
                        net.pull(sub, server, act[1])
            for name in net.names:
                net.compact(name, 1.0)
        elif kind == "compact":
            net.compact(net.names[act[1] % n], act[2])
        elif kind in ("cut", "heal"):
            link = links[act[1] % len(links)]
            if kind == "cut":
                net.cut.add(link)
            else:
                net.cut.discard(link)
        elif kind == "lie":  # a member outside the honest ones sends a lying snapshot
            net.lie(net.names[act[1] % n], *act[2:])
        elif kind == "backup":
            name = net.names[act[1] % n]
            backups[name] = net.nodes[name].snapshot()
        elif kind == "restore":
            name = net.names[act[1] % n]
            if name in backups:
                net.restore(name, backups[name])
        else:
            net.wipe(net.names[act[1] % n])
    net.drain()

    nodes = list(net.nodes.values())
    first = nodes[0]
    for node in nodes[1:]:
        assert honest(node.vv) == honest(first.vv)
        assert node.digest == first.digest
        assert node.live() == first.live()
    assert first.live() == net.expected(), "a deleted key came back, or a write was lost"


def honest(vv: dict[str, int]) -> dict[str, int]:
    return {o: s for o, s in vv.items() if o != GHOST}


def test_a_put_held_by_a_partitioned_node_does_not_resurrect_after_gc_and_heal():
    """c holds a put older than a's delete of the key; a and b compact while c is cut off:
    c pins the tombstone. After the heal the put arrives and loses to the tombstone."""
    net = GcNet(3, retain=0)
    a, b, c = net.names
    net.written.append(net.nodes[a].write(b"k", b"v", 1))
    for sub in (b, c):
        net.pull(sub, a, 10)
    net.written.append(net.nodes[c].write(b"k", b"older-than-the-delete", 2))
    for link in ((a, c), (b, c), (c, a), (c, b)):
        net.cut.add(link)
    net.now = 10
    net.written.append(net.nodes[a].write(b"k", None, 10))  # the delete
    net.pull(b, a, 10)
    net.pull(a, b, 10)
    for name in (a, b):
        net.compact(name)
        assert b"k" in net.nodes[name].state, "a tombstone went while c had not acked it"
    net.drain()
    for node in net.nodes.values():
        assert b"k" not in node.live()
        assert b"k" not in node.state, "the tombstone was never collected after the heal"


def test_the_two_step_lie_makes_no_node_drop_what_it_holds():
    """The liar makes b take a made-up incarnation of n0 on its word alone, then tells c
    the same under a horizon newer than every key. b vouches for nothing of it, so c has
    no second word and drops nothing (``lie`` asserts c's state did not change)."""
    net = GcNet(3, retain=0)
    a, b, c = net.names
    for i in range(3):
        net.written.append(net.nodes[a].write(b"k%d" % i, b"v", 1 + i))
    for sub in (b, c):
        net.pull(sub, a, 10)
    net.now = 10
    net.lie(b, 1, 0, own=False, replay=False, ghost=True)
    assert net.nodes[b].vv.get(GHOST) == 1 and GHOST not in net.nodes[b].vouches()
    net.lie(c, 1, 0, own=False, replay=False, ghost=True)
    assert net.nodes[c].live() == {b"k0": b"v", b"k1": b"v", b"k2": b"v"}


def test_a_node_restored_from_backup_behind_truncation_drops_what_a_collected_tombstone_beat():
    """b's backup holds a put that a's delete later beat; a truncates and collects the
    tombstone once b acked it; b comes back from the backup (a new incarnation) below a's
    truncation point: the snapshot covers the put and no longer has the key, so b drops
    it rather than keeping it alive."""
    net = GcNet(2, retain=0)
    a, b = net.names
    net.written.append(net.nodes[a].write(b"k", b"put", 1))
    net.pull(b, a, 10)
    backup = net.nodes[b].snapshot()
    net.now = 5
    net.written.append(net.nodes[a].write(b"k", None, 5))
    net.written.append(net.nodes[b].write(b"other", b"x", 6))
    net.pull(b, a, 10)
    net.pull(a, b, 10)
    net.pull(b, a, 10)  # b acks what it got from a, with its clock past the delete
    net.compact(a)
    assert b"k" not in net.nodes[a].state and net.nodes[a].truncated, "nothing was compacted"
    net.wipe(b, backup)
    assert b"k" in net.nodes[b].live()
    net.drain()
    for node in net.nodes.values():
        assert node.live() == {b"other": b"x"}, node.node_id


def _stale_backup_scenario() -> tuple[GcNet, MemoryReplica]:
    """Found by the property test. a writes ``k=put`` that nobody receives, a backup of
    a is taken, a loses its disk and, as a new incarnation, deletes ``k``; b receives
    the delete and collects its tombstone. The backup's put is older than the delete
    and only the backup ever held it."""
    net = GcNet(2, retain=0)
    a, b = net.names
    net.written.append(net.nodes[a].write(b"k", b"put", 1))
    backup = net.nodes[a].snapshot()
    net.wipe(a)
    net.written.append(net.nodes[a].write(b"k", None, net.now))
    for _ in range(2):
        net.pull(b, a, 10)
        net.pull(a, b, 10)
    net.compact(b)
    assert net.nodes[b].horizon and b"k" not in net.nodes[b].state, "b collected nothing"
    return net, backup


def test_a_backup_older_than_a_collected_tombstone_is_refused_not_resurrected():
    net, backup = _stale_backup_scenario()
    a, b = net.names
    assert not net.restore(a, backup), "the stale copy was taken"
    net.drain()
    for node in net.nodes.values():
        assert node.live() == {}, node.node_id


def test_the_receive_guard_refuses_what_a_stale_copy_sends():
    """Without the source check, the stale put reaches b: b refuses it rather than apply
    a put it can no longer judge (its tombstone is gone)."""
    net, backup = _stale_backup_scenario()
    a, b = net.names
    net.wipe(a, backup)
    with pytest.raises(Stale):
        net.pull(b, a, 10)
    assert b"k" not in net.nodes[b].live()
