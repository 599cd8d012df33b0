"""Tests for spe_host.transport._tls: TLS contexts, certificate fingerprints and pinning."""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

import pytest
import trustme

from spe_host._errors import AuthenticationError, SpeError
from spe_host.transport import (
    cert_fingerprint,
    check_fingerprint,
    client_ssl_context,
    fingerprint_of_der,
    server_ssl_context,
)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def cert_files(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path, Path, bytes]:
    """(certfile, keyfile, cafile, leaf DER) for a 'localhost' certificate."""
    cert = ca.issue_cert("localhost", "127.0.0.1")
    certfile, keyfile, cafile = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem"
    cert.private_key_pem.write_to_path(str(keyfile))
    for i, blob in enumerate(cert.cert_chain_pems):
        blob.write_to_path(str(certfile), append=i > 0)
    ca.cert_pem.write_to_path(str(cafile))
    leaf_der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
    return certfile, keyfile, cafile, leaf_der


def _handshake(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    """Run a TLS handshake between two in-memory endpoints, step by step, no threads."""
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, end in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            client.write(b"ping")
            s_in.write(c_out.read())
            assert server.read(4) == b"ping"
            return client, server
    raise AssertionError("the handshake did not finish")


def test_tls_contexts_complete_a_handshake(
    cert_files: tuple[Path, Path, Path, bytes],
) -> None:
    certfile, keyfile, cafile, leaf_der = cert_files
    server_ctx = server_ssl_context(certfile, keyfile)
    client_ctx = client_ssl_context(str(cafile))
    assert server_ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert client_ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert client_ctx.verify_mode == ssl.CERT_REQUIRED
    client, _server = _handshake(server_ctx, client_ctx)
    presented = client.getpeercert(binary_form=True)
    assert presented == leaf_der
    assert fingerprint_of_der(presented) == cert_fingerprint(certfile)
    check_fingerprint(presented, cert_fingerprint(certfile).upper())


def test_client_ssl_context_without_cafile_refuses_an_unknown_ca(
    cert_files: tuple[Path, Path, Path, bytes],
) -> None:
    certfile, keyfile, _cafile, _der = cert_files
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server_ssl_context(certfile, keyfile), client_ssl_context())


def test_cert_fingerprint_of_a_trustme_cert(cert_files: tuple[Path, Path, Path, bytes]) -> None:
    certfile, _keyfile, _cafile, leaf_der = cert_files
    fingerprint = cert_fingerprint(certfile)
    assert fingerprint == hashlib.sha256(leaf_der).hexdigest()
    assert len(fingerprint) == 64
    assert fingerprint == fingerprint.lower()
    assert ":" not in fingerprint


def test_check_fingerprint_refuses_another_certificate() -> None:
    with pytest.raises(AuthenticationError, match="someone is intercepting"):
        check_fingerprint(b"other cert", fingerprint_of_der(b"cert"))
    with pytest.raises(AuthenticationError, match=r"\(none\)"):
        check_fingerprint(None, fingerprint_of_der(b"cert"))


def test_tls_helpers_explain_bad_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("nothing here\n")
    with pytest.raises(SpeError, match="cannot load the TLS certificate"):
        server_ssl_context(empty)
    with pytest.raises(SpeError, match="holds no PEM certificate"):
        cert_fingerprint(empty)
    with pytest.raises(SpeError, match="cannot read the TLS certificate"):
        cert_fingerprint(tmp_path / "missing.pem")
    with pytest.raises(SpeError, match="cannot load the CA file"):
        client_ssl_context(str(tmp_path / "missing.pem"))
