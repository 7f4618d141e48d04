"""TLS of the connections we open: whom to trust, and why a handshake failed.

RFC 3261 §26.2.1 and RFC 5922 §7.3: a client verifies the certificate of the
server it connects to, and closes the connection when the server is not
authenticated.  ``client_context`` builds the ``ssl.SSLContext`` of outgoing
TLS and WSS connections (``TransportConfig.tls_client_context``): the system's
CA store plus the CA bundles given, the chain and the host name verified.  The
host name is the target's (the SNI name, RFC 5922 §7.8); an IP address target
is matched against the certificate's IP address entries and sends no SNI
(RFC 6066 §3 allows only host names there), which is what ``ssl`` does when
``server_hostname`` is an IP address.

``failure_reason`` says in one line why a handshake failed, for the
``TransportError`` ("TLS: certificate verify failed: self-signed
certificate") and the Warning of the 503 a proxy makes of it (§16.9, §20.43).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterable
from pathlib import Path

__all__ = ["CA_SUFFIXES", "client_context", "failure_reason"]

#: the files of a directory given as a CA bundle that are read (each PEM)
CA_SUFFIXES = (".pem", ".crt")

# "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)"
_SSL_TEXT_RE = re.compile(r"(?:\[[^\]]*\]\s*)?(.*?)(?:\s*\(_ssl\.c:\d+\))?")


def client_context(ca: Iterable[str | Path] = (), *, verify: bool = True) -> ssl.SSLContext:
    """The context of TLS and WSS connections we open.

    ``ca``: PEM bundles of CA certificates trusted besides the system's store;
    a directory stands for each of its ``*.pem`` and ``*.crt`` files.
    ``verify=False`` accepts any certificate for any name (no authentication
    at all: for tests and closed networks only).  Raises ``ValueError`` naming
    the file that cannot be read or holds no certificate.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    for path in ca:
        for file in _ca_files(Path(path)):
            try:
                context.load_verify_locations(cafile=str(file))
            except ssl.SSLError as exc:
                raise ValueError(f"{file}: no CA certificate in PEM form "
                                 f"({failure_reason(exc)})") from None
            except OSError as exc:
                raise ValueError(f"{file}: {exc.strerror or exc}") from None
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _ca_files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.iterdir()
                   if p.suffix.lower() in CA_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"{path}: no {' or '.join(CA_SUFFIXES)} file in this directory")
    return files


def failure_reason(error: ssl.SSLError) -> str:
    """One line saying why: ``certificate verify failed: self-signed
    certificate``, ``certificate verify failed: Hostname mismatch, certificate
    is not valid for 'example.com'.``, ``wrong version number`` ..."""
    if isinstance(error, ssl.SSLCertVerificationError) and error.verify_message:
        return f"certificate verify failed: {error.verify_message}"
    text = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], str) \
        else str(error)
    match = _SSL_TEXT_RE.fullmatch(text)
    reason = match.group(1) if match is not None else text
    return reason or str(error.reason or type(error).__name__)
