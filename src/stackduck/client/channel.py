"""The one place a client's gRPC channel is made: TLS when asked for, plain text otherwise.

A server started with ``STACKDUCK_TLS_CERT`` / ``STACKDUCK_TLS_KEY`` speaks TLS only. A
client speaks TLS when it is given a CA to trust (``tls_ca``, else the variable
``STACKDUCK_TLS_CA``: a PEM bundle) or is told ``tls=True`` (then the system's roots are
trusted, as for a certificate from a public CA). Only the process environment is read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

TLS_CA_VARIABLE = "STACKDUCK_TLS_CA"
#: Where to name a CA, in the words of each way to connect (for error messages).
HOW_TO_TRUST = f"pass tls_ca=/--tls-ca/{TLS_CA_VARIABLE} (the PEM of the CA that issued it)"

ChannelOptions = Sequence[tuple[str, Any]]


@dataclass(frozen=True)
class Transport:
    """Plain text (``tls`` False), or TLS trusting ``ca`` (PEM bytes; None: the system's roots)."""

    tls: bool = False
    ca: bytes | None = None
    ca_source: str = ""  # where the CA came from, for messages

    def channel(self, address: str, options: ChannelOptions = ()) -> grpc.aio.Channel:
        """A new channel to ``address`` (it connects at its first call)."""
        if not self.tls:
            return grpc.aio.insecure_channel(address, options=options)
        credentials = grpc.ssl_channel_credentials(root_certificates=self.ca)
        return grpc.aio.secure_channel(address, credentials, options=options)


def transport(
    tls: bool | None = None,
    tls_ca: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Transport:
    """How to reach the server: TLS trusting the PEM file ``tls_ca``, else the file
    ``STACKDUCK_TLS_CA`` names, else (``tls=True``) the system's roots; plain text when
    none is given or ``tls=False`` (which also ignores the variable). The file is read now,
    so a wrong path is a ``ValueError`` here rather than a failed call later."""
    if tls is False:
        if tls_ca:
            raise ValueError("tls=False and a tls_ca contradict each other: drop one")
        return Transport()
    env = os.environ if environ is None else environ
    path, source = (tls_ca, "tls_ca") if tls_ca else (env.get(TLS_CA_VARIABLE), TLS_CA_VARIABLE)
    if not path:
        return Transport(tls=bool(tls), ca_source="the system's roots" if tls else "")
    try:
        with open(path, "rb") as file:
            ca = file.read()
    except OSError as exc:
        raise ValueError(f"{source}: cannot read the CA file {os.fspath(path)!r}: {exc.strerror}") from exc
    if b"-----BEGIN CERTIFICATE-----" not in ca:
        raise ValueError(f"{source}: {os.fspath(path)!r} holds no PEM certificate")
    return Transport(tls=True, ca=ca, ca_source=f"{source} {os.fspath(path)}")


def open_channel(
    address: str, *, tls: bool | None = None, tls_ca: str | None = None, options: ChannelOptions = ()
) -> grpc.aio.Channel:
    """A channel to ``address``, TLS or plain text as :func:`transport` decides."""
    return transport(tls, tls_ca).channel(address, options)
