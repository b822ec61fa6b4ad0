"""The shipped topologies, installed as the package ``cluster.topologies`` (see pyproject.toml).

This directory stays the source of truth; ``cluster topologies`` lists its ``*.yaml`` files
and ``cluster up NAME`` finds them wherever remesh is installed.
"""
