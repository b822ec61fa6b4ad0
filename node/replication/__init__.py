"""Replication links both ways: outbound subscriber links and their policy,
snapshots, forks, what a node vouches for, the in-memory log head and Watch fan-out.
"""
