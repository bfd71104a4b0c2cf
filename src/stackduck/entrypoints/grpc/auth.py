"""Bearer-token authentication for every RPC but the health check."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

#: Open without a token, so load balancers and orchestrators can probe.
OPEN_METHODS = frozenset({"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"})
MESSAGE = "this server needs `authorization: Bearer <token>` metadata (the STACKDUCK_AUTH_TOKEN it was given)"

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


def bearer_matches(header: str | bytes | None, token: str) -> bool:
    """Constant-time comparison of an Authorization header with ``Bearer <token>``."""
    if header is None:
        return False
    given = header.encode() if isinstance(header, str) else header
    return hmac.compare_digest(given, f"Bearer {token}".encode())


async def _deny_unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, MESSAGE)


async def _deny_stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, MESSAGE)
    yield  # pragma: no cover - abort raises


class TokenAuth(grpc.aio.ServerInterceptor):
    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None or details.method in OPEN_METHODS:
            return handler
        header = dict(details.invocation_metadata or ()).get("authorization")
        if bearer_matches(header, self._token):
            return handler
        return _denied(handler)


def _denied(handler: Handler) -> Handler:
    codec = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(_deny_unary, **codec)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(_deny_stream, **codec)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(_deny_unary, **codec)
    return grpc.stream_stream_rpc_method_handler(_deny_stream, **codec)
