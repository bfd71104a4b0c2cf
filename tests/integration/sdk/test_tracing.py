"""OpenTelemetry through a real server: enqueue's PRODUCER span, the handler's CONSUMER
span as its child (the trace context travels in the job's metadata), and nothing at all
without opentelemetry."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from stackduck import AsyncClient, Client, JobInfo, JobStatus, NewJob, NoRetry, Worker
from stackduck.client.tracing import tracing
from tests.integration.conftest import Running
from tests.integration.sdk.conftest import PATIENCE, ROOT, memory_only, until_status, working


class Spans:
    """A tracer provider of the test's own (the global one can be set once a process)
    whose finished spans are kept in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.exporter.get_finished_spans() if span.name == name]

    def one(self, name: str) -> ReadableSpan:
        [span] = self.named(name)
        return span


@pytest.fixture
def spans() -> Iterator[Spans]:
    kept = Spans()
    yield kept
    kept.provider.shutdown()


def traceparent(span: ReadableSpan) -> str:
    assert span.context is not None
    context = span.context
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


async def test_the_handlers_span_is_a_child_of_the_enqueue_span(server: Running, spans: Spans) -> None:
    seen: list[tuple[JobInfo, trace.SpanContext]] = []

    def send_email(job: JobInfo) -> str:  # a sync handler: runs in a thread, the span current there too
        seen.append((job, trace.get_current_span().get_span_context()))
        return "sent"

    worker = Worker(
        server.address, handlers={"email": send_email}, worker_id="w-traced", tracer_provider=spans.provider
    ).with_options(concurrency=2)  # a copy keeps the provider, as it keeps every option
    async with AsyncClient(server.address, tracer_provider=spans.provider) as client:
        with spans.provider.get_tracer("app").start_as_current_span("web request"):
            job_id = await client.enqueue("email", {"to": "a@b.c"}, metadata={"tenant": "acme"})
        async with working(worker):
            await until_status(client, job_id, JobStatus.COMPLETED)

    outer, send, process = spans.one("web request"), spans.one("send email"), spans.one("process email")
    assert send.context is not None and process.context is not None and outer.context is not None
    assert (send.kind, process.kind) == (SpanKind.PRODUCER, SpanKind.CONSUMER)
    assert send.parent is not None and send.parent.span_id == outer.context.span_id
    # The consumer's parent is the producer: one trace through the queue.
    assert process.parent is not None and process.parent.span_id == send.context.span_id
    assert process.context.trace_id == send.context.trace_id == outer.context.trace_id
    assert [link.context.span_id for link in process.links] == [send.context.span_id]
    assert dict(send.attributes or {}) == {
        "messaging.system": "stackduck",
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.destination.name": "email",
        "messaging.message.id": job_id,
    }
    assert dict(process.attributes or {}) == {
        "messaging.system": "stackduck",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": "email",
        "messaging.message.id": job_id,
        "messaging.client.id": "w-traced",
        "stackduck.job.attempt": 1,
    }
    assert process.status.status_code is StatusCode.UNSET
    [(job, current)] = seen
    assert job.metadata["traceparent"] == traceparent(send) and job.metadata["tenant"] == "acme"
    assert current.span_id == process.context.span_id


@memory_only
async def test_a_failing_handler_records_the_exception_and_sets_an_error_status(
    server: Running, spans: Spans
) -> None:
    def broken(job: JobInfo) -> None:
        raise RuntimeError("printer on fire")

    async def declined(job: JobInfo) -> None:
        raise NoRetry("card declined")

    handlers = {"print": broken, "charge": declined}
    worker = Worker(server.address, handlers=handlers, tracer_provider=spans.provider)
    async with AsyncClient(server.address, tracer_provider=spans.provider) as client:
        ids = [await client.enqueue(job_type, retry_limit=0) for job_type in handlers]
        async with working(worker):
            for job_id in ids:
                await until_status(client, job_id, JobStatus.FAILED)

    for name, kind, words in [
        ("process print", "RuntimeError", "printer on fire"),
        ("process charge", "stackduck.client.handlers.NoRetry", "card declined"),
    ]:
        span = spans.one(name)
        assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, words)
        assert (span.attributes or {})["error.type"] == kind
        [event] = span.events
        assert event.name == "exception" and (event.attributes or {})["exception.message"] == words


