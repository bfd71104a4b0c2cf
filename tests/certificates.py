"""Test certificates made with the ``openssl`` command: a CA of the test's own and a
server certificate it issued (for ``localhost`` and ``127.0.0.1`` unless told otherwise)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the CA's certificate: what a client trusts
    cert: Path  # the server's certificate, issued by the CA
    key: Path  # the server's private key


def issue(folder: Path, names: str = "DNS:localhost,IP:127.0.0.1") -> Certificates:
    """A fresh CA in ``folder`` and a server certificate it signed for ``names`` (a
    subjectAltName value), valid one day."""
    made = Certificates(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    ca_key, request = folder / "ca-key.pem", folder / "server.csr"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Stackduck test CA",
        "-keyout", ca_key, "-out", made.ca,
    )  # fmt: skip
    _openssl(
        "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", made.key, "-out", request,
    )  # fmt: skip
    extensions = folder / "server.ext"
    extensions.write_text(f"subjectAltName={names}\n")
    _openssl(
        "x509", "-req", "-in", request, "-CA", made.ca, "-CAkey", ca_key, "-CAcreateserial",
        "-days", "1", "-extfile", extensions, "-out", made.cert,
    )  # fmt: skip
    return made


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)
