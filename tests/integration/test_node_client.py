"""Another language, for real: the Node.js example (examples/node/, @grpc/grpc-js loading
proto/stackduck.proto at run time) works jobs a Python producer enqueued, enqueues one the
Python client reads back, and carries metadata and a result through raw gRPC. Installed
with `npm ci` into a copy of the example."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stackduck import AsyncClient, JobStatus
from tests.integration.sdk.conftest import ServerProcess
from tests.services import unavailable

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def node_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/node/ copied (beside a copy of proto/, as in the repository) with its
    locked dependencies installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("Node.js", "`node` and `npm` must be on PATH to run the Node.js example")
    assert npm is not None
    root = tmp_path_factory.mktemp("node")
    shutil.copytree(ROOT / "proto", root / "proto")
    example = root / "examples" / "node"
    shutil.copytree(ROOT / "examples" / "node", example, ignore=shutil.ignore_patterns("node_modules"))
    installed = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--no-update-notifier"],
        cwd=example,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout}\n{installed.stderr}"
    return example


def node(example: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", script, *args], cwd=example, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    served = ServerProcess(tmp_path / "server.log")
    await served.start()
    yield served
    served.kill()


async def test_a_node_worker_answers_jobs_a_python_producer_enqueued(
    node_example: Path, server: ServerProcess
) -> None:
    async with AsyncClient(server.address) as client:
        good = [await client.enqueue("node_task", {"ok": True, "n": n}, retry_limit=0) for n in range(3)]
        bad = [await client.enqueue("node_task", {"ok": False, "n": n}, retry_limit=0) for n in range(2)]
        retried = await client.enqueue("node_task", {"n": 9}, max_retries=2, delay=60)

        worked = await asyncio.to_thread(node, node_example, "worker.js", server.address, "node_task", "6")

        assert worked.returncode == 0, worked.stdout + worked.stderr
        assert worked.stdout.count("completed ") == 3 and worked.stdout.count("failed ") == 3
        for job_id in good:
            assert (await client.get(job_id)).status is JobStatus.COMPLETED
        for n, job_id in enumerate(bad):
            job = await client.get(job_id)
            assert job.status is JobStatus.FAILED  # dead-lettered: no retries asked for
            assert job.error_message == f'payload says not ok: {{"ok":false,"n":{n}}}'
        again = await client.get(retried)
        assert (again.status, again.retry_count) == (JobStatus.QUEUED, 1)
        assert again.error_message == 'payload says not ok: {"n":9}'


async def test_a_python_client_reads_a_job_a_node_producer_enqueued(
    node_example: Path, server: ServerProcess
) -> None:
    payload = '{"to": "a@b.c"}'
    args = (server.address, "from_node", payload, "0")  # "0": retry_limit
    produced = await asyncio.to_thread(node, node_example, "producer.js", *args)

    assert produced.returncode == 0, produced.stderr
    async with AsyncClient(server.address) as client:
        job = await client.get(produced.stdout.strip())
    assert (job.job_type, job.payload, job.raw_payload) == ("from_node", {"to": "a@b.c"}, payload)
    assert (job.priority, job.status) == (1, JobStatus.QUEUED)
    assert job.max_retries == 0  # retry_limit 0 arrived as a present field, not as "the default"


async def test_metadata_and_a_result_round_trip_through_raw_grpc_from_node(
    node_example: Path, server: ServerProcess
) -> None:
    metadata = {"tenant": "acme", "request_id": "r-1"}
    args = (server.address, "node_meta", '{"ok": true, "n": 7}', "", json.dumps(metadata))
    produced = await asyncio.to_thread(node, node_example, "producer.js", *args)
    assert produced.returncode == 0, produced.stderr
    job_id = produced.stdout.strip()
    before = await asyncio.to_thread(node, node_example, "get_job.js", server.address, job_id)

    worked = await asyncio.to_thread(node, node_example, "worker.js", server.address, "node_meta", "1")
    after = await asyncio.to_thread(node, node_example, "get_job.js", server.address, job_id)

    assert worked.returncode == 0 and worked.stdout.strip() == f"completed {job_id}", worked.stderr
    assert before.returncode == 0 and after.returncode == 0, before.stderr + after.stderr
    queued, done = json.loads(before.stdout), json.loads(after.stdout)
    assert (queued["status"], queued["metadata"], "result" in queued) == ("queued", metadata, False)
    assert (done["status"], done["metadata"]) == ("completed", metadata)
    assert json.loads(done["result"]) == {"done": 7, "tenant": "acme"}  # the worker read the metadata
    assert [(a["number"], a["outcome"]) for a in done["attempts"]] == [(1, "completed")]
    async with AsyncClient(server.address) as client:
        job = await client.get(job_id)
    assert (job.metadata, job.result) == (metadata, {"done": 7, "tenant": "acme"})
    assert job.max_retries == 2  # an empty RETRY_LIMIT argument: the server's default