@memory_only
async def test_enqueue_many_runs_in_one_send_span_that_every_job_carries(
    server: Running, spans: Spans
) -> None:
    async with AsyncClient(server.address, tracer_provider=spans.provider) as client:
        same = await client.enqueue_many([NewJob("mail"), NewJob("mail", metadata={"k": "v"})])
        mixed = await client.enqueue_many([NewJob("mail"), NewJob("sms")])
        jobs = [await client.get(job_id) for job_id in same + mixed]

    batch, either = spans.one("send mail"), spans.one("send")
    assert batch.kind is SpanKind.PRODUCER
    assert (batch.attributes or {})["messaging.batch.message_count"] == 2
    assert (batch.attributes or {})["messaging.destination.name"] == "mail"
    assert "messaging.destination.name" not in (either.attributes or {})  # two types: no one destination
    carried = [job.metadata["traceparent"] for job in jobs]
    assert carried == [traceparent(batch)] * 2 + [traceparent(either)] * 2
    assert jobs[1].metadata["k"] == "v"


@memory_only
async def test_the_sync_clients_send_span_is_a_child_of_the_callers_span(
    server: Running, spans: Spans
) -> None:
    def script() -> str:  # a thread of its own, as a web app's request handler
        tracer = spans.provider.get_tracer("app")
        with (
            Client(server.address, tracer_provider=spans.provider) as client,
            tracer.start_as_current_span("nightly"),
        ):
            return client.enqueue("report")

    job_id = await asyncio.to_thread(script)

    nightly, send = spans.one("nightly"), spans.one("send report")
    assert nightly.context is not None and send.parent is not None
    assert send.parent.span_id == nightly.context.span_id
    assert (send.attributes or {})["messaging.message.id"] == job_id


@memory_only
async def test_without_opentelemetry_the_client_and_worker_work_and_trace_nothing(
    server: Running, spans: Spans, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = threading.Event()

    def handler(job: JobInfo) -> dict[str, Any]:
        done.set()
        return dict(job.metadata)

    with spans.provider.get_tracer("app").start_as_current_span("outer"):
        monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import opentelemetry fails from here
        assert tracing(spans.provider) is None
        async with AsyncClient(server.address, tracer_provider=spans.provider) as client:
            job_id = await client.enqueue("plain", metadata={"tenant": "acme"})
            worker = Worker(server.address, handlers={"plain": handler}, tracer_provider=spans.provider)
            async with working(worker):
                job = await until_status(client, job_id, JobStatus.COMPLETED)
        monkeypatch.undo()

    assert job.result == {"tenant": "acme"}  # no trace context was added
    assert [span.name for span in spans.exporter.get_finished_spans()] == ["outer"]


GLOBAL_PROVIDER = textwrap.dedent(
    """
    import asyncio, json, sys
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    import stackduck

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    async def main():
        done = asyncio.Event()
        worker = stackduck.Worker(sys.argv[1], handlers={"nightly": lambda job: done.set()})
        async with stackduck.AsyncClient(sys.argv[1]) as client:
            await client.enqueue("nightly")
            running = asyncio.create_task(worker.run())
            await asyncio.wait_for(done.wait(), 15)
            worker.stop()
            await running
        spans = {s.name: s for s in exporter.get_finished_spans()}
        send, process = spans["send nightly"], spans["process nightly"]
        print(json.dumps({"same_trace": send.context.trace_id == process.context.trace_id,
                          "child": process.parent.span_id == send.context.span_id}))

    asyncio.run(main())
    """
)


@memory_only
async def test_the_global_tracer_provider_is_used_when_none_is_passed(server: Running) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", GLOBAL_PROVIDER, server.address, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), PATIENCE)

    assert process.returncode == 0, err.decode()
    assert json.loads(out) == {"same_trace": True, "child": True}
