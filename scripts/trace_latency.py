"""Where a job's trip goes: `stackduck bench`, with the storage calls on the latency
path timed in process.

    .venv/bin/python scripts/trace_latency.py --configs redis+postgres --jobs 100 \
        --seed-jobs 50 --latency-seconds 5 --streams 0

takes the bench's arguments, runs it, and prints (on stderr) the p50, p99 and mean of each
timed call. With the bench's defaults shrunk as above, the latency scenario (one job
every 5 ms) is nearly all the calls. Development tool: it wraps adapter methods, so it
times what this process sees, including waiting for its own event loop.
"""

from __future__ import annotations

import functools
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from stackduck.adapters.broadcast import BroadcastNotifier
from stackduck.adapters.postgres.claimer import PostgresClaimer
from stackduck.adapters.postgres.store import PostgresJobStore
from stackduck.adapters.redis.claimer import RedisClaimer
from stackduck.adapters.redis.queue import RedisReadyQueue
from stackduck.adapters.redis.store import RedisJobStore
from stackduck.application.producer import Producer
from stackduck.application.queue_claimer import QueueClaimer
from stackduck.entrypoints.cli.main import main

TIMED: dict[type, tuple[str, ...]] = {
    PostgresJobStore: ("insert", "start", "complete"),
    RedisJobStore: ("insert", "complete"),
    RedisReadyQueue: ("push", "pop"),
    PostgresClaimer: ("claim",),
    RedisClaimer: ("claim",),
    QueueClaimer: ("claim",),
    BroadcastNotifier: ("notify",),
    Producer: ("_write",),
}
samples: dict[str, list[float]] = defaultdict(list)


def timed(name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        finally:
            samples[name].append(time.perf_counter() - started)

    return wrapper


def report() -> None:
    for name, values in sorted(samples.items()):
        values.sort()
        p50, p99 = values[len(values) // 2], values[int(len(values) * 0.99)]
        mean = sum(values) / len(values)
        line = (
            f"{name:32} n={len(values):6,}  p50 {p50 * 1e3:6.3f} ms  p99 {p99 * 1e3:7.3f} ms  "
            f"mean {mean * 1e3:6.3f} ms"
        )
        print(line, file=sys.stderr)


if __name__ == "__main__":  # the bench's load processes import this module again: only time here
    for cls, names in TIMED.items():
        for method_name in names:
            setattr(cls, method_name, timed(f"{cls.__name__}.{method_name}", getattr(cls, method_name)))
    try:
        code = main(["bench", *sys.argv[1:]])
    finally:
        report()
    sys.exit(code)
