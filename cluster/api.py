"""The ``Cluster`` library: a topology as real processes, faults and convergence checks.

The CLI is a thin shell over this class and tests drive it directly. ``Cluster``
is a facade: callers use its methods, never what it is built from, which is

- ``cluster.state``: ``cluster.json`` (ports, links, paused nodes) in the state
  directory ``<home>/<name>/``, so every verb can run in a separate process;
- ``cluster.render``: the node configs and process specs, from topology and state;
- ``cluster.backends``: what runs the processes (supervisord by default);
- ``cluster.faults``: the link proxy that cuts, resets and delays links;
- ``cluster.client``: one gRPC client per node;
- ``cluster.convergence`` and ``cluster.status``: what a snapshot and a status row say.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from cluster.backends.base import FAILED_STATES, RUNNING, Backend, BackendError
from cluster.backends.registry import traits
from cluster.backends.select import backend_for
from cluster.catalog import resolve_topology
from cluster.client import NodeClient
from cluster.convergence import Snapshot, fork_line, wait_converged
from cluster.errors import ClusterError, ConvergeTimeout, OperationFailed
from cluster.faults.model import ProxyError
from cluster.faults.verbs import LinkFaults
from cluster.files import atomic_write
from cluster.home import default_home, home_of
from cluster.logs import failed_start, tail, unexpected_lines
from cluster.membership import Membership
from cluster.processes import ProcessVerbs
from cluster.prometheus import PROMETHEUS_FILE, fetch, scrape_config, url
from cluster.readiness import not_ready
from cluster.render import PROXY, render, write
from cluster.reshape import Reconcile, confirm_drops, reconcile_source
from cluster.salvage import stop_leftovers
from cluster.secrets import Credentials, ensure, remove
from cluster.state import (
    STATE_FILE,
    TOPOLOGY_FILE,
    ClusterState,
    cluster_names,
    find,
    restore_copy,
)
from cluster.statefile import check_copy, recorded_topology
from cluster.status import PAUSED, NodeView, view
from cluster.topology import load_topology
from cluster.verblock import exclusive, hold, hold_for_down
from cluster.wait import WaitTimeout, wait_for
from node.pb import remesh_pb2 as pb

Progress = Callable[[str], None] | None
# ``Cluster.list`` shadows the builtin inside the class: these name its methods' types.
Names = list[str]
Lines = list[str]


class Cluster(LinkFaults, Membership, ProcessVerbs):
    """A running (or stopped) cluster, found by its state directory ``dir``; ``add`` and
    ``remove`` (members joining and leaving while it is up) come from ``Membership``,
    ``kill``/``stop``/``start``/``pause``/``resume`` from ``ProcessVerbs``."""

    def __init__(self, state_dir: Path, backend: Backend | None = None) -> None:
        self.dir = state_dir
        self.reload()
        self._backend = backend or backend_for(state_dir)
        self._clients: dict[str, NodeClient] = {}
        self._credentials: Credentials | None = None
        self._lock = threading.Lock()  # verbs may run from several client threads
        self.reconciled: Reconcile | None = None  # what ``up`` of an edited file changed
        # verbs that change the cluster hold its lock (cluster.verblock): None, refuse when
        # another holds it; else wait that many seconds for it
        self.lock_wait: float | None = None
        self.notes: Lines = []  # what ``up`` found and did, or could not, for the operator

    def reload(self) -> None:
        """Read the state again (a verb does once it holds the cluster's lock)."""
        self._state = ClusterState.load(self.dir)
        self.name = self._state.name
        text = self._state.topology_text
        # cluster.json records the cluster as it runs; topology.yaml is only its copy
        self.topology = recorded_topology(self.dir / STATE_FILE, text, self._state.nodes)
        self.topology_edited = not check_copy(self.dir / TOPOLOGY_FILE, text)

    # ---------------------------------------------------------------- finding
    @classmethod
    def open(cls, name: str | None = None, home: Path | str | None = None) -> Cluster:
        return cls(find(name, home_of(home)))

    @staticmethod
    def list(home: Path | str | None = None) -> Names:
        return cluster_names(home_of(home))

    # ------------------------------------------------------------------- up
    @classmethod
    def up(
        cls,
        path: str | Path | None = None,
        home: Path | str | None = None,
        timeout: float = 60,
        progress: Progress = None,
        force: bool = False,
        tls: bool | None = None,
        backend: str | None = None,
        lock_wait: float | None = None,
        name: str | None = None,
    ) -> Cluster:
        """Validate, render, start and wait until every node serves and every link is up.
        ``path``: a topology file, or the name of a built-in one (``cluster.catalog``);
        None: the stored cluster ``name`` (or the only one) under ``home``, as it was.
        ``backend``: ``supervisor`` or ``docker``, overriding the file's ``backend:``.

        A cluster that is down whose file now names other nodes is reconciled: it comes up
        as it was, then the nodes gone leave (only with ``force``; each checked to be held
        by the others) and the new ones join (``reconciled`` says what changed). ``tls``: True or
        False overrides the topology's ``tls`` (mutual TLS, on unless it says ``tls:
        false``); the token is always on, proved and never sent (README, Security)."""
        if path is None:  # bring back what there was
            path = restore_copy(find(name, home_of(home)))
        path = resolve_topology(path)
        topo = load_topology(path)
        state_dir = home_of(home) / topo.name
        with hold(state_dir, "up", lock_wait) as waited:
            timeout = max(0.1, timeout - waited)
            if (state_dir / STATE_FILE).exists() and backend_for(state_dir).is_up():
                raise ClusterError(
                    f"cluster {topo.name} is already up (state in {state_dir}); "
                    f"`cluster down --cluster {topo.name}` first"
                )
            if (state_dir / STATE_FILE).exists():  # its copy of the topology, as it runs
                atomic_write(state_dir / TOPOLOGY_FILE, ClusterState.load(state_dir).topology_text)
            source, plan = reconcile_source(topo, Path(path), state_dir / TOPOLOGY_FILE)
            confirm_drops(plan, topo.name, path, force)
            stopped = stop_leftovers(state_dir)  # they hold the ports: stopped, ports are kept
            ClusterState.for_up(load_topology(source), source, state_dir, tls=tls, backend=backend)
            cluster = cls(state_dir)
            rendered = render(cluster.topology, cluster._state)
            cluster.notes += stopped + write(rendered, state_dir)
            cluster._backend.apply(rendered.specs)
            try:
                cluster._start_all(timeout, progress)
                if plan is not None or source != Path(path):
                    cluster._reconcile(
                        plan or Reconcile([], []), Path(path).read_text(), topo, timeout
                    )
                    cluster.reconciled = plan
            except BaseException:
                cluster.down()
                raise
        return cluster

    def _start_all(self, timeout: float, progress: Progress) -> None:
        self._backend.up(progress)
        if self.has_proxy:
            self._backend.start(PROXY, wait=False)  # it answering is the check below

            def proxy_answers() -> bool:
                self._check_alive(PROXY)
                return self._proxy().ping()

            try:
                wait_for(proxy_answers, 10, "the link proxy to answer", fatal=(ClusterError,))
            except WaitTimeout as exc:
                log = self.log_path(PROXY)
                raise OperationFailed(f"{exc}; see {log}:\n" + tail(log)) from None
            self.notes += self._heal_leftovers()
        for name in self.topology.names():
            self._backend.start(name, wait=False)
        self.wait_ready(timeout, progress=progress)
        self.notes += self._kept_cuts()
        if traits(self.backend).ports_after_start:  # known once the processes run
            self._write_scrape_config()

    def _write_scrape_config(self) -> None:
        """``prometheus.yml`` with each node's metrics as this machine reaches them."""
        targets = {n: self.metrics_address(n) for n in self.topology.names()}
        config = scrape_config(self.name, {n: a for n, a in targets.items() if a})
        atomic_write(self.dir / PROMETHEUS_FILE, config)

    # ---------------------------------------------------------------- nodes
    def port(self, node: str) -> int:
        self._known(node)
        return self._state.port(node)

    def address(self, node: str) -> str:
        """Where this machine reaches ``node``'s gRPC API."""
        return self._backend.address(node, self.port(node))

    @property
    def backend(self) -> str:
        """What runs the processes: a name in ``cluster.backends.registry``."""
        return self._state.backend

    def _proxy_control_address(self) -> str:
        return self._backend.address(PROXY, int(self._state.proxy_control.rsplit(":", 1)[1]))

    def _known(self, *nodes: str) -> None:
        for node in nodes:
            if node not in self._state.nodes:
                known = ", ".join(self._state.nodes)
                raise ClusterError(f"no node {node!r} in cluster {self.name} (nodes: {known})")

    def credentials(self) -> Credentials:
        """What this cluster's nodes and proxy want of a caller: the token (and with TLS the
        tool's certificate), read from ``secrets/`` in the state directory."""
        if self._credentials is None:
            self._credentials = Credentials.load(self.dir, self._state.tls)
        return self._credentials

    @property
    def tls(self) -> bool:
        return self._state.tls

    @exclusive("rotate-secrets")
    def rotate_secrets(self) -> None:
        """New token (and with TLS a new CA and certificates) for a cluster that is down:
        nodes read them when they start, so every node must start with the new ones."""
        if self.is_up():  # usage: the verb is for a cluster that is down
            raise ClusterError(
                f"cluster {self.name} is up: `cluster down --cluster {self.name}` first "
                "(every node must start with the new secrets at once)"
            )
        remove(self.dir)
        ensure(self.dir, self.name, self.topology.names(), self._state.tls)
        self._credentials = None

    def connect(self, node: str, address: str | None = None) -> NodeClient:
        """A new client of ``node`` with its own channel (the caller closes it)."""
        return NodeClient(
            node,
            address or self.address(node),
            describe=lambda: self.process_state(node),
            credentials=self.credentials(),
        )

    def client(self, node: str) -> NodeClient:
        """``node``'s gRPC client, shared by every caller of this Cluster."""
        self._known(node)
        with self._lock:
            if node not in self._clients:
                self._clients[node] = self.connect(node)
            return self._clients[node]

    def _answering(self, node: str) -> NodeClient:
        """The client of a node that can answer: a paused one is refused before sending."""
        self._known(node)
        if node in self._state.paused:
            raise OperationFailed(f"{node} is paused: `cluster resume {node}` first")
        return self.client(node)

    def process_state(self, node: str) -> str:
        try:
            state = self._backend.info(node).state
        except BackendError as exc:
            return f"unknown ({exc})"
        return PAUSED if state == RUNNING and node in self._state.paused else state

    def _check_alive(self, name: str) -> None:
        """Raise with the log's tail if ``name`` has exited: waiting on it is pointless."""
        try:
            state = self._backend.info(name).state
        except BackendError:
            return  # the backend is busy or restarting: the caller's wait decides
        if state in FAILED_STATES:
            raise OperationFailed(failed_start(name, state, self.log_path(name), self.tail(name)))

    def running_nodes(self) -> Names:
        """Nodes whose process runs and is not paused."""
        procs = self._backend.processes()
        return [  # UNSUPERVISED ones too: a dead supervisord left them serving
            n
            for n in self.topology.names()
            if n in procs and procs[n].running and n not in self._state.paused
        ]

    def serving(self, node: str) -> bool:
        """Does the node answer the standard gRPC health check with SERVING?"""
        return self.client(node).serving()

    def wait_ready(
        self, timeout: float = 60, nodes: Sequence[str] | None = None, progress: Progress = None
    ) -> None:
        """Until every given node serves and each of its links to a running peer is up."""
        nodes = nodes or self.topology.names()
        missing: Lines = []
        cut = {n for n, f in self.faults().items() if f.get("mode", "ok") != "ok"}

        def check() -> bool:
            missing.clear()
            running = set(self.running_nodes())
            for n in nodes:
                self._check_alive(n)
                missing.extend(not_ready(n, self.client(n), running, cut, self.name))
            if progress:
                progress(f"waiting for {len(missing)}: {', '.join(missing[:6])}")
            return not missing

        try:
            wait_for(
                check,
                timeout,
                lambda: "the cluster to be ready; still missing: " + ", ".join(missing),
                fatal=(ClusterError,),  # a node that exited will not become ready
            )
        except WaitTimeout as exc:
            raise OperationFailed(str(exc)) from None

    # ---------------------------------------------------------------- data verbs
    def write(self, node: str, key: bytes, value: bytes, timeout: float = 10) -> pb.Version:
        return self._answering(node).put(key, value, timeout)

    def write_batch(
        self, node: str, items: Sequence[tuple[bytes, bytes | None]]
    ) -> Sequence[pb.Version]:
        """Puts and (value None) deletes committed as one batch."""
        return self._answering(node).put_batch(items)

    def write_each(
        self, node: str, items: Sequence[tuple[bytes, bytes | None]], timeout: float = 60
    ) -> Sequence[pb.WriteResult]:
        """Puts and (value None) deletes, each its own write, pipelined on one Writes
        stream: a result per item (its version, or why it was refused)."""
        return self._answering(node).stream_writes(items, timeout)

    def read(self, node: str, key: bytes) -> bytes | None:
        r = self._answering(node).get(key)
        return r.value if r.found else None

    def delete(self, node: str, key: bytes, timeout: float = 10) -> pb.WriteResponse:
        return self._answering(node).call("Delete", pb.DeleteRequest(key=key), timeout)

    def scan(self, node: str, prefix: bytes = b"", limit: int = 0) -> Sequence[pb.KeyValue]:
        return self._answering(node).scan(prefix, limit)

    def node_status(self, node: str) -> pb.StatusResponse:
        return self._answering(node).status()

    def metrics_address(self, node: str) -> str | None:
        """Where this machine reaches ``node``'s /metrics (None: up before metrics were)."""
        self._known(node)
        port = self._state.metrics_port(node)
        return self._backend.address(node, port) if port else None

    def metrics(self, node: str) -> str:
        """``node``'s Prometheus metrics, as text."""
        address = self.metrics_address(node)
        if address is None:
            raise OperationFailed(f"{node} serves no metrics: `cluster down` and `up` again")
        self._answering(node)  # a paused node is refused before waiting on it
        return fetch(address)

    # ------------------------------------------------------------- convergence
    def snapshot(self, nodes: Sequence[str] | None = None) -> Snapshot:
        out: Snapshot = []
        for n in nodes or self.running_nodes():
            try:
                st = self.node_status(n)
                out.append({"node": n, "digest": st.digest, "vv": dict(st.vv), "keys": st.keys})
                if st.forks:
                    out[-1]["forks"] = [fork_line(f) for f in st.forks]
            except ClusterError as exc:
                out.append({"node": n, "error": str(exc)})
        return out

    def converge(self, timeout: float = 60, progress: Progress = None) -> float:
        """Wait until every running node holds the same digest and vv; returns seconds."""
        if not self.running_nodes():
            raise OperationFailed(
                f"no node of cluster {self.name} is running: `cluster up` it (or "
                f"`cluster start NODE`) before waiting for convergence"
            )
        return wait_converged(self.snapshot, timeout, progress)

    # -------------------------------------------------------------- status
    def status(self) -> Sequence[NodeView]:
        """One row per node; nodes a dead supervisor left running show as UNSUPERVISED."""
        procs = self._backend.processes()
        rows = []
        for n in self.topology.names():
            row = view(n, procs.get(n), n in self._state.paused, self.address(n))
            metrics = self.metrics_address(n)
            row.metrics = url(metrics) if metrics else ""
            if row.reachable:
                try:
                    row.fill(self.node_status(n))
                except ClusterError as exc:
                    row.error = str(exc)
            rows.append(row)
        for n, info in sorted(procs.items()):  # running, yet no member: say so, never hide it
            if n not in self.topology.names() and n != PROXY and info.running:
                row = view(n, info, False, "?")
                row.error = f"not a member in {STATE_FILE}: `cluster down` stops it"
                rows.append(row)
        return rows

    # ------------------------------------------------------------------ logs
    def log_path(self, node: str) -> Path:
        """A node's log, or the link proxy's (``proxy``)."""
        if node != PROXY:
            self._known(node)
        return self._backend.log_path(node)

    def tail(self, node: str, lines: int = 20) -> str:
        return tail(self.log_path(node), lines)

    def unexpected_log_lines(self) -> Lines:
        """ERROR, CRITICAL or traceback lines in any node log (tests assert there are none)."""
        return unexpected_lines((n, self.log_path(n)) for n in self.topology.names())

    # ------------------------------------------------------------------ down
    def down(self, purge: bool = False, timeout: float = 60) -> Lines:
        """Stop every process this cluster started and check none is left.

        Returns the processes found running without their supervisor (which
        had died) and stopped; normally none. A nemesis or bench running on it is stopped
        first (SIGTERM: it heals what it set) and awaited up to ``timeout``.
        """
        with hold_for_down(self.dir, self.lock_wait, timeout):
            return self._down(purge)

    def _down(self, purge: bool) -> Lines:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        try:
            orphans = self._backend.down(purge=purge)
        except BackendError as exc:
            raise OperationFailed(str(exc)) from None
        for node in self._state.paused:
            self._state.set_paused(node, False)
        if purge:
            shutil.rmtree(self.dir)
        return orphans


__all__ = [
    "Cluster",
    "ClusterError",
    "ConvergeTimeout",
    "NodeView",
    "OperationFailed",
    "ProxyError",
    "default_home",
]
