"""Tokens on a real cluster (``cluster up``: supervisord, node processes, the link proxy):
a caller without the cluster's token, or with another, is refused and writes nothing;
the tool, the CLI and the proxy's control port use the token without anyone asking; the
token shows up in no output, log or state file but its own."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from cluster.api import Cluster
from cluster.faults.auth import check_proxy, sign
from cluster.faults.control import ProxyControl
from cluster.faults.model import ProxyError
from cluster.ports import free_ports
from cluster.wait import wait_for
from node.api.challenge import new_nonce
from node.pb import remesh_pb2 as pb
from node.pb import remesh_pb2_grpc as pb_grpc
from tests.integration.nodeproc import NodeProc
from tests.integration.test_cli import cli, out  # noqa: F401 - the cli fixture

pytestmark = pytest.mark.integration

UNAUTH = grpc.StatusCode.UNAUTHENTICATED
WRONG = (("authorization", "Bearer " + "f" * 64),)


def hello(c: Cluster, node_id: str) -> Iterator[pb.SubscriberMessage]:
    yield pb.SubscriberMessage(
        hello=pb.Hello(protocol=1, cluster=c.name, tenant=c.topology.tenant, node_id=node_id)
    )


def refused(rpc) -> str:
    with pytest.raises(grpc.RpcError) as err:
        result = rpc()
        if hasattr(result, "__iter__") and not isinstance(result, pb.ScanResponse):
            for _ in result:
                pass
    assert err.value.code() == UNAUTH, f"{err.value.code()}: {err.value.details()}"
    return err.value.details()


@pytest.mark.parametrize("metadata", [(), WRONG], ids=["no token", "wrong token"])
def test_put_scan_watch_replicate_without_the_token_are_refused(remesh_cluster, metadata):
    c = remesh_cluster("mesh3", tls=False)  # plaintext: the token is all that stands guard
    c.write("node-b", b"there", b"1")
    c.converge(30)
    before = c.snapshot()
    with grpc.insecure_channel(c.address("node-a")) as channel:
        kv, repl = pb_grpc.KVStub(channel), pb_grpc.ReplicationStub(channel)
        calls = {
            "Put": lambda: kv.Put(pb.PutRequest(key=b"evil", value=b"x"), metadata=metadata),
            "Scan": lambda: kv.Scan(pb.ScanRequest(), metadata=metadata, timeout=10),
            "Watch": lambda: kv.Watch(pb.WatchRequest(), metadata=metadata, timeout=10),
            # node-c is a real member: without the token its name buys nothing
            "Replicate": lambda: repl.Replicate(hello(c, "node-c"), metadata=metadata),
        }
        for name, rpc in calls.items():
            details = refused(rpc)
            assert "cluster mesh3" in details, (name, details)
    assert c.snapshot() == before  # nothing written anywhere
    assert c.read("node-a", b"evil") is None
    status = c.node_status("node-a")
    assert [p.peer for p in status.peers if p.subscribed] == ["node-b", "node-c"]
    counted = 'remesh_rejected_total{reason="auth"} 4.0'
    wait_for(lambda: counted in c.metrics("node-a"), 10, "each refusal counted in the metrics")


def test_the_proxy_control_port_wants_the_token(remesh_cluster):
    c = remesh_cluster("mesh3")
    address = json.loads((c.dir / "cluster.json").read_text())["proxy"]["control"]
    anonymous, wrong = ProxyControl(address), ProxyControl(address, token="f" * 64)
    for control, refusal in ((anonymous, "unauthenticated"), (wrong, "cannot prove it holds")):
        assert control.ping()  # open: it says nothing
        with pytest.raises(ProxyError, match=refusal):
            control.set_faults({"node-a>node-b": {"mode": "blackhole"}})
        with pytest.raises(ProxyError, match=refusal):
            control.heal()
    token = (c.dir / "secrets" / "token").read_text().strip().encode()
    heal = {"op": "set", "faults": {"node-a>node-b": {"mode": "blackhole"}}}
    with control_connection(address) as talk:  # proved with another token: refused
        cn = new_nonce()
        answer = talk({"op": "challenge", "nonce": cn.hex()})
        sn = check_proxy(token, cn, answer, address)  # the real proxy proves itself
        assert "wrong token" in talk(sign(b"f" * 64, cn, sn, heal))["error"]
        signed = sign(token, cn, sn, heal)
        assert "wrong token" in talk({**signed, "faults": {}})["error"]  # altered after signing
    with control_connection(address) as talk:  # a proof seen once is good for nothing else
        talk({"op": "challenge", "nonce": new_nonce().hex()})
        assert "wrong token" in talk(signed)["error"]
    assert c.faults() == {}
    c.isolate("node-a")  # the tool's own control client has the token
    assert c.faults()
    c.heal()


@contextlib.contextmanager
def control_connection(address: str) -> Iterator[Callable[[dict], dict]]:
    """One connection to a proxy's control port: send a JSON line, read one back."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        lines = sock.makefile("rb")

        def talk(request: dict) -> dict:
            sock.sendall(json.dumps(request).encode() + b"\n")
            return json.loads(lines.readline())

        yield talk


