"""The ``Cluster`` library: a topology as real processes, faults and convergence checks.

The CLI is a thin shell over this class and tests drive it directly. All state
lives in the state directory (``<home>/<name>/``), so every verb can run in a
separate process, in any order:

- ``cluster.json``: ports, links and paused nodes (written atomically);
- ``topology.yaml``: the topology as given;
- ``supervisord.conf``, ``proxy.json``, ``faults.json``;
- ``nodes/<node>/node.yaml`` and ``nodes/<node>/data/`` (LevelDB, watermarks);
- ``logs/<node>.log``, ``logs/proxy.log``, ``logs/supervisord.log``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cluster.faults.config import ProxyConfig
from cluster.faults.control import ProxyControl
from cluster.faults.model import ProxyError, isolate_faults, link_name, partition_faults
from cluster.files import atomic_write
from cluster.ports import bindable, free_ports
from cluster.supervisor import Program, Supervisor, SupervisorError, processes_under
from cluster.topology import Topology, load_topology, parse_topology
from cluster.wait import WaitTimeout, wait_for
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc

HOST = "127.0.0.1"
# A restarted node is reachable again within a second, not after grpc's default
# backoff that grows to minutes.
CLIENT_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 500),
]
PROXY = "proxy"


# The state of a node process left running by a supervisord that died.
UNSUPERVISED = "UNSUPERVISED"


class ClusterError(Exception):
    """A problem a person can act on. ``exit_code``: 2 bad usage/input, 1 operation failed."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ConvergeTimeout(ClusterError):
    def __init__(self, message: str, report: list[dict]) -> None:
        super().__init__(message, exit_code=1)
        self.report = report


def default_home() -> Path:
    return Path(os.environ.get("REMESH_HOME", ".cluster")).absolute()


