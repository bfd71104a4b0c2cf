"""OpenTelemetry spans for producers and workers, when ``opentelemetry-api`` is installed
(the ``stackduck[otel]`` extra).

* Enqueueing runs in a PRODUCER span ``send {job_type}`` (one span per ``EnqueueJob`` or
  ``EnqueueJobs`` call), and that span's W3C trace context (``traceparent``,
  ``tracestate``, and ``baggage`` when there is some) is written into each job's
  metadata with the configured propagator.
* The worker runs each handler in a CONSUMER span ``process {job_type}`` whose parent is
  the context read back from the job's metadata, so producer and handler share one
  trace; the span also links to that context, as the messaging conventions ask of
  processing spans.

Attributes follow OpenTelemetry's messaging semantic conventions. Without the package,
:func:`tracing` returns None and the client and worker skip all of this.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from stackduck.client.jobs import JobInfo
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb

if TYPE_CHECKING:
    from opentelemetry.trace import Span, TracerProvider

#: ``messaging.system``: no well-known value applies, so the product's name.
SYSTEM = "stackduck"
#: The tracer's name (the instrumentation scope).
SCOPE = "stackduck"


def tracing(tracer_provider: TracerProvider | None = None) -> Tracing | None:
    """Spans from ``tracer_provider`` (default: the global one, as set with
    ``opentelemetry.trace.set_tracer_provider``), or None when ``opentelemetry-api``
    is not installed."""
    try:
        return Tracing(tracer_provider)
    except ImportError:
        return None


class Tracing:
    def __init__(self, tracer_provider: TracerProvider | None) -> None:
        from opentelemetry import propagate, trace

        from stackduck import __version__

        self._trace = trace
        self._propagate = propagate
        self._tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)

    @contextmanager
    def send(self, requests: Sequence[pb.EnqueueJobRequest], *, batch: bool = False) -> Iterator[Span]:
        """A PRODUCER span around one enqueue call, current while it runs; its trace
        context goes into every request's metadata (replacing trace keys given there).
        Name its job with :func:`sent` once the server has answered."""
        types = {request.job_type for request in requests}
        job_type = next(iter(types)) if len(types) == 1 else None
        attributes: dict[str, Any] = {
            "messaging.system": SYSTEM,
            "messaging.operation.name": "send",
            "messaging.operation.type": "send",
        }
        if job_type is not None:
            attributes["messaging.destination.name"] = job_type
        if batch:
            attributes["messaging.batch.message_count"] = len(requests)
        name = "send" if job_type is None else f"send {job_type}"
        with self._tracer.start_as_current_span(
            name,
            kind=self._trace.SpanKind.PRODUCER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            carrier: dict[str, str] = {}
            self._propagate.inject(carrier)
            for request in requests:
                request.metadata.update(carrier)
            try:
                yield span
            except BaseException as exc:
                self._failed(span, exc)
                raise

    @contextmanager
    def process(self, job: JobInfo, worker_id: str) -> Iterator[Span]:
        """A CONSUMER span around one handler call, current while it runs (in the
        handler's thread too), child of the trace context in the job's metadata and
        linked to it. An exception that leaves it is recorded and sets an error status."""
        parent = self._propagate.extract(job.metadata)
        creation = self._trace.get_current_span(parent).get_span_context()
        links = [self._trace.Link(creation)] if creation.is_valid else None
        attributes: dict[str, Any] = {
            "messaging.system": SYSTEM,
            "messaging.operation.name": "process",
            "messaging.operation.type": "process",
            "messaging.destination.name": job.job_type,
            "messaging.message.id": job.id,
            "messaging.client.id": worker_id,
            "stackduck.job.attempt": job.lease_token,
        }
        with self._tracer.start_as_current_span(
            f"process {job.job_type}",
            context=parent,
            kind=self._trace.SpanKind.CONSUMER,
            attributes=attributes,
            links=links,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as exc:
                self._failed(span, exc)
                raise

    def _failed(self, span: Span, exc: BaseException) -> None:
        kind = type(exc)
        module = "" if kind.__module__ == "builtins" else f"{kind.__module__}."
        name = f"{module}{kind.__qualname__}"
        span.record_exception(exc)
        span.set_attribute("error.type", name)
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, str(exc) or name))


def sent(span: Span, job_id: str) -> None:
    """The job the span's call stored."""
    span.set_attribute("messaging.message.id", job_id)
