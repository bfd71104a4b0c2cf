"""gRPC status codes back into the project's errors (the inverse of the server's mapping)."""

from __future__ import annotations

import grpc

from stackduck.client.channel import HOW_TO_TRUST, TLS_CA_VARIABLE, Transport
from stackduck.client.jobs import JobInfo
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


class TlsHandshakeFailed(StackduckError):
    """The client and the server do not agree on TLS: the server's certificate is not
    trusted or not for the name connected to, or one side speaks TLS and the other does
    not. The same call will fail the same way until the client's settings change."""


class JobFailed(StackduckError):
    """Raised by ``client.result(job_id)`` when the job it waits for ends dead-lettered
    (status failed: its retries spent, or failed with no retry); the message is the
    job's last error, ``job`` the job as it ended."""

    def __init__(self, job: JobInfo) -> None:
        super().__init__(job.error_message or f"job {job.id} failed")
        self.job = job

    def __reduce__(self) -> tuple[type[JobFailed], tuple[JobInfo]]:
        return type(self), (self.job,)


class JobCancelled(StackduckError):
    """Raised by ``client.result(job_id)`` when the job it waits for is cancelled
    (before it ran, or while it ran): it has no result and never will. ``job``: the
    job as it ended."""

    def __init__(self, job: JobInfo) -> None:
        super().__init__(f"job {job.id} ({job.job_type}) was cancelled")
        self.job = job

    def __reduce__(self) -> tuple[type[JobCancelled], tuple[JobInfo]]:
        return type(self), (self.job,)


def error_from(
    exc: grpc.aio.AioRpcError, job_id: str = "", transport: Transport | None = None
) -> StackduckError:
    """The project error for a failed call; other codes become a plain :class:`StackduckError`.
    ``transport``: how the call was made, to explain a failed TLS handshake."""
    code = exc.code()
    details = exc.details() or ""
    if code is grpc.StatusCode.UNAVAILABLE:
        explained = _connection_error(details, transport or Transport())
        if explained is not None:
            return explained
    kind = ERROR_OF.get(code)
    if kind is None:
        return StackduckError(f"{code.name}: {details}" if details else code.name)
    if kind is JobNotFound:
        error: StackduckError = JobNotFound(job_id)
        error.args = (details or str(error),)  # the server's words
        return error
    return kind(details or code.name)


def _connection_error(details: str, transport: Transport) -> StackduckError | None:
    """What gRPC's words for a failed connection mean, when they concern TLS (the words
    come from grpc's core; the raw ones are kept at the end)."""
    if "CERTIFICATE_VERIFY_FAILED" in details:
        trusted = f"trusting {transport.ca_source}" if transport.ca_source else "no CA given"
        return TlsHandshakeFailed(
            f"TLS handshake failed: the server's certificate is not trusted ({trusted}); "
            f"{HOW_TO_TRUST} [{details}]"
        )
    if "Hostname Verification Check failed" in details:
        return TlsHandshakeFailed(
            "TLS handshake failed: the server's certificate is not for the name connected to; "
            f"connect by a name (or IP address) it holds [{details}]"
        )
    if "WRONG_VERSION_NUMBER" in details:
        return TlsHandshakeFailed(
            "TLS handshake failed: the server does not speak TLS (it was started without "
            f"STACKDUCK_TLS_CERT); connect without TLS (no tls_ca, --tls-ca, {TLS_CA_VARIABLE} "
            f"or tls=True) [{details}]"
        )
    if "handshake failed" in details.lower():
        return TlsHandshakeFailed(f"TLS handshake failed [{details}]")
    if not transport.tls and "failed to connect" in details and "Socket closed" in details:
        return StorageUnavailable(
            f"{details} (if the server speaks TLS: {HOW_TO_TRUST}, or tls=True/--tls for a "
            "certificate from a public CA)"
        )
    return None


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
    or credentials the server refuses, nor for a TLS handshake that failed."""
    if isinstance(error, TlsHandshakeFailed):
        return False
    cause = error.__cause__
    if isinstance(cause, grpc.aio.AioRpcError):
        return cause.code() not in _FATAL_CODES
    return not isinstance(error, InvalidJob) or isinstance(error, LimitExceeded)
