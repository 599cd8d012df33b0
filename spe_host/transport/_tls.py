"""TLS for TCP listeners and clients, and certificate pinning by fingerprint.

Theory of operation
-------------------
A TCP listener may speak TLS (1.2 or newer, :func:`server_ssl_context`). Its
certificate is often self-signed, so instead of a CA a client may *pin* it: the
listener writes the SHA-256 fingerprint of its certificate (:func:`cert_fingerprint`)
into the 0600 connection file, and the client, after the handshake, compares the
certificate it was shown with that fingerprint in constant time
(:func:`check_fingerprint`), as OpenSSH trusts a known host key. With a CA file
instead, :func:`client_ssl_context` verifies the chain and the host name as usual.

Pure standard library: the contexts are handed to trio's ``SSLStream`` and
``SSLListener`` by the server and the client, and to ``ssl`` itself by the client's
blocking path (:mod:`._sockets`), so both paths trust exactly the same certificates.
``ssl`` is imported by the functions that use it, so a client that speaks no TLS
(``spe-host ls`` over a unix socket) never loads it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from spe_host._errors import AuthenticationError, SpeError

if TYPE_CHECKING:
    import ssl

__all__ = [
    "cert_fingerprint",
    "check_fingerprint",
    "client_ssl_context",
    "fingerprint_of_der",
    "pinning_ssl_context",
    "server_ssl_context",
]

StrPath: TypeAlias = str | os.PathLike[str]

_PEM_CERT_RE = re.compile(
    r"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)


def server_ssl_context(certfile: StrPath, keyfile: StrPath | None = None) -> ssl.SSLContext:
    """Return a server-side TLS context (TLS 1.2 or newer) with the given certificate.

    Args:
        certfile: PEM file with the certificate chain (and the key, if ``keyfile`` is None).
        keyfile: PEM file with the private key.

    Raises:
        SpeError: The certificate or key cannot be loaded.
    """
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise SpeError(
            f"cannot load the TLS certificate {certfile} (key {keyfile or certfile}): {exc}; "
            "check --tls-cert and --tls-key"
        ) from None
    return context


def client_ssl_context(cafile: StrPath | None = None) -> ssl.SSLContext:
    """Return a client-side TLS context (TLS 1.2 or newer) that verifies the server.

    Args:
        cafile: PEM file of the CA(s) to trust; None trusts the system's default store.

    Raises:
        SpeError: The CA file cannot be loaded.
    """
    import ssl

    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise SpeError(f"cannot load the CA file {cafile}: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def pinning_ssl_context(cafile: StrPath | None, fingerprint: str | None) -> ssl.SSLContext:
    """Return the context a client speaks TLS with: a CA's, or one that pins a certificate.

    With a CA file, the chain and the host name are verified. Without one but with the
    fingerprint a connection file names, no CA is involved: the context accepts any
    certificate, and the caller must then :func:`check_fingerprint` the one it was shown.

    Args:
        cafile: PEM file of the CA(s) to trust, or None.
        fingerprint: The pinned certificate's fingerprint, or None.

    Raises:
        SpeError: The CA file cannot be loaded.
    """
    import ssl

    context = client_ssl_context(cafile)
    if fingerprint and cafile is None:
        # The connection file (0600, written by the host) names the certificate: trust
        # exactly that one, as OpenSSH trusts a known host key, with no CA involved.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def fingerprint_of_der(der: bytes) -> str:
    """Return the SHA-256 fingerprint of a DER certificate: lowercase hex, no colons."""
    return hashlib.sha256(der).hexdigest()


def cert_fingerprint(certfile: StrPath) -> str:
    """Return the fingerprint of the first (leaf) certificate in a PEM file.

    Raises:
        SpeError: The file cannot be read or holds no PEM certificate.
    """
    import ssl

    try:
        text = Path(certfile).read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise SpeError(f"cannot read the TLS certificate {certfile}: {exc.strerror}") from None
    found = _PEM_CERT_RE.search(text)
    if found is None:
        raise SpeError(f"{certfile} holds no PEM certificate (no BEGIN CERTIFICATE block)")
    return fingerprint_of_der(ssl.PEM_cert_to_DER_cert(found.group(0)))


def check_fingerprint(der: bytes | None, expected: str) -> None:
    """Refuse a server certificate whose fingerprint is not ``expected``.

    Args:
        der: The server's certificate (``ssl_object.getpeercert(binary_form=True)``).
        expected: The fingerprint from the connection file; colons and case are ignored.

    Raises:
        AuthenticationError: No certificate, or a different one.
    """
    want = expected.replace(":", "").lower()
    got = fingerprint_of_der(der) if der else ""
    if not hmac.compare_digest(got, want):
        raise AuthenticationError(
            f"the server's certificate has fingerprint {got or '(none)'}, but the connection "
            f"file expects {want}; the host may have a new certificate (read the connection "
            "file again), or someone is intercepting the connection"
        )
