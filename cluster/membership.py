"""Members joining and leaving a cluster that is up: ``add``, ``remove`` and the reconcile
``up`` does when the file names other nodes. Mixed into ``cluster.api.Cluster``.

``add``: the new node gets a port (and its links proxy ports), the stored topology and
``cluster.json`` name it, every node.yaml is rendered again, the backend and the link
proxy pick up the new process and links without touching the others, the node starts,
and every running node whose peers changed gets them through ``Admin.SetPeers`` (no
restart). It returns once the new node's links are up and it holds everything the
cluster held when it joined.

``remove``: the node is decommissioned (it refuses writes) and, unless ``force``, the
tool waits until every remaining node holds all of its own origins (every incarnation),
comparing version vectors; then it stops, the others drop it live, and its state
(``nodes/<node>/``) goes. Its data stays in the cluster. Its log is kept, renamed
``<node>.log.removed-<time>``, and the name can be added again: an empty data directory
comes back as a fresh incarnation.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from cluster.backends.base import RUNNING, BackendError
from cluster.errors import ClusterError, OperationFailed
from cluster.facade import Facade
from cluster.ports import free_ports
from cluster.render import node_config_path, render, write
from cluster.reshape import Ports, Reconcile, lacking, plan_ports, with_node, without_node
from cluster.secrets import Paths, ensure, secrets_dir
from cluster.state import HOST
from cluster.topology import Topology, parse_topology
from cluster.verblock import exclusive
from cluster.wait import WaitTimeout, wait_for

Progress = Callable[[str], None] | None


def _free(count: int, avoid: Iterable[int]) -> list[int]:
    return free_ports(count, avoid=set(avoid)) if count else []


def _shortfall(short: dict[str, Any], own: dict[str, int], vvs: dict[str, dict[str, int]]) -> str:
    """Each remaining node that is unreachable or lacks entries, and of which of the
    leaving node's origins: what must be replicated before the node may go."""
    parts = []
    for n, v in short.items():
        if isinstance(v, str):
            parts.append(f"{n} {v}")
        else:
            origins = ", ".join(o for o, top in sorted(own.items()) if vvs[n].get(o, 0) < top)
            parts.append(f"{n} lacks {v} entries of {origins}")
    return "; ".join(parts)


