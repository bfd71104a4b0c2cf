"""Input rules: what a producer may ask for, and the defaults proto3 zeros mean.

A :class:`JobRequest` carries the values as a client sent them (0 and "" mean
"not given", as on the wire). :func:`validate` turns it into a
:class:`JobSpec` or raises :class:`InvalidJob` with a message that says what to
fix. Out-of-range values are errors, never silently replaced.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from stackduck.domain.errors import InvalidJob, LimitExceeded, quoted
from stackduck.domain.priority import DEFAULT_PRIORITY, HIGH, LOW
from stackduck.domain.retry import MAX_BACKOFF_SECONDS

MAX_JOB_TYPE_LENGTH = 255
DEFAULT_DELAY_SECONDS = 30
DEFAULT_MAX_RETRIES = 2
MAX_RETRIES_LIMIT = 100
DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_SCHEDULE_AHEAD_SECONDS = 366 * 24 * 3600
#: A worker's name is logged and shown to operators: one short line.
MAX_WORKER_ID_LENGTH = 200
#: Job types one ConsumeJobs stream may ask for: every claim looks at each of them.
MAX_JOB_TYPES_PER_STREAM = 100
#: Ids this server hands out (jobs, page tokens) are 36 characters long.
MAX_ID_LENGTH = 64
MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_GROUP_LENGTH = 255
#: The longest run time one attempt may be given.
MAX_TIMEOUT_SECONDS = 86_400
#: Metadata: entries, key length, and the whole as JSON (room for W3C trace context
#: and baggage, 8 KiB at most).
MAX_METADATA_ENTRIES = 64
MAX_METADATA_KEY_LENGTH = 128
MAX_METADATA_BYTES = 16 * 1024
#: How long a FailJob may ask the retry to wait (366 days, as for schedules).
MAX_RETRY_IN_SECONDS = 366 * 24 * 3600


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A producer's request, with wire semantics (0 / "" / None = not given)."""

    job_type: str
    payload: str
    priority: int = 0
    delay: int = 0
    max_retries: int = 0
    retry_limit: int | None = None
    scheduled_at: str = ""
    scheduled_in: float = 0.0
    idempotency_key: str = ""
    timeout: float = 0.0
    metadata: Mapping[str, str] | None = None
    group: str = ""


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A validated request: every value in range, every default applied."""

    job_type: str
    payload: str
    priority: int
    delay: int
    max_retries: int
    run_at: float
    idempotency_key: str = ""
    timeout: float = 0.0
    metadata: str = ""  # a JSON object text; "" = none
    group_key: str = ""  # the fair-queue group; "" = the type's ungrouped jobs


def validate_job_type(job_type: str) -> str:
    if not job_type:
        raise InvalidJob("job_type must not be empty")
    if len(job_type) > MAX_JOB_TYPE_LENGTH:
        raise InvalidJob(
            f"job_type is {len(job_type)} characters long; at most {MAX_JOB_TYPE_LENGTH} are allowed"
        )
    if "\x00" in job_type:
        raise InvalidJob("job_type must not contain the NUL character")
    return job_type


def validate_id(field: str, value: str) -> str:
    """An id a client sends back (a job id, a page token): at most MAX_ID_LENGTH
    characters, no NUL; "" is left to the caller."""
    if len(value) > MAX_ID_LENGTH:
        raise InvalidJob(
            f"{field} is {len(value)} characters long; ids are at most {MAX_ID_LENGTH} "
            f"(this server's are 36): {quoted(value)}"
        )
    return validate_text(field, value)


def validate_job_types(job_types: Sequence[str]) -> Sequence[str]:
    """The job types of one stream: at most MAX_JOB_TYPES_PER_STREAM, each a job type."""
    if len(job_types) > MAX_JOB_TYPES_PER_STREAM:
        raise InvalidJob(
            f"job_types names {len(job_types)} job types; a stream may ask for at most "
            f"{MAX_JOB_TYPES_PER_STREAM} (open another stream for more)"
        )
    for job_type in job_types:
        validate_job_type(job_type)
    return job_types


def validate_text(field: str, value: str) -> str:
    """Free text a client sends (worker ids, error messages): anything but NUL."""
    if "\x00" in value:
        raise InvalidJob(f"{field} must not contain the NUL character")
    return value


#: C0 and C1 control characters (tab, line breaks, NUL, escape, ...), DEL, and the
#: Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def validate_worker_id(worker_id: str) -> str:
    """A worker's name as a client sends it ("" = not given): one line of at most
    MAX_WORKER_ID_LENGTH characters."""
    if len(worker_id) > MAX_WORKER_ID_LENGTH:
        raise InvalidJob(
            f"worker_id is {len(worker_id)} characters long; at most {MAX_WORKER_ID_LENGTH} are allowed"
        )
    if (found := _CONTROL.search(worker_id)) is not None:
        raise InvalidJob(
            f"worker_id must not contain control characters (line breaks, tabs, NUL, ...); "
            f"found U+{ord(found.group()):04X} at position {found.start()}"
        )
    return worker_id


def validate_payload(payload: str, max_bytes: int) -> str:
    return _json_text("payload", payload, max_bytes, '{} or {"key": "value"}')


def _json_text(field: str, text: str, max_bytes: int, example: str) -> str:
    """A JSON text (RFC 8259) of at most ``max_bytes`` UTF-8 bytes, kept as it is."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise LimitExceeded(f"{field} is {size} bytes; the limit is {max_bytes} bytes")
    try:
        _JSON.decode(text)
    except RecursionError as exc:
        raise InvalidJob(f"{field} nests arrays or objects too deeply to be read") from exc
    except ValueError as exc:
        raise InvalidJob(f"{field} must be a JSON text (for example {example}): {exc}") from exc
    return text


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value (RFC 8259)")


