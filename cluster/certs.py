"""Pure: a cluster's certificate authority and the certificates it signs (``cryptography``).

One CA per cluster, so a certificate of another cluster is refused at the TLS handshake.
Each node gets a certificate that is good for serving and for dialling its peers, whose
common name is the node's name (a node may replicate only as the node its certificate
names) and whose subject alternative names are the name (what peers and the tool check:
``grpc.ssl_target_name_override``, and the container's alias under Docker), ``localhost``
and ``127.0.0.1``. The tool gets a client-only certificate whose common name is no node
name, so it can read and write but never subscribe as a node. Keys are ECDSA P-256.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 5 * 365
LEAF_DAYS = 365
RENEW_DAYS = 30  # ``cluster up`` reissues a certificate this close to its end
SKEW = datetime.timedelta(minutes=5)  # valid from a little earlier: clocks differ
LOCAL_SANS = ("localhost", "127.0.0.1")


def tool_name(cluster: str) -> str:
    """The tool certificate's common name: never a node name (``@`` is not allowed)."""
    return f"cluster-tool@{cluster}"


@dataclass(frozen=True)
class Issued:
    """One certificate and its key, PEM."""

    cert: bytes
    key: bytes = field(repr=False)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _usage(*, sign_certs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=sign_certs,
        crl_sign=sign_certs,
        encipher_only=False,
        decipher_only=False,
    )


def make_ca(cluster: str, start: datetime.datetime | None = None, days: float = CA_DAYS) -> Issued:
    """A self-signed CA for ``cluster``, able to sign leaf certificates only, valid for
    ``days`` from ``start`` (default: now, less ``SKEW``)."""
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"remesh CA {cluster}")])
    begin = start or _now() - SKEW
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(begin)
        .not_valid_after(begin + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(sign_certs=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key))


def issue(
    ca: Issued,
    name: str,
    *,
    server: bool,
    sans: tuple[str, ...] = (),
    start: datetime.datetime | None = None,
    days: float = LEAF_DAYS,
) -> Issued:
    """A certificate for ``name`` signed by ``ca``; ``server``: it may also serve (a node),
    with SANs ``name``, ``sans``, localhost and 127.0.0.1; else client-only (the tool).
    Valid for ``days`` from ``start`` (default: now, less ``SKEW``), never past the CA."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert)
    ca_key = serialization.load_pem_private_key(ca.key, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the cluster CA key is not an ECDSA key: delete the secrets, up again")
    key = _key()
    begin = start or _now() - SKEW
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(begin)
        .not_valid_after(min(begin + datetime.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign_certs=False), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        names = dict.fromkeys((name, *sans, *LOCAL_SANS))  # ordered, no repeats
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
        )
    cert = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False).sign(
        ca_key, hashes.SHA256()
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key))


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _day(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _validity(cert: x509.Certificate, now: datetime.datetime, margin: datetime.timedelta) -> str:
    """Why ``cert`` is not good for ``margin`` more; "" when it is."""
    if cert.not_valid_after_utc <= now:
        return f"it expired on {_day(cert.not_valid_after_utc)}"
    if cert.not_valid_before_utc > now:
        return f"it is not valid before {_day(cert.not_valid_before_utc)}"
    if cert.not_valid_after_utc - now <= margin:
        return f"it expires on {_day(cert.not_valid_after_utc)}"
    return ""


def ca_problem(ca_pem: bytes, ca_key_pem: bytes) -> str:
    """Why the cluster CA cannot sign certificates anyone accepts; "" when it can."""
    try:
        ca = x509.load_pem_x509_certificate(ca_pem)
        key = serialization.load_pem_private_key(ca_key_pem, password=None)
    except (ValueError, TypeError):
        return "it cannot be read"
    if key.public_key() != ca.public_key():
        return "its key is not the CA's key"
    return _validity(ca, _now(), datetime.timedelta(0))


def problem(cert_pem: bytes, key_pem: bytes, ca_pem: bytes, name: str) -> str:
    """Why a certificate must be reissued: of another CA or name, not its key's, expired,
    not yet valid or near its end; "" when it is good."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        ca = x509.load_pem_x509_certificate(ca_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return "it cannot be read"
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return "the cluster CA did not sign it"
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or names[0].value != name:
        return f"it is not {name}'s"
    if key.public_key() != cert.public_key():
        return "its key is another certificate's"
    return _validity(cert, _now(), datetime.timedelta(days=RENEW_DAYS))
