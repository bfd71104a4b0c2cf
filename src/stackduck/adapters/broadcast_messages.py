"""What server instances say to each other on the broadcast channel: JSON objects, each
at most the channel's message size.

    {"from": "<instance>", "ready": {"<job type>": <count>, ...},
     "everyone": true,                                  look at the queue again
     "stop": {"<job id>": [<lease token>, "<reason>", "<message>"], ...},
     "changed": ["<job id>", ...],                      new versions of watched jobs
     "watching": ["<job id>", ...]}                     jobs watched on the sender

``from`` and ``ready`` are in every message (``ready`` may be empty: "I am here"); the
other keys only when they say something. Versions that know only ``from``, ``ready`` and
``everyone`` ignore the rest, and keys a later version adds are ignored here: a part
this version cannot read is dropped, never the message's wake-ups.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stackduck.application.stops import Stop

log = logging.getLogger(__name__)


@dataclass(slots=True)
class News:
    """What one instance has to say (a message, or several when it does not fit one)."""

    ready: Mapping[str, int] = field(default_factory=dict)
    everyone: bool = False
    stops: Sequence[Stop] = field(default_factory=list)
    changed: Collection[str] = field(default_factory=list)
    watching: Collection[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.ready or self.everyone or self.stops or self.changed or self.watching)


@dataclass(frozen=True, slots=True)
class Heard:
    sender: str
    news: News


#: Every key a message may hold, with empty values: an upper bound of its framing.
_FRAME: dict[str, Any] = {"ready": {}, "everyone": True, "stop": {}, "changed": [], "watching": []}


def encode(sender: str, news: News, limit: int) -> list[str]:
    """``news`` as messages of at most ``limit`` bytes each (at least one: an empty news
    says "here"). A job type too long to fit a message even alone asks everyone to look
    at the queue instead."""
    empty = len(json.dumps({"from": sender, **_FRAME}))  # ASCII: bytes = characters
    messages: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    size = empty
    everyone = news.everyone

    def add(entry_size: int) -> dict[str, Any] | None:
        """The message the entry goes in (a new one when the current is full); None
        when it cannot fit even alone."""
        nonlocal current, size
        if empty + entry_size > limit:
            return None
        if size + entry_size > limit:
            messages.append(current)
            current, size = {}, empty
        size += entry_size
        return current

    for job_type, count in news.ready.items():
        # '"type": n, ' (the separator of the last entry is an overestimate, on the safe side)
        target = add(len(json.dumps(job_type)) + len(str(count)) + 4)
        if target is None:
            everyone = True
        else:
            target.setdefault("ready", {})[job_type] = count
    for stop in news.stops:
        entry = [stop.lease_token, stop.reason, stop.message]
        target = add(len(json.dumps(stop.job_id)) + len(json.dumps(entry)) + 4)
        if target is None:
            log.warning("a stop for job %.80r is too long to publish; dropped", stop.job_id)
        else:
            target.setdefault("stop", {})[stop.job_id] = entry
    for key, ids in (("changed", news.changed), ("watching", news.watching)):
        for job_id in ids:
            target = add(len(json.dumps(job_id)) + 2)
            if target is not None:  # ids are at most 64 characters: always fits
                target.setdefault(key, []).append(job_id)
    if current or not messages:
        messages.append(current)
    if everyone:
        messages[0]["everyone"] = True
    return [json.dumps({"from": sender, "ready": {}, **message}) for message in messages]


def decode(payload: str) -> Heard:
    """A message heard on the channel; ValueError (or KeyError, TypeError,
    AttributeError) when its ``from`` or ``ready`` cannot be read. An optional part
    that cannot be read is left out, with a warning."""
    message = json.loads(payload)
    sender = str(message["from"])
    ready = {str(k): int(v) for k, v in message["ready"].items()}
    news = News(ready=ready, everyone=bool(message.get("everyone")))
    try:
        news.stops = [
            Stop(str(job_id), int(token), str(reason), str(text))
            for job_id, (token, reason, text) in message.get("stop", {}).items()
        ]
    except (ValueError, TypeError, AttributeError):
        log.warning("ignored an unreadable stop from instance %.40s: %.200r", sender, message.get("stop"))
    for key in ("changed", "watching"):
        ids = message.get(key, [])
        if isinstance(ids, list) and all(isinstance(job_id, str) for job_id in ids):
            setattr(news, key, ids)
        else:
            log.warning("ignored an unreadable %s from instance %.40s: %.200r", key, sender, ids)
    return Heard(sender, news)
