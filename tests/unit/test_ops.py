"""The operation table (node/protocol/ops.py) is what validation and last-writer-wins
consult: every op on the wire has a row, and the rules follow the rows."""

from __future__ import annotations

import pytest

from node.pb import remesh_pb2 as pb
from node.protocol.ops import LIVE, OPERATIONS
from node.protocol.validate import WriteLimits, write_problem

pytestmark = pytest.mark.unit

LIMITS = WriteLimits(max_key_bytes=8, max_value_bytes=4)


def test_every_wire_op_has_a_row_and_only_those():
    assert set(OPERATIONS) == set(pb.Op.values()) - {pb.OP_UNSPECIFIED}  # 0: none given
    assert LIVE == {pb.PUT}


@pytest.mark.parametrize(
    "op, value, problem",
    [
        (pb.PUT, b"1234", None),
        (pb.PUT, b"12345", "value is 5 bytes; the limit is 4 (max_value_bytes)"),
        (pb.DELETE, b"", None),
        (pb.DELETE, b"x", "a DELETE carries no value"),
        (9, b"", "unknown op 9; expected PUT or DELETE"),
    ],
)
def test_write_rules_follow_the_rows(op, value, problem):
    assert write_problem(op, b"k", value, LIMITS) == problem
