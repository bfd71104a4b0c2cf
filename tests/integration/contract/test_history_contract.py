"""The charts' minutes, on every storage configuration: what instances add is summed, a
minute's queue sample is the latest written, and a day's worth is kept."""

from __future__ import annotations

from typing import Any

import pytest

from stackduck.application.history import KEEP_SECONDS, MINUTE, RUN_BOUNDS, HistoryStore, MinuteCounts
from stackduck.container import provide
from tests.integration.contract.conftest import NOW, Ports, PortsFactory

FIRST = int(NOW) // MINUTE * MINUTE


def counts(minute: int, job_type: str, **fields: object) -> MinuteCounts:
    made = MinuteCounts(minute, job_type)
    for name, value in fields.items():
        setattr(made, name, value)
    return made


def runs(**at: int) -> list[int]:
    """Run-time buckets with counts at the given indexes (``b3=2``: two runs in bucket 3)."""
    made = [0] * (len(RUN_BOUNDS) + 1)
    for name, n in at.items():
        made[int(name[1:])] = n
    return made


async def history(ports: Ports) -> HistoryStore:
    store: HistoryStore = await provide(ports.container.history_store)
    return store


async def test_counts_from_several_writers_add_up_and_the_latest_sample_stands(
    make_ports: PortsFactory,
) -> None:
    first = await make_ports()
    one = await history(first)
    # A second instance on the same storage (memory: the same process's store again).
    other = one if first.container.config.storage() == "memory" else await history(await make_ports())

    await one.add([
        counts(FIRST, "mail", enqueued=3, completed=2, runs=runs(b2=1, b5=1), depth=7, oldest_wait=1.5),
        counts(FIRST, "pdf", enqueued=1),
    ])  # fmt: skip
    await other.add([counts(FIRST, "mail", enqueued=2, retried=1, dead=1, runs=runs(b5=2, b18=1))])
    await other.add([counts(FIRST, "mail", depth=4, oldest_wait=None)])

    assert await one.read(FIRST, FIRST, None) == [
        counts(FIRST, "mail", enqueued=5, completed=2, retried=1, dead=1, runs=runs(b2=1, b5=3, b18=1),
               depth=4, oldest_wait=None),
        counts(FIRST, "pdf", enqueued=1),
    ]  # fmt: skip


async def test_reads_take_the_minutes_and_the_type_asked_for(ports: Ports) -> None:
    store = await history(ports)
    minutes = [FIRST + i * MINUTE for i in range(4)]
    await store.add([counts(m, kind, enqueued=i + 1) for i, m in enumerate(minutes) for kind in ("a", "b")])

    found = await store.read(minutes[1], minutes[2], "b")

    assert [(c.minute, c.job_type, c.enqueued) for c in found] == [(minutes[1], "b", 2), (minutes[2], "b", 3)]
    everything = await store.read(minutes[0], minutes[3], None)
    assert [(c.minute, c.job_type) for c in everything] == [(m, kind) for m in minutes for kind in ("a", "b")]


async def test_a_day_of_minutes_is_kept_and_older_ones_go(ports: Ports) -> None:
    store = await history(ports)
    await store.add([counts(FIRST, "old", enqueued=1), counts(FIRST + KEEP_SECONDS, "new", enqueued=1)])

    await store.prune(FIRST + MINUTE)

    kept = await store.read(FIRST, FIRST + KEEP_SECONDS, None)
    if ports.container.config.storage() == "redis":
        # Redis alone lets each minute expire by itself, a day (and a minute) after it is written.
        assert [c.job_type for c in kept] == ["old", "new"]
        redis_store: Any = ports.store  # the backend's own client and keys
        ttl = await redis_store._client.ttl(redis_store._keys.minute(FIRST))
        assert KEEP_SECONDS < ttl <= KEEP_SECONDS + MINUTE
    else:
        assert [c.job_type for c in kept] == ["new"]


@pytest.mark.parametrize("job_type", ["a:b", "tenant/{42}", "ünï"])
async def test_any_job_type_reads_back_as_written(ports: Ports, job_type: str) -> None:
    store = await history(ports)
    await store.add([counts(FIRST, job_type, completed=2, runs=runs(b0=2), depth=0, oldest_wait=0.25)])

    assert await store.read(FIRST, FIRST, job_type) == [
        counts(FIRST, job_type, completed=2, runs=runs(b0=2), depth=0, oldest_wait=0.25)
    ]
