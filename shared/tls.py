"""TLS for the services: gRPC credentials from PEM files, and a local certificate authority for ``edsc up``.

Each service serves over TLS when its ``TLS_CERT`` / ``TLS_KEY`` settings name PEM files, and verifies its peers
with ``TLS_CA``. Ports that only the services call (channel, receiver gRPC) require a client certificate signed by
that CA (mutual TLS); the transmitter's client port and the receiver's HTTP port ask clients for none (they
authenticate with tokens). A service's certificate serves as its client certificate for its own downstream calls.

:func:`ensure_local_ca` creates, when missing, ``DIR/ca.pem`` (+ ``ca.key``) and ``DIR/<service>.pem`` /
``DIR/<service>.key`` for every service, valid for ``localhost``, ``127.0.0.1``, ``::1`` and the service's name.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import grpc

from shared.errors import EditDSCError

SERVICE_NAMES = ("transmitter", "channel", "receiver")
CA_DAYS = 3650
LEAF_DAYS = 825


class TLSConfigError(EditDSCError):
    """TLS files are missing, unreadable or incomplete."""


@dataclass(frozen=True)
class TLSFiles:
    cert: Path
    key: Path
    ca: Optional[Path]

    @classmethod
    def from_settings(cls, cert: Optional[Path], key: Optional[Path], ca: Optional[Path]) -> Optional["TLSFiles"]:
        """None when TLS is off (no cert); an error when only part of it is configured."""
        if cert is None and key is None:
            if ca is not None:
                raise TLSConfigError("TLS_CA is set but TLS_CERT / TLS_KEY are not")
            return None
        if cert is None or key is None:
            raise TLSConfigError("TLS needs both TLS_CERT and TLS_KEY")
        for p in (cert, key, ca):
            if p is not None and not Path(p).is_file():
                raise TLSConfigError(f"TLS file {p} does not exist")
        return cls(Path(cert), Path(key), Path(ca) if ca else None)

    def server_credentials(self, require_client_auth: bool) -> grpc.ServerCredentials:
        if require_client_auth and self.ca is None:
            raise TLSConfigError("mutual TLS needs TLS_CA to verify the peers' certificates")
        return grpc.ssl_server_credentials([(self.key.read_bytes(), self.cert.read_bytes())],
                                           root_certificates=self.ca.read_bytes() if self.ca else None,
                                           require_client_auth=require_client_auth)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Credentials for this service's calls to another: verify it with the CA, present our certificate."""
        return grpc.ssl_channel_credentials(root_certificates=self.ca.read_bytes() if self.ca else None,
                                            private_key=self.key.read_bytes(),
                                            certificate_chain=self.cert.read_bytes())


def client_credentials(ca: Optional[Path]) -> grpc.ChannelCredentials:
    """A client's TLS credentials: trust ``ca`` (None: the system roots)."""
    return grpc.ssl_channel_credentials(root_certificates=Path(ca).read_bytes() if ca else None)


# ---------------------------------------------------------------------------------------------- local CA
def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_ca(directory: Path, common_name: str = "editdsc local CA") -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    ca_pem, ca_key = directory / "ca.pem", directory / "ca.key"
    ca_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(ca_key, _pem_key(key))
    return ca_pem, ca_key


def make_leaf(directory: Path, name: str, ca_pem: Path, ca_key: Path, hosts: Iterable[str] = (),
              days: int = LEAF_DAYS, not_before: Optional[dt.datetime] = None) -> tuple[Path, Path]:
    """A certificate for ``name`` signed by the CA, for server and client use; SANs: ``name``, ``localhost``,
    ``127.0.0.1``, ``::1`` and ``hosts``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_cert = x509.load_pem_x509_certificate(ca_pem.read_bytes())
    ca_private = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
    key = _key()
    sans: list[x509.GeneralName] = []
    for host in dict.fromkeys([name, "localhost", "127.0.0.1", "::1", *hosts]):
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    start = not_before or dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_private, hashes.SHA256()))
    pem, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(key_path, _pem_key(key))
    return pem, key_path


def ensure_local_ca(directory: str | Path, services: Iterable[str] = SERVICE_NAMES,
                    hosts: Iterable[str] = ()) -> dict[str, Path]:
    """Create what is missing in ``directory``: the CA and one certificate per service. Returns the paths
    (``ca``, and ``<service>.pem`` / ``<service>.key`` as ``<service>_cert`` / ``<service>_key``)."""
    directory = Path(directory)
    ca_pem, ca_key = directory / "ca.pem", directory / "ca.key"
    if not (ca_pem.is_file() and ca_key.is_file()):
        ca_pem, ca_key = make_ca(directory)
    out = {"ca": ca_pem}
    for name in services:
        pem, key = directory / f"{name}.pem", directory / f"{name}.key"
        if not (pem.is_file() and key.is_file()):
            pem, key = make_leaf(directory, name, ca_pem, ca_key, hosts)
        out[f"{name}_cert"], out[f"{name}_key"] = pem, key
    return out
