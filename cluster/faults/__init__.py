"""Faults on links: the model and its algebra, the proxy daemon that applies them, its client.

- ``model``: link names, ``Fault``, and pure builders (partition, isolate, cut, delay);
- ``config``: the proxy's config file and its persisted faults file;
- ``proxy``: the daemon, one process relaying every directed link of a cluster
  (``python -m cluster.faults.proxy``), supervised next to the nodes;
- ``control``: ``ProxyControl``, the synchronous client of its control port.

Standard library only: the daemon runs wherever the nodes run.
"""
