"""The load generator's Writes-stream mode against an embedded node (real gRPC and
LevelDB): every write it counts as acked is stored, closed loop and paced alike."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cluster.bench.driver import Target, Work, closed_loop, paced, paced_keys
from cluster.bench.load import Watchers
from cluster.client import NodeClient
from cluster.errors import OperationFailed
from cluster.secrets import Credentials
from node.config import NodeConfig
from node.pb import remesh_pb2 as pb
from tests.hostile.embedded import TOKEN, ThreadedNode

pytestmark = pytest.mark.component


@pytest.fixture
def node(tmp_path) -> Iterator[ThreadedNode]:
    n = ThreadedNode(NodeConfig(node_id="node-a", data_dir=tmp_path / "a", cluster="bench"))
    yield n
    n.close()


def test_a_closed_loop_on_streams_writes_exactly_the_total(node):
    target = Target("node-a", node.node.address)
    work = Work("s/", 300, 1, 20, stream=True)
    run = closed_loop([target], work, 2, 4, 60, total=600, credentials=Credentials(TOKEN))
    assert run.acked == 600
    st = node.status()
    assert st.vv[next(iter(st.vv))] == 600, "acked writes and stored writes differ"
    assert st.keys == 300  # two processes, 150 keys each, every one written


def test_a_paced_run_on_streams_stores_every_key_it_names(node):
    work = Work("p/", 0, 1, 10, stream=True)
    target = Target("node-a", node.node.address)
    run = paced(target, work, 200, 1.0, processes=2, credentials=Credentials(TOKEN))
    keys = paced_keys(work, run)
    assert run.acked == len(keys) > 0
    for key in keys:
        assert node.kv.Get(pb.GetRequest(key=key), timeout=10).found, key


class _OneNode:
    """What ``Watchers`` asks of a cluster: a client of the embedded node."""

    def __init__(self, node: ThreadedNode) -> None:
        self.node = node

    def connect(self, name: str) -> NodeClient:
        return NodeClient(name, self.node.node.address, credentials=Credentials(TOKEN))


def test_the_latency_watch_ending_fails_the_wait_at_once_saying_why(node):
    """A latency Watch stream that ends (its node merged a snapshot, fell behind) will
    never see its keys: the wait fails at once with the status, not at its timeout."""
    watchers = Watchers(_OneNode(node), ["node-a"], b"lat/")  # type: ignore[arg-type]
    try:
        watchers.ready(
            lambda i: node.kv.Put(pb.PutRequest(key=b"lat/m%d" % i, value=b"1")), b"lat/m"
        )
        node.call(lambda: node.node.replica.watchers.interrupt("a snapshot, for the test"))
        # OperationFailed at once: waiting to the timeout would raise WaitTimeout instead
        with pytest.raises(OperationFailed, match="node-a: ABORTED: a snapshot, for the test"):
            watchers.wait_all([b"lat/never"], timeout=60)
    finally:
        watchers.close()
