"""Every input rule of validate(): what is accepted, what each default is, what is refused and why."""

from __future__ import annotations

import calendar
import re
from typing import Any

import pytest

from stackduck.domain.errors import InvalidJob, StackduckError, quoted
from stackduck.domain.rules import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    MAX_SCHEDULE_AHEAD_SECONDS,
    JobRequest,
    JobSpec,
    validate,
    validate_id,
    validate_job_types,
    validate_worker_id,
)

NOW = float(calendar.timegm((2026, 1, 1, 0, 0, 0)))  # 2026-01-01T00:00:00Z
DAY = 24 * 3600
LIMIT = DEFAULT_MAX_PAYLOAD_BYTES


def request(**fields: Any) -> JobRequest:
    fields.setdefault("job_type", "email.send")
    fields.setdefault("payload", "{}")
    return JobRequest(**fields)


def check(*, max_payload_bytes: int = LIMIT, now: float = NOW, **fields: Any) -> JobSpec:
    return validate(request(**fields), now=now, max_payload_bytes=max_payload_bytes)


def refused(field: str, *, max_payload_bytes: int = LIMIT, **fields: Any) -> str:
    """Assert the request is refused with a message naming ``field``; return the message."""
    with pytest.raises(InvalidJob) as raised:
        check(max_payload_bytes=max_payload_bytes, **fields)
    message = str(raised.value)
    assert field in message, message
    return message


def unix(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return float(calendar.timegm((year, month, day, hour, minute, second)))


def test_a_minimal_request_gets_every_default() -> None:
    assert check() == JobSpec(
        job_type="email.send", payload="{}", priority=2, delay=30, max_retries=2, run_at=NOW
    )


def test_invalid_job_is_a_stackduck_error() -> None:
    assert issubclass(InvalidJob, StackduckError)


# -- job_type ------------------------------------------------------------------


def test_job_type_must_not_be_empty() -> None:
    refused("job_type", job_type="")


@pytest.mark.parametrize(
    "job_type", ["a", "a" * 255, "é" * 255, "📧" * 255], ids=["1", "255", "255-é", "255-emoji"]
)
def test_job_type_up_to_255_characters_is_accepted(job_type: str) -> None:
    assert check(job_type=job_type).job_type == job_type


@pytest.mark.parametrize("job_type", ["a" * 256, "é" * 256, "a" * 10_000], ids=["256", "256-é", "10000"])
def test_job_type_over_255_characters_is_refused(job_type: str) -> None:
    message = refused("job_type", job_type=job_type)
    assert "255" in message


@pytest.mark.parametrize("job_type", ["\x00", "a\x00b", "email\x00", "\x00" * 300])
def test_job_type_with_nul_is_refused(job_type: str) -> None:
    refused("job_type", job_type=job_type)


@pytest.mark.parametrize(
    "job_type",
    [
        "email.send",
        "送信",
        "📧-send",
        "Ünïcödé/ßtraße",
        "it's",
        'say "hi"',
        "back\\slash",
        "x'; DROP TABLE jobs; --",
        "1 OR 1=1",
        "%_*?",
        "tab\tand newline\n",
        " leading and trailing ",
    ],
)
def test_job_type_is_taken_as_is(job_type: str) -> None:
    assert check(job_type=job_type).job_type == job_type


# -- payload -------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    ["{", "}", "not json", "{'a': 1}", '{"a":}', "[1,]", '{"a": 1,}', '{"a" 1}', "undefined", "{} {}", "01"],
)
def test_payload_that_is_not_json_is_refused(payload: str) -> None:
    refused("payload", payload=payload)


@pytest.mark.parametrize("payload", ["", " ", "\n"], ids=["empty", "space", "newline"])
def test_empty_payload_is_refused(payload: str) -> None:
    refused("payload", payload=payload)


@pytest.mark.parametrize("payload", ["NaN", "Infinity", "-Infinity", '{"x": NaN}', "[Infinity]"])
def test_payload_with_non_standard_json_numbers_is_refused(payload: str) -> None:
    refused("payload", payload=payload)


@pytest.mark.parametrize(
    "payload",
    [
        "{}",
        "[]",
        '"just a string"',
        "42",
        "null",
        "true",
        '{"to": "a@b.c", "n": [1, 2.50]}',
        '{ "b" : 1,\n  "a" : [ 1 , 2 ] }\n',
        '\t{"z": 1, "a": 2, "m": 3}  ',
        '{"a": 1.0, "b": 1e3, "c": -0}',
        '{"e": "\\u00e9", "raw": "é", "emoji": "📧"}',
        '{"dup": 1, "dup": 2}',
    ],
)
def test_payload_is_returned_byte_for_byte(payload: str) -> None:
    spec = check(payload=payload)
    assert spec.payload == payload
    assert spec.payload.encode() == payload.encode()


