"""The one place where project errors become gRPC status codes."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from stackduck.domain.errors import (
    IllegalTransition,
    InvalidJob,
    LimitExceeded,
    NotFound,
    ShuttingDown,
    StackduckError,
    StorageUnavailable,
)

log = logging.getLogger(__name__)

STATUS_OF: tuple[tuple[type[StackduckError], grpc.StatusCode], ...] = (
    (LimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),  # before InvalidJob, its base
    (InvalidJob, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),  # a job, a schedule
    (IllegalTransition, grpc.StatusCode.FAILED_PRECONDITION),
    (StorageUnavailable, grpc.StatusCode.UNAVAILABLE),
    (ShuttingDown, grpc.StatusCode.UNAVAILABLE),
)


def status_for(error: StackduckError) -> grpc.StatusCode:
    for kind, code in STATUS_OF:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INTERNAL


R = TypeVar("R")
Unary = Callable[[Any, Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[R]]
Streaming = Callable[[Any, Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[R]]


def unary(method: Unary[R]) -> Unary[R]:
    """Turn project errors raised by a unary handler into their status codes."""

    @functools.wraps(method)
    async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> R:
        try:
            return await method(self, request, context)
        except StackduckError as exc:
            await _abort(context, exc)
            raise  # unreachable: abort raises
        except Exception as exc:
            await _internal(context, exc)
            raise

    return handler


def streaming(method: Streaming[R]) -> Streaming[R]:
    """The same for server-streaming handlers."""

    @functools.wraps(method)
    async def handler(
        self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[R]:
        try:
            async for item in method(self, request, context):
                yield item
        except StackduckError as exc:
            await _abort(context, exc)
        except Exception as exc:
            await _internal(context, exc)

    return handler


async def _internal(context: grpc.aio.ServicerContext[Any, Any], exc: Exception) -> None:
    log.error("internal error in %s", context.peer(), exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error; the server log has the details")


async def _abort(context: grpc.aio.ServicerContext[Any, Any], exc: StackduckError) -> None:
    code = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.error("unexpected error: %s", exc, exc_info=exc)
    await context.abort(code, str(exc))
