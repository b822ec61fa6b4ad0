"""A node refuses TLS files it cannot serve with (``node.api.certcheck``, stdlib ``ssl`` only):
each case is a real certificate from ``cluster.certs``, checked as ``python -m node`` does."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509

from cluster import certs
from node.api.certcheck import validity
from node.api.tls import TlsError, TlsFiles

pytestmark = pytest.mark.unit

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


@pytest.fixture(scope="module")
def ca() -> certs.Issued:
    return certs.make_ca("demo")


def files(tmp: Path, leaf: certs.Issued, ca: certs.Issued, key: bytes | None = None) -> list[Path]:
    paths = [tmp / "node.pem", tmp / "node.key", tmp / "ca.pem"]
    for path, data in zip(paths, (leaf.cert, key or leaf.key, ca.cert), strict=True):
        path.write_bytes(data)
    return paths


def refusal(tmp: Path, leaf: certs.Issued, ca: certs.Issued, key: bytes | None = None) -> str:
    with pytest.raises(TlsError) as caught:
        TlsFiles.load(*files(tmp, leaf, ca, key))
    return str(caught.value)


def test_good_files_load(tmp_path, ca) -> None:
    leaf = certs.issue(ca, "node-a", server=True)
    assert TlsFiles.load(*files(tmp_path, leaf, ca)).cert == leaf.cert


def test_the_validity_read_from_der_is_the_certificates(ca) -> None:
    for start in (NOW - 40 * DAY, NOW + DAY):
        leaf = certs.issue(ca, "node-a", server=True, start=start, days=3)
        cert = x509.load_pem_x509_certificate(leaf.cert)
        got = validity(b"junk before\n" + leaf.cert)
        assert (got.not_before, got.not_after) == (
            cert.not_valid_before_utc,
            cert.not_valid_after_utc,
        )


def test_an_expired_certificate_is_refused_with_its_date_and_the_fix(tmp_path, ca) -> None:
    leaf = certs.issue(ca, "node-a", server=True, start=NOW - 40 * DAY, days=39)
    end = x509.load_pem_x509_certificate(leaf.cert).not_valid_after_utc
    msg = refusal(tmp_path, leaf, ca)
    assert f"node.pem expired on {end:%Y-%m-%d %H:%M} UTC" in msg
    assert "`cluster start NODE` or `cluster up` reissue" in msg


def test_a_certificate_not_yet_valid_is_refused_naming_the_clock(tmp_path, ca) -> None:
    leaf = certs.issue(ca, "node-a", server=True, start=NOW + 2 * DAY)
    msg = refusal(tmp_path, leaf, ca)
    assert "node.pem is not valid before" in msg and "clock" in msg


def test_a_certificate_of_another_ca_is_refused(tmp_path, ca) -> None:
    leaf = certs.issue(certs.make_ca("other"), "node-a", server=True)
    msg = refusal(tmp_path, leaf, ca)
    assert "node.pem is refused by the CA" in msg and "local issuer" in msg


def test_a_key_of_another_certificate_is_refused(tmp_path, ca) -> None:
    leaf = certs.issue(ca, "node-a", server=True)
    other = certs.issue(ca, "node-a", server=True)
    msg = refusal(tmp_path, leaf, ca, key=other.key)
    assert "node.key is not the key of the certificate" in msg


def test_an_expired_ca_is_named_first_with_rotation_as_the_fix(tmp_path) -> None:
    old = certs.make_ca("demo", start=NOW - 40 * DAY, days=39)
    leaf = certs.issue(old, "node-a", server=True, start=NOW - 40 * DAY)  # ends with its CA
    msg = refusal(tmp_path, leaf, old)
    assert "ca.pem expired on" in msg and "rotate-secrets" in msg


def test_a_certificate_that_is_no_der_is_refused(tmp_path, ca) -> None:
    leaf = certs.issue(ca, "node-a", server=True)
    bad = certs.Issued(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", leaf.key)
    assert "node.pem cannot be parsed" in refusal(tmp_path, bad, ca)
