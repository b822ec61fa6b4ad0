"""A cluster's metrics: the ``prometheus.yml`` that scrapes every node, and one node's text.

``cluster up`` (and ``add``/``remove``) writes ``prometheus.yml`` into the state
directory, one target per node labelled with its name and cluster, so
``prometheus --config.file=<state dir>/prometheus.yml`` watches the cluster with no
further setup. ``fetch`` reads one node's ``/metrics`` for ``cluster metrics``.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping

import yaml

from cluster.errors import OperationFailed

PROMETHEUS_FILE = "prometheus.yml"
SCRAPE_INTERVAL = "1s"  # a local cluster under test: faults show within a second or two
MAX_METRICS_BYTES = 16 << 20  # a node's exposition is tens of KiB; refuse a runaway answer


def url(address: str) -> str:
    return f"http://{address}/metrics"


def scrape_config(cluster: str, targets: Mapping[str, str]) -> str:
    """Prometheus' config for ``targets`` (node -> host:port of its metrics)."""
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_INTERVAL},
        "scrape_configs": [
            {
                "job_name": f"remesh-{cluster}",
                "static_configs": [
                    {"targets": [address], "labels": {"node": node, "cluster": cluster}}
                    for node, address in sorted(targets.items())
                ],
            }
        ],
    }
    head = (
        f"# Written by `cluster up` for cluster {cluster}: every node's /metrics.\n"
        f"# prometheus --config.file=<this file> --web.listen-address=127.0.0.1:9090\n"
    )
    return head + yaml.safe_dump(config, sort_keys=False)


def fetch(address: str, timeout: float = 5) -> str:
    """One node's exposition text; ``OperationFailed`` saying why when it does not answer."""
    try:
        with urllib.request.urlopen(url(address), timeout=timeout) as answer:  # noqa: S310
            body: bytes = answer.read(MAX_METRICS_BYTES + 1)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OperationFailed(f"{url(address)} does not answer ({reason})") from None
    if len(body) > MAX_METRICS_BYTES:
        raise OperationFailed(f"{url(address)} answered more than {MAX_METRICS_BYTES} bytes")
    return body.decode(errors="replace")
