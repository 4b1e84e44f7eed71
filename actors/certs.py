"""TLS for the API server: a per-cluster CA and a serving certificate, made with `cryptography`.

kubectl and client-go send a bearer token only over TLS, so the API server serves HTTPS even on
localhost. `kubemu up` makes one self-signed CA per cluster and a serving certificate signed by
it for 127.0.0.1, localhost and the bind address; the kubeconfig carries the CA
(certificate-authority-data), so clients verify the server without any flag. Keys are EC P-256
(fast to make, small); everything is PEM bytes, so it travels to API-server actors as data.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["ServingCerts", "make_serving_certs", "server_ssl_context", "client_ssl_context"]

_VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class ServingCerts:
    ca_pem: bytes
    cert_pem: bytes  # the serving certificate, then the CA
    key_pem: bytes


def make_serving_certs(*, cluster: str, hosts: list[str]) -> ServingCerts:
    """A fresh CA and a serving certificate for `hosts` (IP addresses or DNS names)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"kubemu-{cluster}-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + _VALIDITY)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                       crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(["127.0.0.1", "localhost", "kubernetes",
                               "kubernetes.default.svc", *hosts]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    ca_pem = ca.public_bytes(pem)
    return ServingCerts(
        ca_pem=ca_pem, cert_pem=cert.public_bytes(pem) + ca_pem,
        key_pem=key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


def server_ssl_context(certs: ServingCerts) -> ssl.SSLContext:
    """A server context for `certs` (the key passes through a private temp file, which
    `load_cert_chain` needs, and is removed at once)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    fd, path = tempfile.mkstemp(prefix="kubemu-tls-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(certs.cert_pem + certs.key_pem)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)
    return ctx


def client_ssl_context(ca_pem: bytes) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=ca_pem.decode())
