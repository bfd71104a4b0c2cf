"""The Python client: AsyncClient and Client for producers, Worker for consumers."""

from stackduck.client.async_client import AsyncClient
from stackduck.client.errors import JobCancelled, JobFailed, TlsHandshakeFailed
from stackduck.client.handlers import Handler, NoRetry, RetryIn, RunningJob
from stackduck.client.jobs import (
    AttemptInfo,
    DeadLetterPage,
    JobEvent,
    JobInfo,
    JobStatus,
    JobStop,
    NewJob,
    Payload,
)
from stackduck.client.limits import LimitInfo
from stackduck.client.schedules import ScheduleInfo
from stackduck.client.sync_client import Client
from stackduck.client.worker import Worker

__all__ = [
    "AsyncClient",
    "AttemptInfo",
    "Client",
    "DeadLetterPage",
    "Handler",
    "JobCancelled",
    "JobEvent",
    "JobFailed",
    "JobInfo",
    "JobStatus",
    "JobStop",
    "LimitInfo",
    "NewJob",
    "NoRetry",
    "Payload",
    "RetryIn",
    "RunningJob",
    "ScheduleInfo",
    "TlsHandshakeFailed",
    "Worker",
]
