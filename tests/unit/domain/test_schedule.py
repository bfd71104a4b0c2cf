"""A schedule's ticks: cron in a time zone across DST changes, every N seconds without
drift, what a fire step does after downtime, and the rules a schedule must follow."""

from __future__ import annotations

import calendar
from dataclasses import replace

import pytest

from stackduck.domain.errors import InvalidJob
from stackduck.domain.rules import JobSpec
from stackduck.domain.schedule import GRACE_SECONDS, Rule, Schedule, instant, validate_schedule_name

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return float(calendar.timegm((year, month, day, hour, minute, second)))


NOW = utc(2026, 1, 1)


def cron(expression: str, zone: str = "UTC") -> Rule:
    return Rule.of(expression, 0, zone, NOW)


def ticks(rule: Rule, after: float, count: int) -> list[str]:
    found = []
    for _ in range(count):
        after = rule.next_after(after)
        found.append(instant(after))
    return found


# -- cron across DST (Europe/Berlin: 2025-03-30 02:00 CET -> 03:00 CEST at 01:00Z;
#    2025-10-26 03:00 CEST -> 02:00 CET at 01:00Z) ------------------------------------


def test_a_fixed_time_skipped_by_spring_forward_fires_once_at_the_jump() -> None:
    rule = cron("30 2 * * *", "Europe/Berlin")

    assert ticks(rule, utc(2025, 3, 29, 1, 30), 2) == [
        "2025-03-30T01:00:00Z",  # 03:00 CEST: 02:30 does not exist that night
        "2025-03-31T00:30:00Z",  # 02:30 CEST
    ]


def test_a_fixed_time_repeated_by_fall_back_fires_once_at_its_first_occurrence() -> None:
    rule = cron("30 2 * * *", "Europe/Berlin")

    assert ticks(rule, utc(2025, 10, 25, 0, 30), 3) == [
        "2025-10-26T00:30:00Z",  # 02:30 CEST; 02:30 CET (01:30Z) does not fire again
        "2025-10-27T01:30:00Z",  # 02:30 CET
        "2025-10-28T01:30:00Z",
    ]


def test_started_inside_the_repeated_hour_the_next_tick_is_after_the_start() -> None:
    """01:10Z is 02:10 CET, the second 02:10 of the night: cronsim, on wall time, answers
    02:30 CEST (00:30Z), before the start; the tick is the next day's."""
    rule = cron("30 2 * * *", "Europe/Berlin")

    assert instant(rule.next_after(utc(2025, 10, 26, 1, 10))) == "2025-10-27T01:30:00Z"


@pytest.mark.parametrize(
    ("start", "first"),
    [(utc(2025, 3, 30, 0, 30), "2025-03-30T00:45:00Z"), (utc(2025, 10, 25, 23, 30), "2025-10-25T23:45:00Z")],
    ids=["spring", "fall"],
)
def test_a_step_fires_at_every_real_instant_across_a_dst_change(start: float, first: str) -> None:
    rule = cron("*/15 * * * *", "Europe/Berlin")

    found = ticks(rule, start, 12)

    assert found[0] == first
    gaps = {rule.next_after(t) - t for t in [start + 15 * MINUTE * i for i in range(1, 12)]}
    assert gaps == {15 * MINUTE}  # 3 hours of real time, every quarter hour, both folds


def test_new_york_fall_back_fires_a_fixed_time_once() -> None:
    rule = cron("30 1 * * *", "America/New_York")  # 2025-11-02: 01:30 EDT (05:30Z), then EST

    assert ticks(rule, utc(2025, 11, 1, 12), 2) == ["2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"]


def test_a_cron_rule_in_utc_fires_at_its_fields() -> None:
    assert ticks(cron("0 3 * * MON"), utc(2026, 1, 1), 2) == ["2026-01-05T03:00:00Z", "2026-01-12T03:00:00Z"]


# -- every N seconds -----------------------------------------------------------------


def test_every_n_seconds_ticks_at_the_multiples_of_n_and_never_drifts() -> None:
    rule = Rule.of("", 7, "", NOW)
    at = NOW + 0.123
    for _ in range(10_000):
        following = rule.next_after(at)
        assert following > at and following % 7 == 0 and following - at <= 7
        at = following + 0.0004  # a fire step runs a little after its tick
    assert at == pytest.approx(rule.next_after(NOW) + 9_999 * 7 + 0.0004)


def test_the_next_tick_is_strictly_after() -> None:
    assert Rule.of("", 60, "", NOW).next_after(NOW) == NOW + 60


# -- a fire step ---------------------------------------------------------------------


def schedule(rule: Rule, catch_up: bool = True, next_due: float = NOW) -> Schedule:
    spec = JobSpec("report", '{"x": 1}', 1, 30, 2, NOW, timeout=0.0, metadata='{"a":"b"}')
    return replace(Schedule.new("nightly", spec, rule, catch_up, NOW - DAY), next_due=next_due)


def test_a_tick_on_time_enqueues_its_job_and_waits_for_the_next() -> None:
    every = schedule(Rule.of("", 60, "", NOW))

    firing = every.firing(NOW + 0.02)

    assert (firing.due, firing.next_due) == (NOW, NOW + 60)


