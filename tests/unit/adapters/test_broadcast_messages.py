"""The broadcast channel's messages: what goes in them, within the channel's size, and
what an instance reads back, from this version, an older one or a later one."""

from __future__ import annotations

import json

from stackduck.adapters.broadcast_messages import News, decode, encode
from stackduck.application.stops import Stop

STOP = Stop("0199aaaa-7d1e-7000-8000-000000000001", 3, "timed_out", "timed out after 30 s")


def test_news_goes_round_trip() -> None:
    news = News(ready={"email": 2}, everyone=True, stops=[STOP], changed=["a", "b"], watching=["c"])

    [message] = encode("me", news, 7999)
    heard = decode(message)

    assert heard.sender == "me"
    assert heard.news == news


def test_an_empty_news_says_here_as_earlier_versions_did() -> None:
    [message] = encode("me", News(), 7999)

    assert json.loads(message) == {"from": "me", "ready": {}}


def test_every_message_carries_from_and_ready_for_earlier_versions() -> None:
    """Earlier versions read ``ready`` of every message: a message of stops alone has it."""
    [message] = encode("me", News(stops=[STOP]), 7999)

    assert json.loads(message) == {
        "from": "me",
        "ready": {},
        "stop": {STOP.job_id: [3, "timed_out", "timed out after 30 s"]},
    }


def test_many_ids_and_stops_are_split_into_messages_the_channel_carries() -> None:
    ids = [f"0199aaaa-7d1e-7000-8000-{n:012d}" for n in range(1000)]
    stops = [Stop(job_id, 1, "cancelled", "cancelled while running") for job_id in ids[:300]]
    news = News(ready={f"type-{n}": n for n in range(200)}, stops=stops, changed=ids, watching=ids)

    messages = encode("me", news, 7999)

    assert max(len(message.encode()) for message in messages) <= 7999
    heard = [decode(message).news for message in messages]
    assert {k: v for n in heard for k, v in n.ready.items()} == news.ready
    assert [s for n in heard for s in n.stops] == stops
    assert [i for n in heard for i in n.changed] == ids
    assert [i for n in heard for i in n.watching] == ids


def test_a_message_from_an_earlier_version_reads_as_wake_ups_alone() -> None:
    heard = decode(json.dumps({"from": "old", "ready": {"email": 1}}))

    assert heard.news == News(ready={"email": 1})


def test_parts_a_later_version_shapes_otherwise_are_dropped_but_not_its_wake_ups() -> None:
    payload = json.dumps(
        {
            "from": "new",
            "ready": {"email": 1},
            "stop": {"job": {"token": 1}},
            "changed": {"job": 2},
            "watching": "job",
            "something": "else",
        }
    )

    heard = decode(payload)

    assert heard.news == News(ready={"email": 1})