#: One decoder for every payload: ``json.loads`` with an option builds a new one per call.
#: Numbers are checked for their syntax only: the payload is kept as text, and Python's
#: int() refuses integers over 4,300 digits (``sys.set_int_max_str_digits``), which JSON
#: allows.
_JSON = json.JSONDecoder(parse_constant=_refuse_constant, parse_int=str)


def validate_priority(priority: int) -> int:
    if priority == 0:
        return DEFAULT_PRIORITY
    if not HIGH <= priority <= LOW:
        raise InvalidJob(
            f"priority must be {HIGH} (high) to {LOW} (low), or 0 for the default "
            f"{DEFAULT_PRIORITY}; got {priority}"
        )
    return priority


def validate_delay(delay: int) -> int:
    if delay == 0:
        return DEFAULT_DELAY_SECONDS
    if not 1 <= delay <= MAX_BACKOFF_SECONDS:
        raise InvalidJob(
            f"delay (the retry backoff base, in seconds) must be 1 to {MAX_BACKOFF_SECONDS}, "
            f"or 0 for the default {DEFAULT_DELAY_SECONDS}; got {delay}"
        )
    return delay


def validate_retries(max_retries: int, retry_limit: int | None) -> int:
    if not 0 <= max_retries <= MAX_RETRIES_LIMIT:
        raise InvalidJob(
            f"max_retries must be 0 (the default {DEFAULT_MAX_RETRIES}) to "
            f"{MAX_RETRIES_LIMIT}; got {max_retries}"
        )
    if retry_limit is None:
        return max_retries or DEFAULT_MAX_RETRIES
    if not 0 <= retry_limit <= MAX_RETRIES_LIMIT:
        raise InvalidJob(f"retry_limit must be 0 to {MAX_RETRIES_LIMIT}; got {retry_limit}")
    if max_retries not in (0, retry_limit):
        raise InvalidJob(
            f"max_retries ({max_retries}) and retry_limit ({retry_limit}) disagree; send only retry_limit"
        )
    return retry_limit


#: RFC 3339's date-time (section 5.6): full-date, "T" (or "t", or a space: the section's
#: note), partial-time with optional fractional seconds, then "Z" (or "z") or +hh:mm / -hh:mm.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def parse_rfc3339(text: str) -> float:
    """Unix seconds of an RFC 3339 date-time. Other ISO 8601 forms (week or ordinal
    dates, basic format, no offset, no seconds) are refused."""
    found = _RFC3339.fullmatch(text)
    if found is None:
        raise InvalidJob(
            "scheduled_at must be an RFC 3339 date-time with a UTC offset, such as "
            f"2026-01-31T12:00:00Z or 2026-01-31T14:00:00.5+02:00; got {quoted(text)}"
        )
    year, month, day, hour, minute, second = (int(found.group(i)) for i in range(1, 7))
    fraction, sign, offset_hours, offset_minutes = found.group(7, 8, 9, 10)
    offset = timedelta(0)
    if sign:
        if int(offset_hours) > 23 or int(offset_minutes) > 59:
            raise InvalidJob(f"scheduled_at has an offset beyond ±23:59; got {quoted(text)}")
        offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
        offset = -offset if sign == "-" else offset
    leap = second == 60  # a leap second (RFC 3339 allows :60): one past :59
    try:
        moment = datetime(year, month, day, hour, minute, 59 if leap else second, tzinfo=timezone(offset))
    except ValueError as exc:
        raise InvalidJob(f"scheduled_at is not a real time ({exc}); got {quoted(text)}") from exc
    return moment.timestamp() + leap + (float(fraction) if fraction else 0.0)


