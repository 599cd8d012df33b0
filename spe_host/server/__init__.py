"""The socket server: ``serve`` / ``serve_unix`` / ``serve_tcp`` put a Host on the wire."""

from ._server import HANDSHAKE_TIMEOUT, Listening, serve, serve_tcp, serve_unix

__all__ = ["HANDSHAKE_TIMEOUT", "Listening", "serve", "serve_tcp", "serve_unix"]
