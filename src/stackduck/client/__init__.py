"""The Python client: AsyncClient and Client for producers, Worker for consumers."""

from stackduck.client.async_client import AsyncClient
from stackduck.client.errors import TlsHandshakeFailed
from stackduck.client.handlers import Handler
from stackduck.client.jobs import DeadLetterPage, JobInfo, JobStatus, NewJob, Payload
from stackduck.client.sync_client import Client
from stackduck.client.worker import Worker

__all__ = [
    "AsyncClient",
    "Client",
    "DeadLetterPage",
    "Handler",
    "JobInfo",
    "JobStatus",
    "NewJob",
    "Payload",
    "TlsHandshakeFailed",
    "Worker",
]
