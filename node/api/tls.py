"""Mutual TLS material of one node (or client): its key, its certificate and the cluster CA.

A node serving TLS requires every caller to present a certificate signed by the cluster
CA, and dials its peers with its own certificate, checking that the peer's certificate
names the peer (``grpc.ssl_target_name_override``: the address may be a fault proxy's,
the name is the peer's). The files are PEM; ``cluster`` writes them under its state
directory's ``secrets/`` (``cluster.certs``), a person running a node by hand passes
``--tls-cert``, ``--tls-key`` and ``--tls-ca``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from node.api.certcheck import CertificateError, check

MAX_PEM_BYTES = 64 * 1024


class TlsError(ValueError):
    """A TLS file that cannot be used; the message names the file and what to fix."""


def _pem(path: str | Path, what: str, marker: bytes) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise TlsError(f"cannot read the TLS {what} {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_PEM_BYTES or b"-----BEGIN " not in data or marker not in data:
        raise TlsError(f"the TLS {what} {path}: expected a PEM file holding a {what}")
    return data


@dataclass(frozen=True)
class TlsFiles:
    """PEM bytes: the certificate chain, its private key, the CA that signs the cluster."""

    cert: bytes
    key: bytes = field(repr=False)
    ca: bytes

    @classmethod
    def load(cls, cert: str | Path, key: str | Path, ca: str | Path) -> TlsFiles:
        """Read and check the files (``node.api.certcheck``): a node never serves with a
        certificate that has expired, is not yet valid, is of another CA or another key."""
        files = cls(
            cert=_pem(cert, "certificate", b"CERTIFICATE"),
            key=_pem(key, "private key", b"PRIVATE KEY"),
            ca=_pem(ca, "CA certificate", b"CERTIFICATE"),
        )
        now = datetime.datetime.now(datetime.timezone.utc)
        try:
            check(Path(cert), Path(key), Path(ca), (files.cert, files.ca), now)
        except CertificateError as exc:
            raise TlsError(str(exc)) from None
        return files

    def server_credentials(self) -> grpc.ServerCredentials:
        """Serve TLS; refuse, at the handshake, a client without a CA-signed certificate."""
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)], root_certificates=self.ca, require_client_auth=True
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )


def target_name(name: str) -> tuple[str, str]:
    """The channel option that checks the server's certificate names ``name``."""
    return ("grpc.ssl_target_name_override", name)
