"""Redis adapters (redis-py asyncio): the hot ready queue, wake-ups through pub/sub,
and, with Redis alone, the job store. Multi-step changes are Lua scripts."""
