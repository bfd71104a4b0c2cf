"""The project's one error hierarchy.

Every error a client can cause or meet derives from :class:`StackduckError`.
Adapters translate driver errors into these at their edge; the gRPC layer maps
each class to one status code in one place.
"""

from __future__ import annotations

#: How much of a value a client sent an error message quotes.
QUOTED_CHARACTERS = 40


def quoted(value: str) -> str:
    """A client's value as an error message shows it: its repr, cut to a short prefix.
    A status message travels in a trailer, and gRPC clients refuse trailers over 8 KiB:
    a long value echoed whole would turn the error into RESOURCE_EXHAUSTED."""
    if len(value) <= QUOTED_CHARACTERS:
        return repr(value)
    return f"{value[:QUOTED_CHARACTERS]!r}… ({len(value)} characters)"


class StackduckError(Exception):
    """Root of every error Stackduck raises on purpose."""


class InvalidJob(StackduckError):
    """A request carries a value outside the documented rules."""


class NotFound(StackduckError):
    """The request names something that does not exist (a job, a schedule)."""


class JobNotFound(NotFound):
    """No job has the given id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {quoted(job_id)}")
        self.job_id = job_id


class ScheduleNotFound(NotFound):
    """No schedule has the given name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no schedule named {quoted(name)}")
        self.name = name


class IllegalTransition(StackduckError):
    """The job's current state does not allow the requested change."""


class LeaseMismatch(IllegalTransition):
    """The caller does not hold the job's current lease (wrong worker or stale token)."""


class StorageUnavailable(StackduckError):
    """A storage tier did not answer; the request can be retried later.

    Its text is what a client reads: which tier, and to retry. ``detail`` is the
    driver's account of what went wrong, which may name the host and the user: for
    the server's own log only (:meth:`for_log`).
    """

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail

    def for_log(self) -> str:
        return f"{self} ({self.detail})" if self.detail else str(self)


class LimitExceeded(InvalidJob):
    """A configured limit (size, count) was hit."""


class ShuttingDown(StackduckError):
    """This server is stopping and takes no new work; another instance (or a retry later) will."""
