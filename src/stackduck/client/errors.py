"""gRPC status codes back into the project's errors (the inverse of the server's mapping)."""

from __future__ import annotations

import grpc

from stackduck.domain.errors import (
    IllegalTransition,
    InvalidJob,
    JobNotFound,
    LimitExceeded,
    StackduckError,
    StorageUnavailable,
)

#: What each status code the server answers with means, as a project error.
#: UNAVAILABLE (storage down, or the server shutting down) is always worth a retry.
ERROR_OF: dict[grpc.StatusCode, type[StackduckError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidJob,
    grpc.StatusCode.RESOURCE_EXHAUSTED: LimitExceeded,
    grpc.StatusCode.NOT_FOUND: JobNotFound,
    grpc.StatusCode.FAILED_PRECONDITION: IllegalTransition,
    grpc.StatusCode.UNAVAILABLE: StorageUnavailable,
}


def error_from(exc: grpc.aio.AioRpcError, job_id: str = "") -> StackduckError:
    """The project error for a failed call; other codes become a plain :class:`StackduckError`."""
    code = exc.code()
    details = exc.details() or ""
    kind = ERROR_OF.get(code)
    if kind is None:
        return StackduckError(f"{code.name}: {details}" if details else code.name)
    if kind is JobNotFound:
        error: StackduckError = JobNotFound(job_id)
        error.args = (details or str(error),)  # the server's words
        return error
    return kind(details or code.name)


#: Codes a worker cannot get past by reconnecting: its request or its credentials are wrong.
_FATAL_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)


def worth_reconnecting(error: StackduckError) -> bool:
    """Whether a stream that ended with ``error`` is worth opening again (later):
    yes for UNAVAILABLE, a limit (streams per host) and the unexpected; no for a request
    or credentials the server refuses."""
    cause = error.__cause__
    if isinstance(cause, grpc.aio.AioRpcError):
        return cause.code() not in _FATAL_CODES
    return not isinstance(error, InvalidJob) or isinstance(error, LimitExceeded)
