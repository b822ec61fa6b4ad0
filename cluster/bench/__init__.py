"""``cluster bench``: remesh measured, and measured beside etcd and Redis.

- ``config``: what is measured, with which workload; ``machine``: what it ran on;
- ``load``: writer processes and Watch streams on a remesh cluster;
- ``remesh``: the sections (latency, throughput, catch-up, heal, fan-out, startup);
- ``phases``, ``results``, ``servers``: the generic load and latency phases, result rows
  and server processes of the side-by-side bench; ``etcd`` and ``redis``: one peer each;
- ``peers``: etcd and Redis alone (``python -m cluster.bench.peers``, ``ci/bench-peers``);
- ``compare``: remesh rows beside them; ``stats`` and ``report``: percentiles and tables.
"""
