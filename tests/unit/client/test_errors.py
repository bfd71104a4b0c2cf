"""Status codes come back as the project errors the server mapped to them."""

from __future__ import annotations

import grpc
import pytest

from stackduck.client.errors import error_from, worth_reconnecting
from stackduck.domain.errors import (
    JobNotFound,
    NotFound,
    ShuttingDown,
    StackduckError,
    StorageUnavailable,
)
from stackduck.entrypoints.grpc.errors import STATUS_OF


def rpc_error(code: grpc.StatusCode, details: str = "what to fix") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


@pytest.mark.parametrize(("kind", "code"), STATUS_OF, ids=[kind.__name__ for kind, _ in STATUS_OF])
def test_every_code_the_server_answers_with_becomes_the_error_it_came_from(
    kind: type[StackduckError], code: grpc.StatusCode
) -> None:
    error = error_from(rpc_error(code, "the server's words"))

    # UNAVAILABLE is both "storage down" and "shutting down": both mean retry, one class.
    # NOT_FOUND reads as the job a call names; a schedule call reads it as ScheduleNotFound
    # (client/schedules.py).
    expected = {ShuttingDown: StorageUnavailable, NotFound: JobNotFound}.get(kind, kind)
    assert type(error) is expected
    assert str(error) == "the server's words"


def test_not_found_names_the_job_the_call_was_about() -> None:
    error = error_from(rpc_error(grpc.StatusCode.NOT_FOUND, "no job with id 'j9'"), job_id="j9")

    assert isinstance(error, JobNotFound)
    assert (error.job_id, str(error)) == ("j9", "no job with id 'j9'")


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.DEADLINE_EXCEEDED]
)
def test_other_codes_are_the_root_error_with_the_code_named(code: grpc.StatusCode) -> None:
    error = error_from(rpc_error(code, "oops"))

    assert type(error) is StackduckError
    assert str(error) == f"{code.name}: oops"


@pytest.mark.parametrize(
    ("code", "again"),
    [
        (grpc.StatusCode.UNAVAILABLE, True),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, True),  # too many streams from this host, for now
        (grpc.StatusCode.INTERNAL, True),
        (grpc.StatusCode.INVALID_ARGUMENT, False),
        (grpc.StatusCode.UNAUTHENTICATED, False),
        (grpc.StatusCode.PERMISSION_DENIED, False),
        (grpc.StatusCode.UNIMPLEMENTED, False),
    ],
)
def test_a_worker_reconnects_unless_its_request_or_credentials_are_refused(
    code: grpc.StatusCode, again: bool
) -> None:
    cause = rpc_error(code)
    error = error_from(cause)
    error.__cause__ = cause

    assert worth_reconnecting(error) is again
