"""`stackduck export` from a SQLite data directory and `stackduck import` into PostgreSQL:
every job as it was (states, attempts, results, keys), the schedules, limits and paused
types too — the real commands, as processes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from stackduck.application.ids import JobIds
from stackduck.application.ports import Change, JobQuery
from stackduck.container import Container, build_container, close_resources, provide
from stackduck.domain.job import Job
from stackduck.domain.limits import Limit
from stackduck.domain.retry import RetryPolicy
from stackduck.domain.rules import JobRequest, validate
from stackduck.domain.schedule import Rule, Schedule
from stackduck.settings import Settings
from tests.integration.conftest import Served

NOW = 1_800_000_000.0


def job(job_type: str, **request: object) -> Job:
    spec = validate(JobRequest(job_type, '{"n": 1}', **request), NOW, 1 << 20)  # type: ignore[arg-type]
    return Job.new(JobIds().new(NOW), spec, NOW)


async def filled(container: Container) -> dict[str, Job]:
    """Jobs in every state a store keeps, with a schedule, a limit and a paused type."""
    store = await provide(container.store)
    made = {
        "queued": job("mail", metadata={"tenant": "acme"}), "later": job("mail", scheduled_in=3600),
        "keyed": job("mail", idempotency_key="order-7"), "running": job("pdf", group="g1"),
        "done": job("pdf"), "dead": job("pdf", max_retries=1),
    }  # fmt: skip
    assert await store.insert(list(made.values()), 3600) == [j.id for j in made.values()]
    for name, moves in {
        "running": [lambda j: j.start("w", NOW, 600)],
        "done": [lambda j: j.start("w", NOW, 600), lambda j: j.complete("w", None, NOW + 1, '{"ok": true}')],
        "dead": [
            lambda j: j.start("w", NOW, 600),
            lambda j: j.fail("w", None, NOW + 1, "boom", RetryPolicy()),
            lambda j: j.start("w2", NOW + 60, 600),
            lambda j: j.fail("w2", None, NOW + 61, "again", RetryPolicy()),
        ],
    }.items():  # fmt: skip
        for move in moves:
            before = made[name].copy()
            move(made[name])
            assert await store.apply([Change(made[name], before.version)]) == [True]
    schedule = Schedule.new(
        "nightly", validate(JobRequest("report", "{}"), NOW, 1 << 20), Rule(cron="0 3 * * *"), True, NOW
    )
    assert await (await provide(container.schedule_store)).put(schedule, None)
    await (await provide(container.limit_store)).put(Limit.of("pdf", concurrency=2, rate=5), NOW)
    await (await provide(container.paused_types_store)).set_paused("report", True)
    return made


async def test_a_sqlite_data_directory_moves_into_postgresql(
    serve: Callable[..., Served], tmp_path: Path, postgres: str
) -> None:
    data = {"STACKDUCK_STORAGE": "sqlite", "STACKDUCK_DATA_DIR": str(tmp_path / "data")}
    source = build_container(Settings(**data))
    made = await filled(source)
    await close_resources(source)  # the server stopped
    exported = tmp_path / "jobs.jsonl"

    out = serve("export", "-o", str(exported), **data)
    assert await out.exit_code() == 0, out.log()
    assert "exported 6 job(s), 1 schedule(s), 1 limit(s), 1 paused type(s) from sqlite storage" in out.log()
    kinds = [json.loads(line)["kind"] for line in exported.read_text().splitlines()]
    assert kinds == ["job"] * 6 + ["schedule", "limit", "paused"]
    into = serve("import", str(exported), DATABASE_URL=postgres)
    assert await into.exit_code() == 0, into.log()
    assert "imported 6 job(s) (0 skipped" in into.log()

    target = build_container(Settings(DATABASE_URL=postgres))
    try:
        store = await provide(target.store)
        assert await store.get([j.id for j in made.values()]) == {j.id: j for j in made.values()}
        assert (await store.count_jobs(JobQuery())) == 6
        [schedule] = await (await provide(target.schedule_store)).read_all()
        assert (schedule.name, schedule.rule.cron, schedule.job_type) == ("nightly", "0 3 * * *", "report")
        [limit] = await (await provide(target.limit_store)).limits()
        assert (limit.job_type, limit.concurrency, limit.rate) == ("pdf", 2, 5)
        assert await (await provide(target.paused_types_store)).paused() == frozenset({"report"})
        # The key moved with its job: the same key enqueued again names the imported job.
        again = job("mail", idempotency_key="order-7")
        assert await store.insert([again], 3600) == [made["keyed"].id]
    finally:
        await close_resources(target)


async def test_an_import_of_a_file_export_did_not_write_says_which_line(
    serve: Callable[..., Served], tmp_path: Path, postgres: str
) -> None:
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"kind": "job", "id": "x"}\nnot json\n')

    into = serve("import", str(wrong), DATABASE_URL=postgres)

    assert await into.exit_code() == 1
    assert "cannot import" in into.log()