@pytest.mark.parametrize("catch_up", [True, False])
def test_after_downtime_one_job_at_most_then_the_first_tick_after_now(catch_up: bool) -> None:
    every = schedule(Rule.of("", 60, "", NOW), catch_up)

    firing = every.firing(NOW + 10 * 60 + 3)  # ten ticks missed

    assert firing.next_due == NOW + 11 * 60
    assert firing.due == (NOW if catch_up else None)  # the first missed tick names the job


def test_a_tick_late_within_the_grace_is_on_time_even_without_catch_up() -> None:
    every = schedule(Rule.of("", 1, "", NOW), catch_up=False)

    firing = every.firing(NOW + GRACE_SECONDS - 1)

    assert (firing.due, firing.next_due) == (NOW, NOW + GRACE_SECONDS)


def test_fired_moves_the_schedule_on_and_bumps_its_version() -> None:
    before = schedule(Rule.of("", 60, "", NOW))
    after = before.fired(before.firing(NOW + 1), NOW + 1)

    assert (after.next_due, after.last_run, after.version) == (NOW + 60, NOW, before.version + 1)
    skipped = schedule(Rule.of("", 60, "", NOW), catch_up=False)
    assert skipped.fired(skipped.firing(NOW + DAY), NOW + DAY).last_run is None


def test_the_job_of_a_tick_is_due_at_it_with_a_key_naming_the_schedule_and_the_utc_instant() -> None:
    nightly = schedule(cron("30 2 * * *", "Europe/Berlin"))
    due = utc(2025, 10, 26, 0, 30)

    spec = nightly.job_spec(due, default_timeout=45)

    assert spec.idempotency_key == "schedule:nightly:2025-10-26T00:30:00Z"
    assert (spec.run_at, spec.job_type, spec.payload, spec.priority, spec.timeout, spec.metadata) == (
        due, "report", '{"x": 1}', 1, 45, '{"a":"b"}',
    )  # fmt: skip


# -- redefining, pausing, resuming ------------------------------------------------------


def test_redefining_with_the_same_rule_keeps_the_next_tick_and_the_pause() -> None:
    rule = Rule.of("", 60, "", NOW)
    stored = schedule(rule, next_due=NOW - 600).paused_at(NOW - 500)  # a tick missed while down
    new = Schedule.new("nightly", JobSpec("other", "{}", 2, 30, 2, NOW), rule, True, NOW)

    replaced = stored.replaced_by(new, NOW)

    assert (replaced.next_due, replaced.paused, replaced.job_type) == (NOW - 600, True, "other")
    assert replaced.version == stored.version + 1 and replaced.created_at == stored.created_at
    other_rule = stored.replaced_by(replace(new, rule=Rule.of("", 3600, "", NOW)), NOW)
    assert other_rule.next_due == NOW + 3600


def test_resuming_skips_the_ticks_while_paused() -> None:
    paused = schedule(Rule.of("", 60, "", NOW)).paused_at(NOW)

    resumed = paused.resumed_at(NOW + 3 * 60 + 1)

    assert (resumed.paused, resumed.next_due, resumed.version) == (False, NOW + 4 * 60, paused.version + 1)
    assert resumed.resumed_at(NOW + 9999) is resumed  # resuming a running schedule changes nothing


# -- the rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron_", "every", "zone", "words"),
    [
        ("* * * * *", 60, "", "not both"),
        ("", 0, "", "give cron"),
        ("", -5, "", "every must be 1 to"),
        ("", 366 * 86400 + 1, "", "every must be 1 to"),
        ("61 * * * *", 0, "", "bad minute"),
        ("* * * *", 0, "", "must be 5 fields"),
        ("0 * * * * *", 0, "", "must be 5 fields"),
        ("0 0 * * FUNDAY", 0, "", "bad day-of-week"),
        ("0 0 31 2 *", 0, "", "bad day-of-month"),
        ("0 0 * * *", 0, "Mars/Olympus_Mons", "IANA time zone"),
        ("0 0 * * *", 0, "../../etc/passwd", "IANA time zone"),
    ],
)
def test_a_bad_rule_is_refused_saying_what_to_fix(cron_: str, every: int, zone: str, words: str) -> None:
    with pytest.raises(InvalidJob, match=words):
        Rule.of(cron_, every, zone, NOW)


def test_an_empty_time_zone_is_utc_and_whitespace_in_cron_is_normalised() -> None:
    assert Rule.of(" 0   3 * * * ", 0, "", NOW) == Rule(cron="0 3 * * *", timezone="UTC")


@pytest.mark.parametrize("name", ["", "a b", "a/b", "é", "x" * 129])
def test_a_schedule_name_is_short_plain_text(name: str) -> None:
    with pytest.raises(InvalidJob, match="schedule name must be 1 to 128"):
        validate_schedule_name(name)


def test_the_rule_reads_as_words() -> None:
    assert cron("0 3 * * *", "Europe/Berlin").describe() == "cron 0 3 * * * (Europe/Berlin)"
    assert Rule.of("", 90, "", NOW).describe() == "every 90 s"
