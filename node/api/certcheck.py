"""A node's TLS files checked before it serves, with the stdlib ``ssl`` module only.

gRPC takes an expired certificate, one of another CA or a key of another certificate
without a word and then fails every handshake, so the node looked up while no peer and
no client could reach it. ``check`` refuses such files at start with what is wrong and
when: the validity dates are read from the certificate's DER, the key is matched by
loading the pair, and the chain is verified by a TLS handshake in memory between two
contexts holding the node's own files (each end checks the other, as peers do). The
Docker image has no ``cryptography``, so nothing here needs it.
"""

from __future__ import annotations

import base64
import datetime
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\s+([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----")
UTC = datetime.timezone.utc
FIX = (
    "issue a new one signed by the cluster CA (`cluster start NODE` or `cluster up` reissue theirs)"
)


class CertificateError(ValueError):
    """A certificate this node cannot serve with; the message names the file and the fix."""


@dataclass(frozen=True)
class Validity:
    not_before: datetime.datetime
    not_after: datetime.datetime


def _tlv(der: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at ``at``."""
    tag, size = der[at], der[at + 1]
    at += 2
    if size & 0x80:
        count = size & 0x7F
        size = int.from_bytes(der[at : at + count], "big")
        at += count
    if at + size > len(der):
        raise ValueError("truncated DER")
    return tag, at, at + size


def _time(tag: int, raw: bytes) -> datetime.datetime:
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 1950-2049
        year = int(text[:2])
        text = f"{year + (1900 if year >= 50 else 2000)}{text[2:]}"
    return datetime.datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)


def validity(pem: bytes) -> Validity:
    """The validity of the first certificate in ``pem``; ValueError when it is not one."""
    found = _PEM.search(pem)
    if found is None:
        raise ValueError("no PEM certificate")
    der = base64.b64decode(b"".join(found.group(1).split()), validate=True)
    _, at, _ = _tlv(der, 0)  # Certificate
    _, at, _ = _tlv(der, at)  # TBSCertificate
    if der[at] == 0xA0:  # [0] version
        at = _tlv(der, at)[2]
    for _ in range(3):  # serialNumber, signature, issuer
        at = _tlv(der, at)[2]
    _, at, _ = _tlv(der, at)  # Validity
    tag1, s1, e1 = _tlv(der, at)
    tag2, s2, e2 = _tlv(der, e1)
    return Validity(_time(tag1, der[s1:e1]), _time(tag2, der[s2:e2]))


def _day(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _dates(what: str, path: Path, pem: bytes, now: datetime.datetime, fix: str) -> None:
    try:
        valid = validity(pem)
    except (ValueError, IndexError):
        raise CertificateError(f"the TLS {what} {path} cannot be parsed: {fix}") from None
    if now > valid.not_after:
        raise CertificateError(f"the TLS {what} {path} expired on {_day(valid.not_after)}: {fix}")
    if now < valid.not_before:
        raise CertificateError(
            f"the TLS {what} {path} is not valid before {_day(valid.not_before)} (is this "
            f"machine's clock right? it says {_day(now)}): {fix}"
        )


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> None:
    """One TLS handshake between two contexts, in memory; raises what either end refused."""
    bios = [ssl.MemoryBIO() for _ in range(4)]
    s = server.wrap_bio(bios[0], bios[1], server_side=True)
    c = client.wrap_bio(bios[2], bios[3], server_hostname="remesh")
    done = [False, False]
    for _ in range(20):
        for i, (end, out, peer_in) in enumerate(((c, bios[3], bios[0]), (s, bios[1], bios[2]))):
            if not done[i]:
                try:
                    end.do_handshake()
                    done[i] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(out.read())
        if all(done):
            return
    raise ssl.SSLError("the in-memory handshake did not finish")


def _context(side: int, cert: Path, key: Path, ca: bytes) -> ssl.SSLContext:
    ctx = ssl.SSLContext(side)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=ca.decode("ascii", "replace"))
    ctx.load_cert_chain(cert, key)
    return ctx


def check(
    cert: Path, key: Path, ca: Path, pems: tuple[bytes, bytes], now: datetime.datetime
) -> None:
    """Refuse ``cert``/``key``/``ca`` unless they would serve; ``pems``: the certificate's
    and the CA's bytes as read."""
    cert_pem, ca_pem = pems
    _dates(  # first: a new certificate from a CA out of date is no fix
        "CA certificate",
        ca,
        ca_pem,
        now,
        "every certificate it signed is refused too: make a new CA and certificates "
        "(`cluster down`, `cluster rotate-secrets`, `cluster up`)",
    )
    _dates("certificate", cert, cert_pem, now, FIX)
    try:
        server = _context(ssl.PROTOCOL_TLS_SERVER, cert, key, ca_pem)
        client = _context(ssl.PROTOCOL_TLS_CLIENT, cert, key, ca_pem)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise CertificateError(
                f"the TLS private key {key} is not the key of the certificate {cert}: "
                f"pass the key the certificate was issued for, or {FIX}"
            ) from None
        raise CertificateError(
            f"the TLS files {cert}, {key}, {ca} cannot be used ({exc.reason or exc}): {FIX}"
        ) from None
    try:
        _handshake(server, client)
    except ssl.SSLCertVerificationError as exc:
        raise CertificateError(
            f"the TLS certificate {cert} is refused by the CA {ca} "
            f"({exc.verify_message}): peers would refuse it too; {FIX}"
        ) from None
    except ssl.SSLError as exc:
        raise CertificateError(
            f"the TLS files {cert}, {key}, {ca} fail a handshake ({exc.reason or exc}): {FIX}"
        ) from None
