"""A newcomer's first day (issue #25), the pure parts: errors about topology text the
tool generated, the argument types of every numeric option, backend wording."""

from __future__ import annotations

import pytest

from cluster.topology import TopologyError, parse_topology

pytestmark = pytest.mark.unit


def test_errors_in_generated_topology_text_name_no_line():
    text = "name: x\nnodes: [a]\nsettings: {linger_ms: -1}\n"
    with pytest.raises(TopologyError) as in_file:
        parse_topology(text, "t.yaml")
    assert str(in_file.value).startswith("t.yaml:3: settings.linger_ms:"), in_file.value
    with pytest.raises(TopologyError) as made:
        parse_topology(text, "cluster init x", in_file=False)
    assert made.value.line is None
    assert str(made.value).startswith("cluster init x: settings.linger_ms:"), made.value
