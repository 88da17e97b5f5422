"""``fabricctl certs init DIR``: a private CA and the certificates the controller's TLS uses, made with
the ``cryptography`` package (no openssl command line).

    DIR/ca.pem, ca.key          the CA (clients trust ca.pem: ``fabricctl ctl --ca DIR/ca.pem``)
    DIR/server.pem, server.key  the service's certificate, for localhost, 127.0.0.1, ::1 and --host names
    DIR/client.pem, client.key  a client certificate signed by the same CA (for mutual TLS setups)

Keys are ECDSA P-256, written 0600; certificates are valid for :data:`VALID_DAYS` days.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fabric.errors import ConfigError

#: Validity of the certificates (one year: long enough for a lab, short enough to be rotated).
VALID_DAYS = 365
#: Names the server certificate always covers (the service listens on loopback unless told otherwise).
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fabricctl"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def init_certs(directory: str | os.PathLike[str], *, hosts: Sequence[str] = (), force: bool = False,
               now: datetime.datetime | None = None) -> dict[str, str]:
    """Write the CA, server and client certificates under ``directory``; returns name -> path.
    Refuses to overwrite an existing CA unless ``force``."""
    d = Path(directory)
    if (d / "ca.key").exists() and not force:
        raise ConfigError("a CA is already there (use --force to make a new one)", file=str(d / "ca.key"))
    d.mkdir(parents=True, exist_ok=True)
    t0 = now or datetime.datetime.now(datetime.UTC)
    t1 = t0 + datetime.timedelta(days=VALID_DAYS)
    ca_key = _key()
    ca = (x509.CertificateBuilder().subject_name(_name("fabricctl CA")).issuer_name(_name("fabricctl CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(t0).not_valid_after(t1)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))

    def leaf(cn: str, sans: Sequence[str], usage: x509.ObjectIdentifier) -> tuple[bytes, bytes]:
        key = _key()
        alt: list[x509.GeneralName] = []
        for h in sans:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                alt.append(x509.DNSName(h))
        b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca.subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(t0).not_valid_after(t1)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if alt:
            b = b.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        cert = b.sign(ca_key, hashes.SHA256())
        pem_key = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        return cert.public_bytes(serialization.Encoding.PEM), pem_key

    server_pem, server_key = leaf("fabricctl server", [*LOCAL_NAMES, *hosts], ExtendedKeyUsageOID.SERVER_AUTH)
    client_pem, client_key = leaf("fabricctl client", [], ExtendedKeyUsageOID.CLIENT_AUTH)
    ca_key_pem = ca_key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    files = {"ca.pem": (ca.public_bytes(serialization.Encoding.PEM), 0o644), "ca.key": (ca_key_pem, 0o600),
             "server.pem": (server_pem, 0o644), "server.key": (server_key, 0o600),
             "client.pem": (client_pem, 0o644), "client.key": (client_key, 0o600)}
    for name, (data, mode) in files.items():
        _write(d / name, data, mode)
    return {name: str(d / name) for name in files}