@pytest.mark.parametrize("digits", [4301, 10_000, 100_000])
def test_payload_with_an_integer_of_any_length_is_accepted_as_is(digits: int) -> None:
    payload = '{"n": -' + "9" * digits + ', "m": [1' + "0" * digits + "]}"
    assert check(payload=payload).payload == payload


def sized_string_payload(total_bytes: int, char: str) -> str:
    """A JSON string of exactly ``total_bytes`` UTF-8 bytes, made of ``char`` plus ASCII padding."""
    width = len(char.encode())
    body = total_bytes - 2  # the quotes
    payload = '"' + char * (body // width) + "x" * (body % width) + '"'
    assert len(payload.encode()) == total_bytes
    return payload


@pytest.mark.parametrize("char", ["a", "é", "€", "📧"], ids=["1-byte", "2-byte", "3-byte", "4-byte"])
def test_payload_exactly_at_the_limit_is_accepted(char: str) -> None:
    payload = sized_string_payload(1000, char)
    assert check(payload=payload, max_payload_bytes=1000).payload == payload


@pytest.mark.parametrize("char", ["a", "é", "€", "📧"], ids=["1-byte", "2-byte", "3-byte", "4-byte"])
def test_payload_one_byte_over_the_limit_is_refused(char: str) -> None:
    payload = sized_string_payload(1001, char)
    message = refused("payload", payload=payload, max_payload_bytes=1000)
    assert "1001" in message and "1000" in message


def test_payload_size_is_counted_in_utf8_bytes_not_characters() -> None:
    payload = '"' + "é" * 10 + '"'  # 12 characters, 22 bytes
    assert check(payload=payload, max_payload_bytes=22).payload == payload
    refused("payload", payload=payload, max_payload_bytes=21)
    refused("payload", payload=payload, max_payload_bytes=12)


def test_the_default_limit_is_one_mebibyte() -> None:
    assert LIMIT == 1024 * 1024
    at_limit = sized_string_payload(LIMIT, "a")
    assert check(payload=at_limit).payload == at_limit
    refused("payload", payload=sized_string_payload(LIMIT + 1, "a"))


def test_the_size_limit_applies_before_parsing() -> None:
    message = refused("payload", payload="{" * 2000, max_payload_bytes=1000)
    assert "bytes" in message


# -- priority ------------------------------------------------------------------


def test_priority_zero_means_normal() -> None:
    assert check(priority=0).priority == 2


@pytest.mark.parametrize("priority", [1, 2, 3])
def test_priority_one_to_three_is_accepted(priority: int) -> None:
    assert check(priority=priority).priority == priority


@pytest.mark.parametrize("priority", [4, -1, 100, -(2**31)])
def test_priority_outside_one_to_three_is_refused(priority: int) -> None:
    refused("priority", priority=priority)


# -- delay ---------------------------------------------------------------------


def test_delay_zero_means_thirty_seconds() -> None:
    assert check(delay=0).delay == 30


@pytest.mark.parametrize("delay", [1, 30, 3599, 3600])
def test_delay_one_to_an_hour_is_accepted(delay: int) -> None:
    assert check(delay=delay).delay == delay


@pytest.mark.parametrize("delay", [3601, -1, 86_400, -(2**31)])
def test_delay_outside_one_to_an_hour_is_refused(delay: int) -> None:
    refused("delay", delay=delay)


# -- max_retries and retry_limit ------------------------------------------------


def test_max_retries_zero_means_two() -> None:
    assert check(max_retries=0).max_retries == 2


@pytest.mark.parametrize("max_retries", [1, 2, 50, 100])
def test_max_retries_one_to_a_hundred_is_accepted(max_retries: int) -> None:
    assert check(max_retries=max_retries).max_retries == max_retries


@pytest.mark.parametrize("max_retries", [101, -1, 10_000])
def test_max_retries_outside_zero_to_a_hundred_is_refused(max_retries: int) -> None:
    refused("max_retries", max_retries=max_retries)


def test_retry_limit_zero_means_no_retries() -> None:
    assert check(retry_limit=0).max_retries == 0


@pytest.mark.parametrize("retry_limit", [1, 2, 7, 100])
def test_retry_limit_alone_sets_max_retries(retry_limit: int) -> None:
    assert check(retry_limit=retry_limit).max_retries == retry_limit


@pytest.mark.parametrize("value", [0, 1, 5, 100])
def test_retry_limit_equal_to_max_retries_is_accepted(value: int) -> None:
    assert check(max_retries=value, retry_limit=value).max_retries == value


@pytest.mark.parametrize(("max_retries", "retry_limit"), [(3, 5), (5, 3), (2, 0), (100, 1)])
def test_retry_limit_disagreeing_with_a_nonzero_max_retries_is_refused(
    max_retries: int, retry_limit: int
) -> None:
    message = refused("retry_limit", max_retries=max_retries, retry_limit=retry_limit)
    assert "max_retries" in message


@pytest.mark.parametrize("retry_limit", [101, -1])
def test_retry_limit_outside_zero_to_a_hundred_is_refused(retry_limit: int) -> None:
    refused("retry_limit", retry_limit=retry_limit)


# -- scheduled_at and scheduled_in ---------------------------------------------


def test_no_schedule_means_now() -> None:
    assert check(scheduled_at="", scheduled_in=0.0).run_at == NOW


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31T12:00:00Z", unix(2026, 1, 31, 12)),
        ("2026-01-31T12:00:00+00:00", unix(2026, 1, 31, 12)),
        ("2026-01-31T14:00:00+02:00", unix(2026, 1, 31, 12)),
        ("2026-01-31T06:30:00-05:30", unix(2026, 1, 31, 12)),
        ("2026-02-01T01:00:00+02:00", unix(2026, 1, 31, 23)),  # the day before in UTC
        ("2026-01-31T12:00:00.250Z", unix(2026, 1, 31, 12) + 0.25),
        ("2026-06-30T23:59:59Z", unix(2026, 6, 30, 23, 59, 59)),
    ],
)
def test_scheduled_at_is_parsed_to_unix_time(text: str, expected: float) -> None:
    assert check(scheduled_at=text).run_at == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31t12:00:00z", unix(2026, 1, 31, 12)),  # section 5.6: "t" and "z" may be lower case
        ("2026-01-31 12:00:00Z", unix(2026, 1, 31, 12)),  # section 5.6 note: a space for "T"
        ("2026-01-31T12:00:00.5+00:00", unix(2026, 1, 31, 12) + 0.5),
        ("2026-01-31T12:00:00.123456789Z", unix(2026, 1, 31, 12) + 0.123456789),
        ("2026-01-31T12:00:00-00:00", unix(2026, 1, 31, 12)),  # section 4.3: UTC, local offset unknown
        ("2026-01-31T23:59:60Z", unix(2026, 2, 1)),  # a leap second
    ],
)
def test_every_form_of_rfc3339_is_accepted(text: str, expected: float) -> None:
    assert check(scheduled_at=text, now=unix(2026, 1, 1)).run_at == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "2026-W05-6T12:00:00Z",  # ISO 8601 week date
        "2026-031T12:00:00Z",  # ordinal date
        "20260131T120000Z",  # basic format
        "2026-01-31T120000Z",
        "2026-01-31T12:00Z",  # no seconds
        "2026-01-31T12Z",
        "2026-01-31T12:00:00+0200",  # offset in basic format
        "2026-01-31T12:00:00+02",
        "2026-01-31T12:00:00,5Z",  # a comma before the fraction
        "2026-01-31T12:00:00.Z",
        "2026-01-31T12:00:00+24:00",
        "2026-01-31T12:00:00+02:60",
        "2026-01-31T12:00:61Z",
        "2026-01-31_12:00:00Z",
        "\uff12\uff10\uff12\uff16-01-31T12:00:00Z",  # digits that are not ASCII (fullwidth)
        " 2026-01-31T12:00:00Z",
        "2026-01-31T12:00:00Z\n",
    ],
)
def test_iso8601_forms_that_are_not_rfc3339_are_refused(text: str) -> None:
    refused("scheduled_at", scheduled_at=text)


@pytest.mark.parametrize(
    "text",
    ["2000-01-01T00:00:00Z", "2025-12-31T23:59:59Z", "2026-01-01T02:00:00+03:00", "2026-01-01T00:00:00Z"],
)
def test_scheduled_at_in_the_past_means_now(text: str) -> None:
    assert check(scheduled_at=text).run_at == NOW


@pytest.mark.parametrize("text", ["2026-01-31T12:00:00", "2026-01-31", "2026-01-31T12:00"])
def test_scheduled_at_without_an_offset_is_refused(text: str) -> None:
    refused("scheduled_at", scheduled_at=text)


@pytest.mark.parametrize(
    "text",
    [
        "tomorrow",
        "not a date",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-01-31T25:00:00Z",
        "2026-01-31T12:00:00+25:00",
        "1769860800",
        "Sat, 31 Jan 2026 12:00:00 GMT",
        "2026-01-31T12:00:00ZZ",
    ],
)
def test_garbage_scheduled_at_is_refused(text: str) -> None:
    refused("scheduled_at", scheduled_at=text)


def test_scheduled_at_up_to_366_days_ahead_is_accepted() -> None:
    assert MAX_SCHEDULE_AHEAD_SECONDS == 366 * DAY
    # NOW + 366 days = 2027-01-02T00:00:00Z
    assert check(scheduled_at="2027-01-02T00:00:00Z").run_at == NOW + 366 * DAY


