"""The HTTP server, in the same event loop as the gRPC server."""

from __future__ import annotations

import ssl
from pathlib import Path

from aiohttp import web


class HttpServer:
    def __init__(
        self,
        app: web.Application,
        address: str,
        tls_cert: Path | None,
        tls_key: Path | None,
        shared_port: bool = False,
    ) -> None:
        self.app = app
        self._shared_port = shared_port  # one of several server processes on this port
        self._host, _, port = address.rpartition(":")
        self._port = int(port)
        self._ssl: ssl.SSLContext | None = None
        if tls_cert is not None and tls_key is not None:
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ssl.load_cert_chain(tls_cert, tls_key)
        self._runner = web.AppRunner(app, access_log=None)
        self.port = 0

    @property
    def address(self) -> str:
        return f"{self._host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self._ssl else 'http'}://{self.address}"

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self._host, self._port, ssl_context=self._ssl, reuse_port=self._shared_port or None
        )
        await site.start()
        server = site._server  # the bound port, when 0 was asked for
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port

    async def stop(self) -> None:
        await self._runner.cleanup()