def secret_in(path: Path, token: str) -> list[str]:
    return [
        str(p)
        for p in path.rglob("*")
        if p.is_file() and p.name != "token" and token.encode() in p.read_bytes()
    ]


def test_cli_end_to_end_with_tokens_and_the_token_is_never_shown(cli, tmp_path):  # noqa: F811
    outputs = [
        cli("up", "mesh3"),
        cli("write", "node-a", "k", "v"),
        cli("converge", "--json"),
        cli("read", "node-c", "k"),
        cli("scan", "node-b", "--json"),
        cli("status", "--json"),
        cli("isolate", "node-c"),
        cli("heal"),
        cli("list", "--json"),
    ]
    assert out(outputs[3]).strip() == "v"
    state = tmp_path / "home" / "mesh3"
    token_file = state / "secrets" / "token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert (state / "secrets").stat().st_mode & 0o777 == 0o700
    token = token_file.read_text().strip()
    assert len(token) == 64
    for p in outputs:
        assert token not in p.stdout.decode() + p.stderr.decode()
    assert secret_in(state, token) == []  # not in cluster.json, configs, logs
    # Another cluster's token: the node cannot prove it holds that one, so the tool stops
    # before sending anything and says why (it never learns whether the node would refuse).
    token_file.write_text("a" * 64 + "\n")
    p = cli("write", "node-a", "k2", "v", ok=False)
    err = p.stderr.decode()
    assert p.returncode != 0 and "cannot prove it holds the token this side holds" in err, err
    assert "a token file that is not this cluster's" in err and "Traceback" not in err
    token_file.unlink()  # gone: every verb that talks to a node says how to get it back
    p = cli("read", "node-a", "k", ok=False)
    assert p.returncode == 2 and "secrets/token is missing" in p.stderr.decode()
    assert "Traceback" not in p.stderr.decode()
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    # Rotation: refused while up, a new token once down; the data stays.
    p = cli("rotate-secrets", ok=False)
    assert p.returncode == 2 and "cluster down" in p.stderr.decode()
    cli("down")
    cli("rotate-secrets")
    assert token_file.read_text().strip() != token
    cli("up", "mesh3")
    assert out(cli("read", "node-b", "k")).strip() == "v"


def test_a_peer_with_another_token_gets_nothing_and_says_why(tmp_path):
    """Two real node processes whose tokens differ: neither can prove to the other that it
    holds its token, so neither subscribes (nothing of either token crosses), no entry
    crosses, and each logs why (an ERROR: a person must act)."""
    port_a, port_b = free_ports(2)
    a = NodeProc(tmp_path, "node-a", port_a, {"node-b": port_b})
    b = NodeProc(tmp_path, "node-b", port_b, {"node-a": port_a}, token="another-token-" + "9" * 20)
    try:
        a.start()
        b.start()
        a.put(b"only-on-a", b"1")

        def link_error(node: NodeProc, peer: str) -> str:
            return next(p.last_error for p in node.status().peers if p.peer == peer)

        proof = "cannot prove it holds the token this side holds"

        def refusal_logged(node: NodeProc) -> bool:  # a log keeps it; last_error moves on
            return any(proof in line for line in node.unexpected_log_lines())

        for node in (a, b):
            wait_for(lambda n=node: refusal_logged(n), 60, f"{node.name} to log the refusal")
        seen = [""]

        def a_not_believed() -> bool:  # caught in the act: last_error moves on with retries
            seen[0] = link_error(b, "node-a")
            return proof in seen[0] and "nothing secret was sent to it" in seen[0]

        wait_for(a_not_believed, 60, lambda: f"node-b to refuse node-a's answer; now {seen[0]!r}")
        assert b.get(b"only-on-a") is None
        assert not [origin for origin in b.status().vv if origin.startswith("node-a")]
    finally:
        a.close()
        b.close()
