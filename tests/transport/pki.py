"""A certificate authority of the tests, made with the openssl command.

``make_ca(directory)`` makes a CA; ``ca.issue(name, dns=..., ips=...)`` a
server certificate it signs, with those subjectAltName entries.  Only the CA
certificate is self-signed, so a client that trusts the CA (and nothing
else) authenticates the server, and one that does not fails with "unable to
get local issuer certificate".
"""

from __future__ import annotations

import secrets
import shutil
import ssl
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import Certificate

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


@dataclass(frozen=True)
class Authority:
    cert: Path
    key: Path
    directory: Path

    def issue(self, name: str, *, dns: Sequence[str] = (), ips: Sequence[str] = ()
              ) -> Certificate:
        """A server certificate for ``name`` (the file stem) with these SANs."""
        out = Certificate(self.directory / f"{name}.pem", self.directory / f"{name}.key")
        csr = self.directory / f"{name}.csr"
        ext = self.directory / f"{name}.ext"
        sans = ",".join([*(f"DNS:{d}" for d in dns), *(f"IP:{i}" for i in ips)])
        ext.write_text(f"subjectAltName={sans}\nbasicConstraints=critical,CA:FALSE\n"
                       "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                       "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        _openssl("req", "-new", *_EC, "-keyout", str(out.key), "-out", str(csr),
                 "-subj", f"/CN={dns[0] if dns else name}")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey",
                 str(self.key), "-set_serial", str(secrets.randbits(63)), "-days", "1",
                 "-extfile", str(ext), "-out", str(out.cert))
        return out


def make_ca(directory: Path) -> Authority:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not available")
    ca = Authority(directory / "ca.pem", directory / "ca.key", directory)
    _openssl("req", "-x509", *_EC, "-keyout", str(ca.key), "-out", str(ca.cert),
             "-days", "1", "-subj", "/CN=sipwire test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return ca


def server_context(certificate: Certificate, names: list[str | None] | None = None
                   ) -> ssl.SSLContext:
    """A TLS server context; the SNI name of each handshake (None: no SNI)
    is appended to ``names``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert, certificate.key)
    if names is not None:
        seen = names

        def record(_obj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            seen.append(name)

        context.sni_callback = record
    return context