def resolve_run_at(scheduled_at: str, scheduled_in: float, now: float) -> float:
    """When the first delivery may happen. A time in the past means now."""
    if scheduled_at and scheduled_in:
        raise InvalidJob("give scheduled_at or scheduled_in, not both")
    if scheduled_in:
        if not 0 < scheduled_in <= MAX_SCHEDULE_AHEAD_SECONDS:
            raise InvalidJob(
                f"scheduled_in must be 0 to {MAX_SCHEDULE_AHEAD_SECONDS} seconds; got {scheduled_in}"
            )
        return now + scheduled_in
    if not scheduled_at:
        return now
    run_at = parse_rfc3339(scheduled_at)
    if run_at - now > MAX_SCHEDULE_AHEAD_SECONDS:
        raise InvalidJob("scheduled_at is more than 366 days ahead")
    return max(run_at, now)


def validate_idempotency_key(key: str) -> str:
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidJob(
            f"idempotency_key is {len(key)} characters long; at most {MAX_IDEMPOTENCY_KEY_LENGTH} are allowed"
        )
    return validate_text("idempotency_key", key)


def validate_group(group: str) -> str:
    if len(group) > MAX_GROUP_LENGTH:
        raise InvalidJob(f"group is {len(group)} characters long; at most {MAX_GROUP_LENGTH} are allowed")
    return validate_text("group", group)


def validate_timeout(timeout: float, default: float) -> float:
    """Run time per attempt: 0 means the server's default (itself 0 = no limit)."""
    if timeout == 0:
        return default
    if not 0 < timeout <= MAX_TIMEOUT_SECONDS:  # NaN fails both
        raise InvalidJob(
            f"timeout_seconds must be more than 0 and at most {MAX_TIMEOUT_SECONDS} "
            f"(or 0 for the server's default); got {timeout}"
        )
    return timeout


_METADATA_KEY = re.compile(r"[A-Za-z0-9._-]+", re.ASCII)


def validate_metadata(metadata: Mapping[str, str]) -> str:
    """Metadata as the JSON object text a job keeps ("" for none)."""
    if not metadata:
        return ""
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise InvalidJob(f"metadata has {len(metadata)} entries; at most {MAX_METADATA_ENTRIES} are allowed")
    for key, value in metadata.items():
        if not 1 <= len(key) <= MAX_METADATA_KEY_LENGTH or _METADATA_KEY.fullmatch(key) is None:
            raise InvalidJob(
                f"metadata key {quoted(key)} must be 1 to {MAX_METADATA_KEY_LENGTH} characters of "
                "letters, digits, '.', '_' and '-'"
            )
        validate_text(f"metadata[{key}]", value)
    text = json.dumps(dict(sorted(metadata.items())), ensure_ascii=False, separators=(",", ":"))
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_METADATA_BYTES:
        raise InvalidJob(f"metadata takes {size} bytes as JSON; at most {MAX_METADATA_BYTES} are allowed")
    return text


def validate_retry_in(retry_in: float | None, retry: bool) -> float | None:
    """A FailJob's own wait before the retry (None = the backoff)."""
    if retry_in is None:
        return None
    if not retry:
        raise InvalidJob("give no_retry or retry_in, not both")
    if not 0 <= retry_in <= MAX_RETRY_IN_SECONDS:  # NaN fails both
        raise InvalidJob(f"retry_in must be 0 to {MAX_RETRY_IN_SECONDS} seconds; got {retry_in}")
    return retry_in


def validate_result(result: str | None, max_bytes: int) -> str | None:
    """A job's result: a JSON text within the payload limit (None = no result)."""
    return None if result is None else _json_text("result", result, max_bytes, "{} or 42")


def validate(
    request: JobRequest, now: float, max_payload_bytes: int, default_timeout: float = 0.0
) -> JobSpec:
    """Check every rule and apply every default, or raise :class:`InvalidJob`."""
    return JobSpec(
        job_type=validate_job_type(request.job_type),
        payload=validate_payload(request.payload, max_payload_bytes),
        priority=validate_priority(request.priority),
        delay=validate_delay(request.delay),
        max_retries=validate_retries(request.max_retries, request.retry_limit),
        run_at=resolve_run_at(request.scheduled_at, request.scheduled_in, now),
        # Most jobs carry none of these: their checks are skipped when they are empty.
        idempotency_key=validate_idempotency_key(request.idempotency_key) if request.idempotency_key else "",
        timeout=validate_timeout(request.timeout, default_timeout) if request.timeout else default_timeout,
        metadata=validate_metadata(request.metadata) if request.metadata else "",
        group_key=validate_group(request.group) if request.group else "",
    )