@dataclass
class NodeView:
    """One node's row in ``status``."""

    name: str
    state: str
    pid: int
    address: str
    keys: int | None = None
    vv: dict[str, int] | None = None
    digest: str | None = None
    links: dict[str, bool] | None = None
    lag: dict[str, int] | None = None
    entries_received: int | None = None
    entries_sent: int | None = None
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Cluster:
    """A running (or stopped) cluster, found by its state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.state = json.loads((state_dir / "cluster.json").read_text())
        self.name: str = self.state["name"]
        self.topology: Topology = parse_topology(
            (state_dir / "topology.yaml").read_text(), str(state_dir / "topology.yaml")
        )
        self.supervisor = Supervisor(state_dir)
        self._channels: dict[str, grpc.Channel] = {}
        self._lock = threading.Lock()  # verbs may run from several client threads

    # ---------------------------------------------------------------- finding
    @classmethod
    def open(cls, name: str | None = None, home: Path | str | None = None) -> Cluster:
        home = Path(home) if home else default_home()
        names = cls.list(home)
        if name is None:
            if len(names) == 1:
                name = names[0]
            elif not names:
                raise ClusterError(f"no cluster in {home}: start one with `cluster up FILE`")
            else:
                raise ClusterError(
                    f"several clusters in {home} ({', '.join(names)}): pick one with --cluster"
                )
        if name not in names:
            raise ClusterError(
                f"no cluster named {name!r} in {home}"
                + (f" (there is {', '.join(names)})" if names else "")
            )
        return cls(home / name)

    @staticmethod
    def list(home: Path | str | None = None) -> list[str]:
        home = Path(home) if home else default_home()
        if not home.is_dir():
            return []
        return sorted(p.name for p in home.iterdir() if (p / "cluster.json").is_file())

    # ------------------------------------------------------------------- up
    @classmethod
    def up(
        cls,
        path: str | Path,
        home: Path | str | None = None,
        timeout: float = 60,
        progress=None,
    ) -> Cluster:
        """Validate, render, start and wait until every node serves and every link is up."""
        topo = load_topology(path)
        home = Path(home) if home else default_home()
        state_dir = home / topo.name
        if (state_dir / "cluster.json").exists():
            existing = Supervisor(state_dir)
            if existing.is_running():
                raise ClusterError(
                    f"cluster {topo.name} is already up (state in {state_dir}); "
                    f"`cluster down --cluster {topo.name}` first"
                )
            old = json.loads((state_dir / "cluster.json").read_text())
            if old.get("topology_text") != Path(path).read_text():
                raise ClusterError(
                    f"{state_dir} holds data of a different topology named {topo.name}; "
                    f"`cluster down --purge --cluster {topo.name}` to start afresh"
                )
            state = cls._keep_ports(topo, old)  # same topology again: keep data and faults
        else:
            state = cls._plan(topo, Path(path))
        state["paused"] = []
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "topology.yaml").write_text(state["topology_text"])
        atomic_write(state_dir / "cluster.json", json.dumps(state, indent=2) + "\n")
        cluster = cls(state_dir)
        cluster._render()
        try:
            cluster._start_all(timeout, progress)
        except BaseException:
            cluster.down()
            raise
        return cluster

    @staticmethod
    def _keep_ports(topo: Topology, state: dict[str, Any]) -> dict[str, Any]:
        """The ports of a cluster brought back up: the old ones, except that an
        allocated port something else took while it was down is swapped for a
        free one (nodes learn every address from the configs rendered at up)."""
        fixed = {n.name for n in topo.nodes if n.port}
        nodes, proxy = state["nodes"], state["proxy"]
        # (where the port is kept, key there, address)
        places: list[tuple[dict, str, str]] = [
            (v, "port", f"{HOST}:{v['port']}") for n, v in nodes.items() if n not in fixed
        ]
        if proxy:
            places.append((proxy, "control", proxy["control"]))
            places += [(proxy["links"], link, a) for link, a in proxy["links"].items()]
        ports = [(d, k, int(a.rsplit(":", 1)[1])) for d, k, a in places]
        stale = [(d, k) for d, k, port in ports if not bindable(port)]
        kept = {port for _, _, port in ports} | {n.port for n in topo.nodes if n.port}
        fresh = free_ports(len(stale), avoid=kept) if stale else []
        for (d, k), port in zip(stale, fresh, strict=True):
            d[k] = port if k == "port" else f"{HOST}:{port}"
        return state

    @staticmethod
    def _plan(topo: Topology, path: Path) -> dict[str, Any]:
        names = topo.names()
        wanted = [n.port for n in topo.nodes if n.port]
        extra = len([n for n in topo.nodes if not n.port])
        links = topo.directed_links() if topo.proxies else []
        fresh = iter(free_ports(extra + len(links) + (1 if topo.proxies else 0), avoid=wanted))
        ports = {n.name: n.port or next(fresh) for n in topo.nodes}
        if len(set(ports.values())) != len(ports) or set(wanted) & set(ports.values()) - set(
            wanted
        ):
            raise ClusterError(f"{path}: port clash between nodes")
        return {
            "name": topo.name,
            "source": str(path.absolute()),
            "topology_text": path.read_text(),
            "nodes": {n: {"port": ports[n]} for n in names},
            "proxy": {
                "control": f"{HOST}:{next(fresh)}",
                "links": {link_name(s, d): f"{HOST}:{next(fresh)}" for s, d in links},
            }
            if topo.proxies
            else None,
            "created": time.time(),
        }

    def _render(self) -> None:
        topo, state = self.topology, self.state
        programs: list[Program] = []
        proxy = state["proxy"]
        if proxy:
            cfg = ProxyConfig.from_dict(
                {
                    "control": proxy["control"],
                    "faults_file": str(self.dir / "faults.json"),
                    "links": [
                        {
                            "name": name,
                            "listen": listen,
                            "target": f"{HOST}:{self.port(name.split('>')[1])}",
                        }
                        for name, listen in proxy["links"].items()
                    ],
                }
            )
            cfg.write(self.dir / "proxy.json")
            programs.append(
                Program(
                    PROXY,
                    [
                        sys.executable,
                        "-m",
                        "cluster.faults.proxy",
                        "--config",
                        str(self.dir / "proxy.json"),
                    ],
                    priority=1,
                    env={"PYTHONUNBUFFERED": "1"},
                    startsecs=0,
                )
            )
        for spec in topo.nodes:
            node_dir = self.dir / "nodes" / spec.name
            node_dir.mkdir(parents=True, exist_ok=True)
            peers = {
                p: proxy["links"][link_name(spec.name, p)] if proxy else f"{HOST}:{self.port(p)}"
                for p in topo.peers(spec.name)
            }
            config = {
                "node_id": spec.name,
                "cluster": topo.name,
                "tenant": topo.tenant,
                "listen": f"{HOST}:{self.port(spec.name)}",
                "data_dir": "data",
                "peers": peers,
                **spec.settings.model_dump(),
            }
            (node_dir / "node.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
            programs.append(
                Program(
                    spec.name,
                    [sys.executable, "-m", "node", "--config", str(node_dir / "node.yaml")],
                    directory=str(node_dir),
                    env={"PYTHONUNBUFFERED": "1"},
                    stopwaitsecs=10,
                    startsecs=0,  # readiness is the health check, waited on below
                )
            )
        self.supervisor.render(programs)

    def _start_all(self, timeout: float, progress) -> None:
        self.supervisor.start()
        if self.state["proxy"]:
            self.supervisor.start_program(PROXY)

            def proxy_answers() -> bool:
                self._check_alive(PROXY)
                return self.proxy.ping()

            try:
                wait_for(proxy_answers, 10, "the link proxy to answer", fatal=(ClusterError,))
            except WaitTimeout as exc:
                raise ClusterError(
                    f"{exc}; see {self.log_path(PROXY)}:\n" + self.tail(PROXY), exit_code=1
                ) from None
        for name in self.topology.names():
            self.supervisor.start_program(name, wait=False)
        self.wait_ready(timeout, progress=progress)

    # ---------------------------------------------------------------- helpers
    def port(self, node: str) -> int:
        self._known(node)
        return self.state["nodes"][node]["port"]

    def address(self, node: str) -> str:
        return f"{HOST}:{self.port(node)}"

    def _known(self, node: str) -> None:
        if node not in self.state["nodes"]:
            raise ClusterError(
                f"no node {node!r} in cluster {self.name} (nodes: {', '.join(self.state['nodes'])})"
            )

    def _save(self) -> None:
        atomic_write(self.dir / "cluster.json", json.dumps(self.state, indent=2) + "\n")

    def _channel(self, node: str) -> grpc.Channel:
        with self._lock:
            if node not in self._channels:
                self._channels[node] = grpc.insecure_channel(
                    self.address(node), options=CLIENT_OPTIONS
                )
            return self._channels[node]

    def kv(self, node: str) -> pb_grpc.KVStub:
        return pb_grpc.KVStub(self._channel(node))

    @property
    def proxy(self) -> ProxyControl:
        if not self.state["proxy"]:
            raise ClusterError(
                f"cluster {self.name} runs without link proxies (proxies: false): "
                "faults on links need them"
            )
        return ProxyControl(self.state["proxy"]["control"])

    def _call(self, node: str, method: str, request, timeout: float = 10):
        self._known(node)
        if node in self.state["paused"]:
            raise ClusterError(f"{node} is paused: `cluster resume {node}` first", exit_code=1)
        try:
            return getattr(self.kv(node), method)(request, timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                raise ClusterError(f"{node} refused: {exc.details()}", exit_code=2) from None
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise ClusterError(
                    f"{node} is not answering at {self.address(node)} ({code.name}); "
                    f"state: {self.process_state(node)}",
                    exit_code=1,
                ) from None
            raise ClusterError(f"{node}: {code.name}: {exc.details()}", exit_code=1) from None

    def process_state(self, node: str) -> str:
        try:
            state = self.supervisor.info(node)["statename"]
        except SupervisorError as exc:
            return f"unknown ({exc})"
        return "PAUSED" if state == "RUNNING" and node in self.state["paused"] else state

    def _check_alive(self, program: str) -> None:
        """Raise with the log's tail if ``program`` has exited: waiting on it is pointless."""
        try:
            state = self.supervisor.info(program)["statename"]
        except SupervisorError:
            return  # supervisord busy or restarting: the caller's wait decides
        if state in ("FATAL", "EXITED", "BACKOFF"):
            raise ClusterError(
                f"{program} failed to start ({state}); see {self.log_path(program)}:\n"
                + self.tail(program),
                exit_code=1,
            )

    def running_nodes(self) -> list[str]:
        """Nodes whose process runs and is not paused."""
        infos = self.supervisor.all_info()
        return [
            n
            for n in self.topology.names()
            if infos.get(n, {}).get("statename") == "RUNNING" and n not in self.state["paused"]
        ]

    # ------------------------------------------------------------- readiness
    def serving(self, node: str) -> bool:
        """Does the node answer the standard gRPC health check with SERVING?"""
        stub = health_pb2_grpc.HealthStub(self._channel(node))
        r = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
        return r.status == health_pb2.HealthCheckResponse.SERVING

    def _links_up(self, node: str, st: pb.StatusResponse) -> list[str]:
        down = [p.peer for p in st.peers if p.address and not p.connected]
        return [f"{node}>{p}" for p in down]

    def wait_ready(self, timeout: float = 60, nodes: list[str] | None = None, progress=None):
        """Until every given node serves and each of its links to a running peer is up."""
        nodes = nodes or self.topology.names()
        missing: list[str] = []
        cut = {n for n, f in self.faults().items() if f.get("mode", "ok") != "ok"}

        def check() -> bool:
            missing.clear()
            running = set(self.running_nodes())
            for n in nodes:
                self._check_alive(n)
                try:
                    if not self.serving(n):
                        missing.append(f"{n} serving")
                        continue
                    st = self.kv(n).Status(pb.StatusRequest(), timeout=2)
                except grpc.RpcError:
                    missing.append(f"{n} serving")
                    continue
                missing.extend(
                    link
                    for link in self._links_up(n, st)
                    if link.split(">")[1] in running and link not in cut
                )
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
            raise ClusterError(str(exc), exit_code=1) from None

    # ---------------------------------------------------------------- data verbs
    def write(self, node: str, key: bytes, value: bytes, timeout: float = 10) -> pb.Version:
        return self._call(node, "Put", pb.PutRequest(key=key, value=value), timeout).version

    def write_batch(self, node: str, items: list[tuple[bytes, bytes | None]]) -> list[pb.Version]:
        writes = [
            pb.Write(op=pb.DELETE, key=k) if v is None else pb.Write(op=pb.PUT, key=k, value=v)
            for k, v in items
        ]
        return list(self._call(node, "PutBatch", pb.PutBatchRequest(writes=writes)).versions)

    def read(self, node: str, key: bytes) -> bytes | None:
        r = self._call(node, "Get", pb.GetRequest(key=key))
        return r.value if r.found else None

    def delete(self, node: str, key: bytes, timeout: float = 10) -> pb.Version:
        return self._call(node, "Delete", pb.DeleteRequest(key=key), timeout).version

    def scan(self, node: str, prefix: bytes = b"", limit: int = 0) -> list[pb.KeyValue]:
        return list(self._call(node, "Scan", pb.ScanRequest(prefix=prefix, limit=limit)).items)

    def node_status(self, node: str) -> pb.StatusResponse:
        return self._call(node, "Status", pb.StatusRequest(), timeout=5)

    # ---------------------------------------------------------------- processes
    def kill(self, node: str) -> None:
        """SIGKILL, not restarted."""
        self._known(node)
        self._unpause(node)
        self.supervisor.signal_program(node, "KILL")
        wait_for(lambda: self.supervisor.info(node)["statename"] != "RUNNING", 10, f"{node} to die")

    def stop(self, node: str) -> None:
        self._known(node)
        self._unpause(node)
        self.supervisor.stop_program(node)

    def start(self, node: str, timeout: float = 30) -> None:
        self._known(node)
        self.supervisor.start_program(node, wait=False)
        self.wait_ready(timeout, nodes=[node])

    def restart(self, node: str, timeout: float = 30) -> None:
        self.stop(node)
        self.start(node, timeout)

    def pause(self, node: str) -> None:
        self._known(node)
        if self.supervisor.info(node)["statename"] != "RUNNING":
            raise ClusterError(f"{node} is not running ({self.process_state(node)})", 1)
        self.supervisor.signal_program(node, "STOP")
        if node not in self.state["paused"]:
            self.state["paused"].append(node)
            self._save()

    def resume(self, node: str) -> None:
        self._known(node)
        self.supervisor.signal_program(node, "CONT")
        self._unpause(node)

    def _unpause(self, node: str) -> None:
        if node in self.state["paused"]:
            if self.supervisor.info(node)["statename"] == "RUNNING":
                self.supervisor.signal_program(node, "CONT")
            self.state["paused"].remove(node)
            self._save()

    # ------------------------------------------------------------------ faults
    def _links(self) -> list[str]:
        return list(self.state["proxy"]["links"]) if self.state["proxy"] else []

    def partition(self, groups: list[list[str]], mode: str = "blackhole") -> dict:
        """Cut every link between different groups, both ways."""
        for group in groups:
            for node in group:
                self._known(node)
        if len(groups) < 2:
            raise ClusterError("a partition needs at least two groups, e.g. node-a node-b,node-c")
        try:
            return self.proxy.set_faults(partition_faults(groups, self._links(), mode))
        except ValueError as exc:
            raise ClusterError(str(exc)) from None

    def isolate(self, node: str, mode: str = "blackhole") -> dict:
        self._known(node)
        try:
            return self.proxy.set_faults(isolate_faults(node, self._links(), mode))
        except ValueError as exc:
            raise ClusterError(str(exc)) from None

    def delay(self, src: str, dst: str, ms: int) -> dict:
        self._known(src)
        self._known(dst)
        name = link_name(src, dst)
        if name not in self._links():
            raise ClusterError(f"no link {src}>{dst} in cluster {self.name}")
        return self.proxy.set_faults(
            {name: {"delay_ms": ms}, link_name(dst, src): {"delay_ms": ms}}
        )

    def heal(self) -> dict:
        return self.proxy.heal()

    def faults(self) -> dict:
        return self.proxy.get().get("faults", {}) if self.state["proxy"] else {}

    # ------------------------------------------------------------- convergence
    def snapshot(self, nodes: list[str] | None = None) -> list[dict]:
        out = []
        for n in nodes or self.running_nodes():
            try:
                st = self.node_status(n)
                out.append({"node": n, "digest": st.digest, "vv": dict(st.vv), "keys": st.keys})
            except ClusterError as exc:
                out.append({"node": n, "error": str(exc)})
        return out

    def converge(self, timeout: float = 60, progress=None) -> float:
        """Wait until every running node holds the same digest and vv; returns seconds."""
        start = time.monotonic()
        last: list[dict] = []

        def same() -> bool:
            last[:] = self.snapshot()
            if progress:
                lag = _spread(last)
                progress(f"converging: {len(last)} nodes, {lag} entries apart")
            return bool(last) and all(
                "error" not in s and (s["digest"], s["vv"]) == (last[0]["digest"], last[0]["vv"])
                for s in last
            )

        try:
            wait_for(same, timeout, "convergence", interval=0.01, max_interval=0.05)
        except WaitTimeout:
            raise ConvergeTimeout(
                f"not converged after {timeout:.1f}s:\n" + describe_difference(last), last
            ) from None
        return time.monotonic() - start

    # -------------------------------------------------------------- status
    def unsupervised(self) -> dict[str, int]:
        """Node processes that run although supervisord does not (it died): name -> pid."""
        configs = {
            str(self.supervisor.state_dir / "nodes" / n / "node.yaml"): n
            for n in self.topology.names()
        }
        return {
            configs[arg]: pid
            for pid, args in processes_under(self.supervisor.state_dir).items()
            for arg in args
            if arg in configs
        }

    def status(self) -> list[NodeView]:
        if self.supervisor.is_running():
            infos = self.supervisor.all_info()
        else:  # still show (and reach) nodes a dead supervisord left running
            infos = {
                n: {"statename": UNSUPERVISED, "pid": p} for n, p in self.unsupervised().items()
            }
        rows = []
        for n in self.topology.names():
            info = infos.get(n, {})
            state = info.get("statename", "DOWN")
            if state == "RUNNING" and n in self.state["paused"]:
                state = "PAUSED"
            view = NodeView(n, state, info.get("pid", 0) if state != "DOWN" else 0, self.address(n))
            if state in ("RUNNING", UNSUPERVISED):
                try:
                    st = self.node_status(n)
                    view.keys, view.vv, view.digest = st.keys, dict(st.vv), st.digest
                    view.links = {p.peer: p.connected for p in st.peers if p.address}
                    view.lag = {p.peer: p.lag for p in st.peers if p.subscribed}
                    view.entries_received, view.entries_sent = st.entries_received, st.entries_sent
                except ClusterError as exc:
                    view.error = str(exc)
            rows.append(view)
        return rows

    # ------------------------------------------------------------------ logs
    def log_path(self, node: str) -> Path:
        if node != PROXY:
            self._known(node)
        return self.dir / "logs" / f"{node}.log"

    def tail(self, node: str, lines: int = 20) -> str:
        path = self.log_path(node)
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def unexpected_log_lines(self) -> list[str]:
        """ERROR, CRITICAL or traceback lines in any node log (tests assert there are none)."""
        out = []
        for n in self.topology.names():
            path = self.log_path(n)
            if path.exists():
                for line in path.read_text(errors="replace").splitlines():
                    if " ERROR " in line or " CRITICAL " in line or "Traceback" in line:
                        out.append(f"{n}: {line}")
        return out

    # ------------------------------------------------------------------ down
    def down(self, purge: bool = False) -> list[str]:
        """Stop every process this cluster started and check none is left.

        Returns the processes found running without their supervisord (which
        had died) and stopped; normally none.
        """
        for ch in self._channels.values():
            ch.close()
        self._channels.clear()
        try:
            orphans = self.supervisor.shutdown()
        except SupervisorError as exc:
            raise ClusterError(str(exc), exit_code=1) from None
        if self.state.get("paused"):
            self.state["paused"] = []
            self._save()
        if purge:
            shutil.rmtree(self.dir)
        return orphans


def _spread(snap: list[dict]) -> int:
    vvs = [s["vv"] for s in snap if "vv" in s]
    if not vvs:
        return 0
    origins = {o for vv in vvs for o in vv}
    return sum(max(vv.get(o, 0) for vv in vvs) - min(vv.get(o, 0) for vv in vvs) for o in origins)


def describe_difference(snap: list[dict]) -> str:
    """Per node: digest, and per origin how far behind the most advanced node it is."""
    vvs = [s["vv"] for s in snap if "vv" in s]
    origins = sorted({o for vv in vvs for o in vv})
    top = {o: max(vv.get(o, 0) for vv in vvs) for o in origins}
    lines = []
    for s in snap:
        if "error" in s:
            lines.append(f"  {s['node']}: {s['error']}")
            continue
        behind = {o: top[o] - s["vv"].get(o, 0) for o in origins if top[o] > s["vv"].get(o, 0)}
        lines.append(
            f"  {s['node']}: digest {s['digest'][:12]} keys {s['keys']} "
            + (f"behind {behind}" if behind else "up to date")
        )
    return "\n".join(lines)


__all__ = ["Cluster", "ClusterError", "ConvergeTimeout", "ProxyError", "default_home"]
