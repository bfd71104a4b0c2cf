"""The TLS options of every command that connects to a server as a client."""

from __future__ import annotations

import argparse

from stackduck.client.channel import TLS_CA_VARIABLE


def add_tls_options(parser: argparse.ArgumentParser) -> None:
    """``--tls-ca PATH`` and ``--tls``, read as ``args.tls_ca`` and ``args.tls`` (None when
    absent, so the client falls back to ``STACKDUCK_TLS_CA``)."""
    parser.add_argument(
        "--tls-ca",
        metavar="PATH",
        help=f"speak TLS, trusting the CA certificates in this PEM file (default: {TLS_CA_VARIABLE})",
    )
    parser.add_argument(
        "--tls",
        action="store_const",
        const=True,
        default=None,
        help="speak TLS, trusting the system's roots (for a certificate from a public CA)",
    )
