"""A cluster's secrets: the token, and with TLS its CA and certificates, under one directory.

``<state>/secrets/`` (0700) holds ``token``; with TLS also ``ca.pem``/``ca.key``,
``tool.pem``/``tool.key`` and ``nodes/<node>.pem``/``.key``, every file 0600, written by
``cluster.files.atomic_write`` (a fresh file, O_EXCL, renamed over the name: a symlink
planted there is replaced, never followed) and read through ``open_private`` (a symlink
is refused). ``cluster up`` creates what is missing (a certificate near its end or of
another CA is reissued); deleting the directory while the cluster is down rotates every
secret at the next ``up`` (``cluster rotate-secrets``). Node processes get the files by
path (``node_args``), so a container backend can mount the one directory read-only.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from cluster import certs
from cluster.errors import ClusterError
from cluster.files import UnsafePath, atomic_write, open_private, private_dir
from node.api.bearer import TokenError, check_token

SECRETS_DIR = "secrets"
MAX_SECRET_BYTES = 64 * 1024


def secrets_dir(state_dir: Path) -> Path:
    return state_dir / SECRETS_DIR


@dataclass(frozen=True)
class Paths:
    """Where one cluster's secret files live."""

    root: Path

    @property
    def token(self) -> Path:
        return self.root / "token"

    @property
    def ca(self) -> tuple[Path, Path]:
        return self.root / "ca.pem", self.root / "ca.key"

    @property
    def tool(self) -> tuple[Path, Path]:
        return self.root / "tool.pem", self.root / "tool.key"

    def node(self, name: str) -> tuple[Path, Path]:
        return self.root / "nodes" / f"{name}.pem", self.root / "nodes" / f"{name}.key"


def read_secret(path: Path) -> bytes:
    """The bytes of one of our secret files; refuses a symlink, a non-file, a big file."""
    try:
        fd = open_private(path, os.O_RDONLY)
    except FileNotFoundError:
        raise ClusterError(
            f"{path} is missing: `cluster down` then `cluster up` creates the secrets again"
        ) from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise UnsafePath(f"{path} is not a regular file: move it away")
        data = f.read(MAX_SECRET_BYTES + 1)
    if len(data) > MAX_SECRET_BYTES:
        raise ClusterError(f"{path} is larger than a secret can be: remove it and `up` again")
    return data


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def ensure(
    state_dir: Path, cluster: str, nodes: list[str], tls: bool, notes: list[str] | None = None
) -> Paths:
    """Create the secrets ``cluster`` needs that are missing; reissue a certificate of
    another CA or key, expired, not yet valid or near its end, saying why in ``notes``.
    A CA that cannot sign (expired, not yet valid) is refused: every node must change CA at
    once, so only ``rotate-secrets`` (while down) replaces it."""
    paths = Paths(private_dir(secrets_dir(state_dir)))
    if not _exists(paths.token):
        atomic_write(paths.token, secrets.token_hex(32).encode() + b"\n")
    if not tls:
        return paths
    ca_cert, ca_key = paths.ca
    if not (_exists(ca_cert) and _exists(ca_key)):
        ca = certs.make_ca(cluster)
        atomic_write(ca_key, ca.key)
        atomic_write(ca_cert, ca.cert)
    ca = certs.Issued(read_secret(ca_cert), read_secret(ca_key))
    why = certs.ca_problem(ca.cert, ca.key)
    if why:
        raise ClusterError(
            f"the cluster CA {ca_cert}: {why}, so every certificate it signs is refused: "
            f"`cluster down --cluster {cluster}`, `cluster rotate-secrets --cluster {cluster}` "
            "and `cluster up` make a new CA and certificates (data is kept)"
        )
    private_dir(paths.root / "nodes")
    wanted = [(paths.tool, certs.tool_name(cluster), False)]
    wanted += [(paths.node(n), n, True) for n in nodes]
    for (cert_path, key_path), name, server in wanted:
        if _exists(cert_path) and _exists(key_path):
            why = certs.problem(read_secret(cert_path), read_secret(key_path), ca.cert, name)
            if not why:
                continue
            if notes is not None:
                notes.append(f"reissued {name}'s certificate ({cert_path}): {why}")
        leaf = certs.issue(ca, name, server=server)
        atomic_write(key_path, leaf.key)
        atomic_write(cert_path, leaf.cert)
    return paths


def node_args(state_dir: Path, node: str, tls: bool) -> list[str]:
    """The node runner's flags that point it at its secrets."""
    paths = Paths(secrets_dir(state_dir))
    args = ["--token-file", str(paths.token)]
    if tls:
        cert, key = paths.node(node)
        args += ["--tls-cert", str(cert), "--tls-key", str(key), "--tls-ca", str(paths.ca[0])]
    return args


def remove(state_dir: Path) -> bool:
    """Delete every secret of the cluster (``rotate-secrets``); True when there were any."""
    root = secrets_dir(state_dir)
    if not _exists(root):
        return False
    if root.is_symlink() or not root.is_dir():
        raise UnsafePath(f"{root} is not a directory (a symlink or a file): move it away")
    shutil.rmtree(root)
    return True


@dataclass(frozen=True)
class Credentials:
    """What the tool presents to a cluster's nodes: the token, and its TLS certificate."""

    token: str = field(repr=False)
    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = field(default=None, repr=False)
    cluster: str = ""  # the nodes must prove they belong to it (empty: to the token's)

    @classmethod
    def load(cls, state_dir: Path, tls: bool) -> Credentials:
        paths = Paths(secrets_dir(state_dir))
        raw = read_secret(paths.token)
        try:
            token = check_token(raw.decode("ascii", "replace").strip(), str(paths.token))
        except TokenError as exc:
            name = state_dir.name
            raise ClusterError(
                f"{exc}: the running nodes still hold the token they started with, which the "
                f"tool cannot read; `cluster down --cluster {name}` then `cluster "
                f"rotate-secrets --cluster {name}` and `cluster up` start them with a new one"
            ) from None
        cluster = state_dir.name
        if not tls:
            return cls(token, cluster=cluster)
        cert, key = paths.tool
        return cls(token, read_secret(paths.ca[0]), read_secret(cert), read_secret(key), cluster)

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        """TLS with the tool's certificate; None for a plaintext cluster."""
        if self.cert is None:
            return None
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )
