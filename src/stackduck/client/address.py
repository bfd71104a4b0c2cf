"""Where the server is: an argument, else the server's own environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50051
#: A server told to listen on every interface is reached on the loopback.
_ANY_HOST = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": DEFAULT_HOST}


def server_address(address: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """``address`` if given, else ``SERVER_ADDR`` (``host:port`` or a bare port), else
    ``GRPC_PORT`` on 127.0.0.1, else ``127.0.0.1:50051``: the address the server
    listens on with the same environment. Only the process environment is read
    (not a ``.env`` file)."""
    if address:
        return _connectable(address)
    env = os.environ if environ is None else environ
    configured = env.get("SERVER_ADDR") or env.get("STACKDUCK_SERVER_ADDR")
    if configured:
        return _connectable(configured)
    port = env.get("GRPC_PORT")
    return f"{DEFAULT_HOST}:{port or DEFAULT_PORT}"


def auth_token(token: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """``token`` if given, else the server's ``STACKDUCK_AUTH_TOKEN``, else the contents
    of the file ``STACKDUCK_AUTH_TOKEN_FILE`` names; None (send none) when all are empty."""
    if token:
        return token
    env = os.environ if environ is None else environ
    if env.get("STACKDUCK_AUTH_TOKEN"):
        return env["STACKDUCK_AUTH_TOKEN"]
    path = env.get("STACKDUCK_AUTH_TOKEN_FILE")
    if path:
        with open(path, encoding="utf-8") as file:
            return file.read().strip() or None
    return None


def _connectable(address: str) -> str:
    if ":" not in address:  # a bare port, as the server reads it
        return f"{DEFAULT_HOST}:{address}"
    host, port = address.rsplit(":", 1)
    return f"{_ANY_HOST.get(host, host)}:{port}"
