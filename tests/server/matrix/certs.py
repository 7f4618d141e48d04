"""A certificate authority made for the test run, and certificates it issues
(``openssl`` command line): one for ``sipwire serve``'s TLS listener, one per
phone that takes TLS connections."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path

    def combined(self) -> Path:
        """Certificate and key in one PEM file (baresip's ``sip_certificate``)."""
        path = self.cert.with_suffix(".both.pem")
        if not path.exists():
            path.write_bytes(self.cert.read_bytes() + self.key.read_bytes())
        return path


@dataclass(frozen=True)
class Authority:
    """A CA: ``cert`` is what peers trust."""

    directory: Path
    cert: Path
    key: Path

    @classmethod
    def create(cls, directory: Path) -> Authority:
        if shutil.which("openssl") is None:
            raise FileNotFoundError("the openssl command is needed to make certificates")
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / "ca.pem", directory / "ca.key"
        _openssl("req", "-x509", *_EC, "-keyout", str(key), "-out", str(cert), "-days", "1",
                 "-subj", "/CN=sipwire test CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return cls(directory, cert, key)

    def issue(self, name: str) -> Issued:
        """A certificate for 127.0.0.1, ::1 and localhost, for servers and clients."""
        key = self.directory / f"{name}.key"
        request = self.directory / f"{name}.csr"
        cert = self.directory / f"{name}.pem"
        extensions = self.directory / f"{name}.ext"
        extensions.write_text("subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n"
                              "basicConstraints=CA:FALSE\n"
                              "extendedKeyUsage=serverAuth,clientAuth\n")
        _openssl("req", *_EC, "-keyout", str(key), "-out", str(request),
                 "-subj", "/CN=127.0.0.1")
        _openssl("x509", "-req", "-in", str(request), "-CA", str(self.cert),
                 "-CAkey", str(self.key), "-CAcreateserial", "-days", "1",
                 "-out", str(cert), "-extfile", str(extensions))
        return Issued(cert, key)


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)
