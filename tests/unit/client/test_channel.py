"""How a client decides between TLS and plain text, before any connection is made."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackduck import AsyncClient
from stackduck.client.channel import Transport, transport

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_bytes(PEM)
    return path


def test_plain_text_unless_a_ca_or_tls_is_asked_for(ca: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(PEM + b"\n")

    assert transport(environ={}) == Transport()
    assert transport(tls=True, environ={}) == Transport(tls=True, ca_source="the system's roots")
    assert transport(tls_ca=ca, environ={}) == Transport(True, PEM, f"tls_ca {ca}")
    from_env = transport(environ={"STACKDUCK_TLS_CA": str(ca)})
    assert from_env == Transport(True, PEM, f"STACKDUCK_TLS_CA {ca}")
    assert transport(tls_ca=other, environ={"STACKDUCK_TLS_CA": str(ca)}).ca == PEM + b"\n"  # argument wins
    assert transport(tls=False, environ={"STACKDUCK_TLS_CA": str(ca)}) == Transport()
    with pytest.raises(ValueError, match="contradict"):
        transport(tls=False, tls_ca=ca)


def test_a_ca_file_that_cannot_be_used_is_refused_when_the_client_is_made(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"tls_ca: cannot read the CA file .*missing\.pem"):
        AsyncClient("127.0.0.1:1", tls_ca=tmp_path / "missing.pem")
    with pytest.raises(ValueError, match="STACKDUCK_TLS_CA: cannot read"):
        transport(environ={"STACKDUCK_TLS_CA": str(tmp_path / "missing.pem")})
    (tmp_path / "empty.pem").write_text("")
    with pytest.raises(ValueError, match="holds no PEM certificate"):
        AsyncClient("127.0.0.1:1", tls_ca=tmp_path / "empty.pem")