@pytest.mark.parametrize(
    "text", ["2027-01-02T00:00:01Z", "2027-06-01T00:00:00+02:00", "9999-12-31T23:59:59Z"]
)
def test_scheduled_at_more_than_366_days_ahead_is_refused(text: str) -> None:
    refused("scheduled_at", scheduled_at=text)


@pytest.mark.parametrize("seconds", [0.5, 1.0, 60.0, 3600.0, float(366 * DAY)])
def test_scheduled_in_is_seconds_from_now(seconds: float) -> None:
    assert check(scheduled_in=seconds).run_at == NOW + seconds


@pytest.mark.parametrize("seconds", [-1.0, -0.001, -3600.0])
def test_negative_scheduled_in_is_refused(seconds: float) -> None:
    refused("scheduled_in", scheduled_in=seconds)


@pytest.mark.parametrize("seconds", [366 * DAY + 1.0, float("inf"), float("nan")])
def test_scheduled_in_beyond_366_days_or_not_a_number_is_refused(seconds: float) -> None:
    refused("scheduled_in", scheduled_in=seconds)


def test_scheduled_at_and_scheduled_in_together_are_refused() -> None:
    message = refused("scheduled_at", scheduled_at="2026-01-31T12:00:00Z", scheduled_in=60.0)
    assert "scheduled_in" in message


# -- worker_id -------------------------------------------------------------------


@pytest.mark.parametrize("worker_id", ["", "w", "host-1/pid 42 ü🦆", "w" * 200])
def test_worker_id_of_one_line_up_to_200_characters_is_accepted(worker_id: str) -> None:
    assert validate_worker_id(worker_id) == worker_id


def test_worker_id_over_200_characters_is_refused() -> None:
    with pytest.raises(InvalidJob, match="worker_id is 201 characters long; at most 200"):
        validate_worker_id("w" * 201)


@pytest.mark.parametrize(
    ("worker_id", "code"),
    [("a\nb", "U+000A"), ("a\rb", "U+000D"), ("\t", "U+0009"), ("a\x00", "U+0000"), ("a\x1b[0m", "U+001B"),
     ("a\x7f", "U+007F"), ("a\x85", "U+0085"), ("a\u2028", "U+2028"), ("a\u2029", "U+2029")],
)  # fmt: skip
def test_worker_id_with_a_control_character_is_refused(worker_id: str, code: str) -> None:
    with pytest.raises(InvalidJob, match=f"worker_id must not contain control characters.*{re.escape(code)}"):
        validate_worker_id(worker_id)


# -- ids and what error messages quote ----------------------------------------------


@pytest.mark.parametrize("value", ["", "0b7c1e1a-0000-4000-8000-000000000000", "i" * 64])
def test_ids_up_to_64_characters_are_accepted(value: str) -> None:
    assert validate_id("job_id", value) == value


def test_an_id_over_64_characters_is_refused_and_quoted_short() -> None:
    with pytest.raises(InvalidJob) as raised:
        validate_id("page_token", "p" * 100_000)
    message = str(raised.value)
    assert message.startswith("page_token is 100000 characters long; ids are at most 64")
    assert len(message) < 200, message


@pytest.mark.parametrize(
    ("value", "shown"),
    [("abc", "'abc'"), ("a" * 40, repr("a" * 40)), ("a" * 41, repr("a" * 40) + "… (41 characters)")],
)
def test_error_messages_quote_a_short_prefix(value: str, shown: str) -> None:
    assert quoted(value) == shown


def test_a_long_scheduled_at_is_quoted_short() -> None:
    message = refused("scheduled_at", scheduled_at="2026" * 10_000)
    assert "(40000 characters)" in message and len(message) < 300


# -- job types of a stream ---------------------------------------------------------


def test_a_stream_may_ask_for_up_to_100_job_types() -> None:
    types = [f"t{i}" for i in range(100)]
    assert validate_job_types(types) == types
    with pytest.raises(InvalidJob, match="job_types names 101 job types; a stream may ask for at most 100"):
        validate_job_types([*types, "one more"])
    with pytest.raises(InvalidJob, match="job_type"):
        validate_job_types(["ok", ""])