class Membership(Facade):
    """``add``/``remove``; the rest of ``Cluster`` provides what they use (``Facade``)."""

    topology: Topology  # replaced by ``_reshape``

    # ------------------------------------------------------------------- add
    @exclusive("add")
    def add(
        self,
        node: str,
        links: Sequence[str] | None = None,
        timeout: float = 120,
        progress: Progress = None,
    ) -> float:
        """Add ``node`` to the running cluster; the seconds until it caught up (all within
        ``timeout``). Until it serves with its links up, a failure (or Ctrl-C) undoes the
        add: the cluster is as it was, and the error says so; after, it is a member that is
        catching up, and the error says how to wait for it or take it out again."""
        text, new = with_node(self.topology, self._state.topology_text, node, links)
        self._must_be_up(f"add {node}")
        self._no_paused()
        ensure(self.dir, self.name, [], self._state.tls)  # a CA that cannot sign: refused now
        start = time.monotonic()
        left = lambda: max(0.1, start + timeout - time.monotonic())  # noqa: E731
        old_text, old = self._state.topology_text, self.topology
        node_dir = node_config_path(self.dir, node).parent
        shutil.rmtree(node_dir, ignore_errors=True)  # a name used before starts afresh
        told: list[str] = []  # the nodes that took their new peers
        try:
            peers = self._reshape(text, new)
            self._backend.start(node, wait=False)
            self._tell_peers(peers, exclude=node, told=told)
            self.wait_ready(left(), nodes=new.names(), progress=progress)
        except BaseException as exc:
            undone = self._undo_add(node, old_text, old, told)
            if not isinstance(exc, Exception):
                raise  # Ctrl-C, SIGTERM: undone, and ends the verb as it would have
            bad_input = isinstance(exc, ClusterError) and not isinstance(exc, OperationFailed)
            raise (ClusterError if bad_input else OperationFailed)(f"{exc}\n{undone}") from None
        try:
            self._catch_up(node, left(), progress)
        except OperationFailed as exc:
            raise OperationFailed(
                f"{exc}. {node} is a member and serves, behind: `cluster converge` waits for "
                f"it, `cluster remove {node}` takes it out again"
            ) from None
        return time.monotonic() - start

    def _undo_add(self, node: str, text: str, old: Topology, told: list[str]) -> str:
        """Put the members back as they were before ``add node`` (``told``: the nodes that
        took new peers); what was done, or what is left for ``remove --force``."""
        try:
            with contextlib.suppress(BackendError):  # it may not run (it failed to start)
                self._backend.stop(node)
            peers = self._reshape(text, old)
            peers = {n: p for n, p in peers.items() if n in told}
            unreached = self._tell_peers(peers, best_effort=True)
        except (ClusterError, BackendError, OSError) as exc:
            return (
                f"{node} was not added, and undoing it failed half-way ({exc}): "
                f"`cluster remove {node} --force` takes out what is left of it"
            )
        self._forget(node)
        if unreached:
            return (
                f"{node} was not added: the cluster's members are as they were, but "
                f"{', '.join(unreached)} did not take back its old peers; `cluster restart "
                f"{unreached[0]}` makes it read them from its node.yaml"
            )
        return f"{node} was not added: the cluster is as it was (its log: {self.log_path_of(node)})"

    def _catch_up(self, node: str, timeout: float, progress: Progress) -> None:
        """Until ``node`` holds what every other running node held when it joined."""
        target: dict[str, int] = {}
        for other in self.running_nodes():
            if other != node:
                for origin, seq in self.client(other).status().vv.items():
                    target[origin] = max(seq, target.get(origin, 0))
        behind: dict[str, int] = {}

        def caught_up() -> bool:
            behind.clear()
            behind.update(lacking(target, {node: dict(self.client(node).status().vv)}))
            if progress:
                progress(f"{node} catching up: {sum(behind.values())} entries to go")
            return not behind

        try:
            wait_for(caught_up, timeout, lambda: f"{node} to catch up (behind: {behind})")
        except WaitTimeout as exc:
            raise OperationFailed(f"{exc}; see {self.log_path(node)}") from None

    # ---------------------------------------------------------------- remove
    @exclusive("remove")
    def remove(
        self, node: str, force: bool = False, timeout: float = 60, progress: Progress = None
    ) -> None:
        """Decommission ``node``, wait (unless ``force``) until every remaining node holds
        its entries, stop it and drop it from the others and from the state directory."""
        text, new = without_node(self.topology, self._state.topology_text, node)
        self._must_be_up(f"remove {node}")
        self._no_paused(but=node if force else None)
        if not force:
            self._drain(node, timeout, progress)
        if node in self._state.paused:
            self._backend.resume(node)
            self._state.set_paused(node, False)
        self._backend.stop(node)
        peers = self._reshape(text, new)
        # From here it is no member: what follows is done as far as it can be, and what was
        # not is said, with the verb that finishes it.
        unreached = self._tell_peers(peers, best_effort=True)
        self._forget(node)
        log = self.log_path_of(node)
        if log.exists():
            log.rename(log.with_name(f"{log.name}.removed-{time.strftime('%Y%m%d-%H%M%S')}"))
        if unreached:
            raise OperationFailed(
                f"{node} is removed and stopped, but {', '.join(unreached)} did not take its "
                f"new peers and still dials {node}: `cluster restart {unreached[0]}` makes it "
                "read them from its node.yaml"
            )

    def _forget(self, node: str) -> None:
        """A node no more: its client, its directory and its key and certificate go."""
        with self._lock:
            client = self._clients.pop(node, None)
        if client is not None:
            client.close()
        shutil.rmtree(node_config_path(self.dir, node).parent, ignore_errors=True)
        for secret in Paths(secrets_dir(self.dir)).node(node):
            secret.unlink(missing_ok=True)

    def removable(self) -> list[str]:
        """The nodes ``remove`` would accept now (not the last, a hub or a bridge)."""
        out = []
        for node in self.topology.names():
            try:
                without_node(self.topology, self._state.topology_text, node)
            except ClusterError:
                continue
            out.append(node)
        return out

    def log_path_of(self, node: str) -> Path:
        return self._backend.log_path(node)

    def _drain(self, node: str, timeout: float, progress: Progress) -> None:
        state = self.process_state(node)
        if state != RUNNING:
            raise ClusterError(
                f"{node} is {state}: its entries cannot be checked against the other nodes; "
                f"`cluster start {node}` first, or --force to remove it anyway (entries "
                "only it holds are lost)"
            )
        others = [n for n in self.topology.names() if n != node]
        down = [n for n in others if n not in self.running_nodes()]
        if down:
            raise OperationFailed(
                f"{', '.join(down)} not running: cannot check that it holds {node}'s entries; "
                f"start it, or --force"
            )
        own = dict(self.client(node).decommission().vv)
        short: dict[str, Any] = {}
        vvs: dict[str, dict[str, int]] = {}

        def held() -> bool:
            short.clear()
            vvs.clear()
            for other in others:
                try:
                    vvs[other] = dict(self.client(other).status().vv)
                except ClusterError as exc:
                    short[other] = f"unreachable: {exc}"
            short.update(lacking(own, vvs))
            if progress:
                progress(f"{node} leaving: waiting for {short or 'nothing'}")
            return not short

        try:
            wait_for(held, timeout, lambda: f"every remaining node to hold {node}'s entries")
        except WaitTimeout:
            detail = _shortfall(short, own, vvs)
            raise OperationFailed(
                f"after {timeout:g}s not every remaining node holds {node}'s entries: {detail}. "
                f"{node} is decommissioned (refuses writes) and still running: heal the links "
                f"and `cluster remove {node}` again, or --force to remove it anyway; or keep "
                f"it: `cluster restart {node}` and it takes writes again"
            ) from None

    # --------------------------------------------------------------- shared
    def _must_be_up(self, what: str) -> None:
        if not self._backend.is_up() and self._backend.processes():
            raise ClusterError(
                f"supervisord of cluster {self.name} is not running, but its nodes are "
                f"(UNSUPERVISED in `cluster status`): nothing could start or stop a member; "
                f"`cluster down --cluster {self.name}` then `cluster up FILE` puts them back "
                f"under supervision, then {what}"
            )
        if not self._backend.is_up():
            raise ClusterError(
                f"cluster {self.name} is down: `cluster up FILE` with the file's nodes "
                f"edited reconciles members, or bring it up first to {what}"
            )

    def _no_paused(self, but: str | None = None) -> None:
        paused = [n for n in self._state.paused if n != but]
        if paused:
            raise ClusterError(
                f"{', '.join(paused)} paused: a paused node cannot learn new peers; "
                f"`cluster resume {paused[0]}` first"
            )

    def _reshape(self, text: str, new: Topology) -> dict[str, dict[str, str]]:
        """Make ``new`` (stored as ``text``) the cluster's shape: state, configs, processes,
        proxy links. Starts and stops nothing. Returns each node's peers before the change
        and after, as ``{node: new peers}`` for the nodes whose peers changed."""
        now = Ports({n: self._state.port(n) for n in self._state.nodes}, self._state.link_addresses)
        old = render(self.topology, self._state).node_configs
        ports = plan_ports(new, now, HOST, _free)
        self._state.reshape(text, ports.nodes, ports.links)
        self.topology = parse_topology(text, str(self.dir / "topology.yaml"))
        rendered = render(self.topology, self._state)
        write(rendered, self.dir)
        self._backend.reshape(rendered.specs)
        if self._state.has_proxy:
            self._proxy().reload()
        return {
            n: cfg["peers"]
            for n, cfg in rendered.node_configs.items()
            if n in old and old[n]["peers"] != cfg["peers"]
        }

    def _tell_peers(
        self,
        peers: dict[str, dict[str, str]],
        exclude: str | None = None,
        best_effort: bool = False,
        told: list[str] | None = None,
    ) -> list[str]:
        """``Admin.SetPeers`` on every running node whose peers changed (each one that took
        them is appended to ``told``); a node that is not running reads them from its
        node.yaml when it starts. ``best_effort``: go on past a node that does not answer;
        returns those (else the first failure is raised)."""
        running = set(self.running_nodes())
        unreached = []
        for node, wanted in sorted(peers.items()):
            if node != exclude and node in running:
                try:
                    self.client(node).set_peers(wanted)
                    if told is not None:
                        told.append(node)
                except ClusterError:
                    if not best_effort:
                        raise
                    unreached.append(node)
        return unreached

    def _reconcile(self, plan: Reconcile, text: str, new: Topology, timeout: float) -> None:
        """``up`` of an edited file: the removed nodes leave (each checked to be held by the
        others first), then the file becomes the shape and the added nodes start and catch
        up."""
        for node in plan.removed:
            self._drain(node, timeout, None)
            self._backend.stop(node)
        for node in plan.added:
            shutil.rmtree(node_config_path(self.dir, node).parent, ignore_errors=True)
        peers = self._reshape(text, new)
        for node in plan.removed:
            shutil.rmtree(node_config_path(self.dir, node).parent, ignore_errors=True)
        for node in plan.added:
            self._backend.start(node, wait=False)
        self._tell_peers(peers)
        self.wait_ready(timeout)
        for node in plan.added:
            self._catch_up(node, timeout, None)
