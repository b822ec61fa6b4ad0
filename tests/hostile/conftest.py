"""The hostile catalogue's shared node: embedded, holding one key, fresh per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from node.config import NodeConfig
from tests.hostile.embedded import ThreadedNode


@pytest.fixture
def node(tmp_path) -> Iterator[ThreadedNode]:
    n = ThreadedNode(NodeConfig(node_id="node-a", data_dir=tmp_path / "a", cluster="hostile"))
    n.run(n.node.put(b"kept", b"1"))
    yield n
    n.close()
