"""The Docker backend's pure parts: container addresses in configs, the files shipped into
a container, labels and names, which objects ``cluster gc`` judges orphaned."""

from __future__ import annotations

import io
import json
import os
import socket
import tarfile
from pathlib import Path

import pytest

from cluster.backends.base import BackendError, ProcessSpec
from cluster.backends.docker.containers import archive, create_args, shipped_files
from cluster.backends.docker.engine import (
    EXTRA_LABELS,
    HOST_LABEL,
    STATE,
    UID,
    Meta,
    engine_host,
    extra_labels,
    publish_ip,
)
from cluster.backends.docker.image import NODE_UID
from cluster.backends.docker.sweep import orphaned
from cluster.render import PROXY, PROXY_ALIAS, render
from cluster.state import ClusterState
from cluster.topology import parse_topology
from tests.unit.test_render import MESH3, state

pytestmark = pytest.mark.unit


def docker_state(tmp_path: Path, proxies: bool = True) -> ClusterState:
    st = state(tmp_path, proxies)
    st._data["backend"] = "docker"
    return st


def test_in_containers_nodes_dial_the_proxy_by_its_alias_and_it_dials_them_by_name(
    tmp_path: Path,
) -> None:
    st = docker_state(tmp_path)
    out = render(parse_topology(MESH3, "t.yaml"), st, python="py")
    a = out.node_configs["a"]
    assert a["listen"] == "0.0.0.0:20001" and a["data_dir"] == "/data"
    port = st.link_addresses["a>b"].rsplit(":", 1)[1]
    assert a["peers"]["b"] == f"{PROXY_ALIAS}:{port}"
    assert out.proxy is not None
    link = {spec.name: spec for spec in out.proxy.links}["a>b"]
    assert (link.listen, link.target) == (f"0.0.0.0:{port}", "b:20002")
    assert out.proxy.control == "0.0.0.0:21000"
    assert out.proxy.faults_file == Path("/data/faults.json")  # on the proxy's volume
    specs = {s.name: s for s in out.specs}
    assert specs[PROXY].ports == (21000,) and specs[PROXY].alias == PROXY_ALIAS
    assert specs["a"].ports == (20001,) and specs["a"].alias == ""


def test_without_proxies_containers_dial_each_other_by_name(tmp_path: Path) -> None:
    topo = parse_topology("name: m\nproxies: false\nlinks: line\nnodes: [a, b, c]\n", "t.yaml")
    out = render(topo, docker_state(tmp_path, proxies=False), python="py")
    assert out.node_configs["b"]["peers"] == {"a": "a:20001", "c": "c:20003"}


def _spec(tmp_path: Path) -> ProcessSpec:
    node_dir = tmp_path / "nodes" / "a"
    node_dir.mkdir(parents=True)
    (node_dir / "node.yaml").write_text("node_id: a\n")
    return ProcessSpec(
        "a",
        ["/host/python", "-m", "node", "--config", str(node_dir / "node.yaml")],
        directory=str(node_dir),
        ports=(20001,),
    )


def test_a_container_gets_the_files_its_command_names_and_the_secrets(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text("s3cret")
    (tmp_path / "elsewhere").write_text("not named")
    os.symlink("/etc/passwd", tmp_path / "secrets" / "planted")  # never followed
    assert shipped_files(tmp_path, spec) == [
        tmp_path / "nodes/a/node.yaml",
        tmp_path / "secrets/token",
    ]
    with tarfile.open(fileobj=io.BytesIO(archive(tmp_path, spec))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        root = str(tmp_path).lstrip("/")
        assert set(members) == {
            root,
            f"{root}/nodes",
            f"{root}/nodes/a",
            f"{root}/nodes/a/node.yaml",
            f"{root}/secrets",
            f"{root}/secrets/token",
        }  # nothing above the state directory: /tmp keeps its own mode
        token = members[f"{root}/secrets/token"]
        assert (token.mode, token.uid) == (0o400, NODE_UID)
        assert members[f"{root}/nodes"].mode == 0o700
        extracted = tar.extractfile(token)
        assert extracted is not None and extracted.read() == b"s3cret"


def test_create_args_run_the_command_with_the_images_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv(EXTRA_LABELS, raising=False)
    meta = Meta("mesh3", "0123abcd")
    spec = _spec(tmp_path)
    args = create_args(meta, tmp_path, spec, {20001: 32800})
    assert args["entrypoint"] == ["python"] and args["command"][0] == "-m"
    assert args["name"] == "remesh-mesh3-0123abcd-a" == meta.container("a")
    assert args["network"] == meta.network and args["hostname"] == "a"
    assert args["ports"] == {"20001/tcp": ("127.0.0.1", 32800)}
    assert args["volumes"] == {"remesh-mesh3-0123abcd-a": {"bind": "/data", "mode": "rw"}}
    assert args["labels"][UID] == "0123abcd" and args["labels"][STATE] == str(tmp_path)
    assert create_args(meta, tmp_path, spec, {})["ports"] == {"20001/tcp": ("127.0.0.1", None)}


def test_a_remote_engine_publishes_on_its_own_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.1.2.3:2375")
    assert (engine_host(), publish_ip()) == ("10.1.2.3", "0.0.0.0")
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    assert (engine_host(), publish_ip()) == ("127.0.0.1", "127.0.0.1")
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    assert (engine_host(), publish_ip()) == ("127.0.0.1", "127.0.0.1")


@pytest.mark.parametrize("bad", ["nolabel", "other.key=v", "remesh.a b=v", "=v"])
def test_extra_labels_refuse_what_is_not_remesh_key_value(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EXTRA_LABELS, f"remesh.ok=1,{bad}")
    with pytest.raises(BackendError, match=EXTRA_LABELS):
        extra_labels()


def test_meta_keeps_its_uid_and_a_bad_file_says_what_to_do(tmp_path: Path) -> None:
    meta = Meta.load(tmp_path, "m")
    meta.save(tmp_path)
    assert Meta.load(tmp_path, "m").uid == meta.uid
    assert Meta.load(tmp_path / "other", "m").uid != meta.uid  # another state dir, another id
    (tmp_path / "docker.json").write_text("{not json")
    with pytest.raises(BackendError, match="remove it"):
        Meta.load(tmp_path, "m")


def test_gc_judges_only_this_machines_objects_by_their_state_dir(tmp_path: Path) -> None:
    (tmp_path / "docker.json").write_text(json.dumps({"uid": "live"}))
    here = {HOST_LABEL: socket.gethostname(), STATE: str(tmp_path)}
    assert not orphaned({**here, UID: "live"})
    assert orphaned({**here, UID: "old"})  # the state dir was purged and reused
    assert orphaned({**here, STATE: str(tmp_path / "gone"), UID: "live"})
    assert not orphaned({HOST_LABEL: "another-machine", STATE: "/gone", UID: "x"})
    assert not orphaned({HOST_LABEL: socket.gethostname()})  # not the backend's



def test_the_registry_knows_the_docker_backend_by_the_file_it_leaves():
    from cluster.backends.docker.engine import META_FILE
    from cluster.backends.registry import BACKENDS

    assert BACKENDS["docker"].marker == META_FILE
