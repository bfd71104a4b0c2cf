"""The README's Python quickstart, run as written (only the address differs)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

from stackduck import AsyncClient
from tests.integration.sdk.conftest import PATIENCE, ROOT, ServerProcess, WorkerProcess


def quickstart() -> list[str]:
    """The Python blocks of the README's "Python client and worker" section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Python client and worker\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_worker_quickstart_is_under_fifteen_lines() -> None:
    worker, producer = quickstart()

    assert len(worker.splitlines()) < 15
    assert "stackduck.Worker" in worker and "stackduck.Client" in producer


async def test_the_quickstart_worker_and_producer_work_as_written(
    server_process: ServerProcess, run_worker: type[WorkerProcess], tmp_path: Path
) -> None:
    worker_code, producer_code = quickstart()
    (tmp_path / "jobs.py").write_text(worker_code)
    await server_process.start()

    produce = producer_code.replace("127.0.0.1:50051", server_process.address)
    produced = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", produce], capture_output=True, text=True, timeout=PATIENCE
    )
    assert produced.returncode == 0, produced.stderr
    assert produced.stdout.strip() == "queued"

    worker = run_worker("jobs:worker", "--address", server_process.address, cwd=tmp_path)
    await worker.logged("(email_send) completed")
    code, log = await worker.stop()

    assert code == 0, log
    assert worker.stdout == "sending to user@example.com\n"
    assert "concurrency 4" in log
    async with AsyncClient(server_process.address) as client:
        [job] = (await client.list_jobs("email_send")).jobs
    assert (job.timeout, job.result) == (30.0, {"sent": 1})  # what the handler returned
