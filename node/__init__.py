"""remesh replica node: LevelDB log and state, HLC last-writer-wins, gRPC replication.

Embed a replica in an asyncio program with :class:`node.app.Node`; run one as a
process with ``python -m node --config node.yaml``.
"""
