"""TLS for `provisiond serve --certfile --keyfile` and `provisiond demo --tls`.

Graph clients send their token only over https (the JavaScript graph-client refuses an
`http://` URL), so a local provisiond needs TLS without a proxy in front. `self_signed` makes a
certificate for the loopback names, kept in the data dir and reused while it is valid, which
the demo prints the path of: point a client at it (`CURL_CA_BUNDLE`, `SSL_CERT_FILE`,
`NODE_EXTRA_CA_CERTS`) and it verifies the server as it would any other.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALID_DAYS = 365
NAMES = ("localhost",)
ADDRESSES = ("127.0.0.1", "::1")


class TlsConfigError(Exception):
    """The certificate and key given cannot be served; the message says why, in one line."""


@dataclass(frozen=True)
class TlsFiles:
    certfile: Path
    keyfile: Path


def checked(certfile: Path | None, keyfile: Path | None) -> TlsFiles | None:
    """Both or neither, and both readable PEM files that belong together."""
    if certfile is None and keyfile is None:
        return None
    if certfile is None or keyfile is None:
        raise TlsConfigError("--certfile and --keyfile go together: give both, or neither for plain http")
    for what, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        if not path.is_file():
            raise TlsConfigError(f"{what} {path}: no such file")
    try:
        cert = x509.load_pem_x509_certificate(certfile.read_bytes())
        key = serialization.load_pem_private_key(keyfile.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise TlsConfigError(
            f"cannot read the certificate or key as PEM (an unencrypted key): {exc}"
        ) from None
    if cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise TlsConfigError(f"the key {keyfile} does not belong to the certificate {certfile}")
    return TlsFiles(certfile, keyfile)


def self_signed(directory: Path, now: dt.datetime | None = None) -> TlsFiles:
    """A self-signed certificate for localhost, 127.0.0.1 and ::1 in `directory` (cert.pem,
    key.pem), made when missing or within a day of expiring."""
    now = now or dt.datetime.now(dt.UTC)
    files = TlsFiles(directory / "cert.pem", directory / "key.pem")
    if files.certfile.is_file() and files.keyfile.is_file():
        try:
            cert = x509.load_pem_x509_certificate(files.certfile.read_bytes())
            if cert.not_valid_after_utc - dt.timedelta(days=1) > now:
                return files
        except ValueError:
            pass
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provisiond (self-signed, local)")])
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in NAMES]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ADDRESSES]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    files.keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    files.keyfile.chmod(0o600)
    files.certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files
