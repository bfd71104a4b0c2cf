"""A request that cannot be decoded (corrupt bytes, a string field that is not UTF-8)
is the client's mistake: INVALID_ARGUMENT, "request could not be decoded: …".

grpc would answer UNKNOWN with the decoder's text and log a traceback, since the
decoder's error escapes before any handler runs. Here each service is registered
through :class:`Guarded`, which gives every unary-request method a decoder that
returns :class:`Undecodable` instead of raising, and a handler that answers it.
Methods that read a stream of requests (reflection) are left as they are: their
decoder runs inside the handler's own loop.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"

PREFIX = "request could not be decoded: "


@dataclass(frozen=True, slots=True)
class Undecodable:
    """What the decoder made of bytes it could not read, and why."""

    reason: str


class Guarded:
    """Stands in for the server while a generated ``add_…_to_server`` registers a
    service: every handler it registers is guarded (:func:`guard`), then registered on
    the server."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers([_GuardedGeneric(h) for h in handlers])

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Handler]) -> None:
        self._server.add_registered_method_handlers(
            service, {name: guard(handler) for name, handler in handlers.items()}
        )


class _GuardedGeneric(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler) -> None:
        self._inner = inner
        self._guarded: dict[str, Handler | None] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        method = handler_call_details.method
        if method not in self._guarded:
            found = self._inner.service(handler_call_details)
            self._guarded[method] = None if found is None else guard(found)
        return self._guarded[method]


def guard(handler: Handler) -> Handler:
    """The same method, answering a request it cannot decode with INVALID_ARGUMENT."""
    decode = handler.request_deserializer
    if handler.request_streaming or decode is None:
        return handler
    codec = {"request_deserializer": _decoder(decode), "response_serializer": handler.response_serializer}
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_unary(handler.unary_unary), **codec)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_streaming(handler.unary_stream), **codec)
    return handler


def _decoder(decode: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def decoder(data: bytes) -> Any:
        try:
            return decode(data)
        except Exception as exc:  # protobuf's DecodeError, or whatever a decoder raises
            return Undecodable(str(exc))

    return decoder


async def _refuse(request: Undecodable, context: Context) -> None:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, PREFIX + request.reason)


def _unary(behavior: Callable[..., Any]) -> Callable[..., Any]:
    async def unary(request: Any, context: Context) -> Any:
        if type(request) is Undecodable:
            await _refuse(request, context)
        return await behavior(request, context)

    return unary


def _streaming(behavior: Callable[..., Any]) -> Callable[..., Any]:
    if not inspect.isasyncgenfunction(behavior):  # writes with context.write (health's Watch)
        return _unary(behavior)

    async def streaming(request: Any, context: Context) -> AsyncIterator[Any]:
        if type(request) is Undecodable:
            await _refuse(request, context)
        async with aclosing(behavior(request, context)) as replies:
            async for reply in replies:
                yield reply

    return streaming
