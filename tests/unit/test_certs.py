"""Certificates ``cluster up --tls`` makes: names, validity, what each key may do."""

from __future__ import annotations

import datetime
import ipaddress
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cluster import certs, secrets
from cluster.files import UnsafePath

pytestmark = pytest.mark.unit


def load(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


@pytest.fixture(scope="module")
def ca() -> certs.Issued:
    return certs.make_ca("demo")


def test_the_ca_signs_certificates_and_nothing_else(ca) -> None:
    cert = load(ca.cert)
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    assert cn(cert) == "remesh CA demo"


def test_a_node_certificate_names_the_node_and_may_serve_and_dial(ca) -> None:
    leaf = certs.issue(ca, "node-b", server=True, sans=("remesh-demo-node-b",))
    cert = load(leaf.cert)
    assert cn(cert) == "node-b"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["node-b", "remesh-demo-node-b", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(load(ca.cert))
    assert b"PRIVATE KEY" in leaf.key


def test_validity_starts_a_little_early_and_lasts_a_year(ca) -> None:
    cert = load(certs.issue(ca, "node-a", server=True).cert)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert now - datetime.timedelta(minutes=10) < cert.not_valid_before_utc < now
    days = (cert.not_valid_after_utc - now).days
    assert certs.LEAF_DAYS - 1 <= days <= certs.LEAF_DAYS


def test_the_tool_may_only_dial_and_is_no_node(ca) -> None:
    cert = load(certs.issue(ca, certs.tool_name("demo"), server=False).cert)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    from node.settings import NAME_RE

    assert not NAME_RE.match(cn(cert))  # so it can never say Hello as a node


def test_a_certificate_is_reissued_when_of_another_ca_name_or_key_or_out_of_date(
    ca, monkeypatch
) -> None:
    leaf = certs.issue(ca, "node-a", server=True)
    other = certs.issue(ca, "node-a", server=True)
    assert certs.problem(leaf.cert, leaf.key, ca.cert, "node-a") == ""
    assert certs.problem(leaf.cert, leaf.key, ca.cert, "node-b") == "it is not node-b's"
    assert certs.problem(leaf.cert, leaf.key, certs.make_ca("o").cert, "node-a") == (
        "the cluster CA did not sign it"
    )
    assert certs.problem(b"not a certificate", leaf.key, ca.cert, "node-a") == ("it cannot be read")
    assert certs.problem(leaf.cert, other.key, ca.cert, "node-a") == (
        "its key is another certificate's"
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    old = certs.issue(ca, "node-a", server=True, start=now - datetime.timedelta(days=9), days=8)
    assert certs.problem(old.cert, old.key, ca.cert, "node-a").startswith("it expired on ")
    soon = certs.issue(ca, "node-a", server=True, start=now + datetime.timedelta(days=1))
    assert certs.problem(soon.cert, soon.key, ca.cert, "node-a").startswith(
        "it is not valid before "
    )
    later = now + datetime.timedelta(days=340)
    monkeypatch.setattr(certs, "_now", lambda: later)
    assert certs.problem(leaf.cert, leaf.key, ca.cert, "node-a").startswith("it expires on ")


def test_a_ca_that_cannot_sign_is_named() -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    good = certs.make_ca("demo")
    assert certs.ca_problem(good.cert, good.key) == ""
    old = certs.make_ca("demo", start=now - datetime.timedelta(days=9), days=8)
    assert certs.ca_problem(old.cert, old.key).startswith("it expired on ")
    assert certs.ca_problem(good.cert, old.key) == "its key is not the CA's key"


def modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*")}


def test_secrets_are_private_and_made_once(tmp_path) -> None:
    os.umask(0o022)  # the user's umask must not matter
    paths = secrets.ensure(tmp_path, "demo", ["node-a", "node-b"], tls=True)
    got = modes(paths.root)
    assert stat.S_IMODE(paths.root.stat().st_mode) == 0o700
    assert got.pop("nodes") == 0o700
    assert set(got) == {
        "token",
        "ca.pem",
        "ca.key",
        "tool.pem",
        "tool.key",
        "nodes/node-a.pem",
        "nodes/node-a.key",
        "nodes/node-b.pem",
        "nodes/node-b.key",
    }
    assert set(got.values()) == {0o600}
    before = {p: (paths.root / p).read_bytes() for p in got}
    secrets.ensure(tmp_path, "demo", ["node-a", "node-b", "node-c"], tls=True)
    assert all((paths.root / p).read_bytes() == data for p, data in before.items())
    assert (paths.root / "nodes/node-c.pem").exists()
    creds = secrets.Credentials.load(tmp_path, tls=True)
    assert creds.token == before["token"].decode().strip() and creds.cert == before["tool.pem"]
    assert creds.token not in repr(creds) and b"PRIVATE" not in repr(creds).encode()


def test_a_planted_symlink_is_refused_and_rotation_removes_it(tmp_path) -> None:
    root = tmp_path / "secrets"
    root.mkdir(mode=0o700)
    (tmp_path / "elsewhere").write_text("x" * 64)
    (root / "token").symlink_to(tmp_path / "elsewhere")
    secrets.ensure(tmp_path, "demo", [], tls=False)  # there is a name: left alone
    with pytest.raises(UnsafePath, match="symlink"):
        secrets.Credentials.load(tmp_path, tls=False)
    assert secrets.remove(tmp_path) and not root.exists()
    assert (tmp_path / "elsewhere").read_text() == "x" * 64  # the target is untouched
    secrets.ensure(tmp_path, "demo", [], tls=False)
    assert len(secrets.Credentials.load(tmp_path, tls=False).token) == 64


def test_the_tool_certificate_is_the_one_nodes_let_administer():
    from node.api.auth import OPERATOR_PREFIX, may_administer

    assert certs.tool_name("mesh3").startswith(OPERATOR_PREFIX)
    assert may_administer(certs.tool_name("mesh3")) and may_administer(None)
    assert not may_administer("node-a") and not may_administer("")
