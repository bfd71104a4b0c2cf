"""Stackduck: a language-agnostic job-queue server with a gRPC API.

The client is importable from here (``stackduck.Client``, ``stackduck.AsyncClient``,
``stackduck.Worker``, ``stackduck.JobInfo``, ``stackduck.JobEvent``,
``stackduck.ScheduleInfo``, ``stackduck.LimitInfo``, the errors, and
``stackduck.NoRetry`` / ``stackduck.RetryIn`` for handlers to raise), loaded on first use,
so that ``import stackduck`` itself does no work and imports nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Name → the module that defines it, imported on first access.
_EXPORTS = {
    **dict.fromkeys(
        [
            "AsyncClient",
            "AttemptInfo",
            "Client",
            "DeadLetterPage",
            "JobCancelled",
            "JobEvent",
            "JobFailed",
            "JobInfo",
            "JobStatus",
            "JobStop",
            "LimitInfo",
            "NewJob",
            "NoRetry",
            "RetryIn",
            "RunningJob",
            "ScheduleInfo",
            "TlsHandshakeFailed",
            "Worker",
        ],
        "stackduck.client",
    ),
    **dict.fromkeys(
        [
            "StackduckError",
            "InvalidJob",
            "JobNotFound",
            "IllegalTransition",
            "LeaseMismatch",
            "LimitExceeded",
            "ScheduleNotFound",
            "StorageUnavailable",
            "ShuttingDown",
        ],
        "stackduck.domain.errors",
    ),
}

__all__ = [
    "AsyncClient",
    "AttemptInfo",
    "Client",
    "DeadLetterPage",
    "IllegalTransition",
    "InvalidJob",
    "JobCancelled",
    "JobEvent",
    "JobFailed",
    "JobInfo",
    "JobNotFound",
    "JobStatus",
    "JobStop",
    "LeaseMismatch",
    "LimitExceeded",
    "LimitInfo",
    "NewJob",
    "NoRetry",
    "RetryIn",
    "RunningJob",
    "ScheduleInfo",
    "ScheduleNotFound",
    "ShuttingDown",
    "StackduckError",
    "StorageUnavailable",
    "TlsHandshakeFailed",
    "Worker",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stackduck' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # for type checkers only: what __getattr__ hands out
    from stackduck.client import (
        AsyncClient,
        AttemptInfo,
        Client,
        DeadLetterPage,
        JobCancelled,
        JobEvent,
        JobFailed,
        JobInfo,
        JobStatus,
        JobStop,
        LimitInfo,
        NewJob,
        NoRetry,
        RetryIn,
        RunningJob,
        ScheduleInfo,
        TlsHandshakeFailed,
        Worker,
    )
    from stackduck.domain.errors import (
        IllegalTransition,
        InvalidJob,
        JobNotFound,
        LeaseMismatch,
        LimitExceeded,
        ScheduleNotFound,
        ShuttingDown,
        StackduckError,
        StorageUnavailable,
    )
