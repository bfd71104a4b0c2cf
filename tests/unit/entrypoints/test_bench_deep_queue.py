"""What the bench says of a deep queue against a short one: flat within 10 %, or flagged."""

from __future__ import annotations

from stackduck.entrypoints.bench.command import _deep_queue_lines
from stackduck.entrypoints.bench.runner import Result


def drained(short: float, deep: float, cpu_short: float, cpu_deep: float, quiet: bool = True) -> Result:
    result = Result("postgres", backlog=1_000_000, backlog_drained=10_000, backlog_fill=40_000.0)
    result.backlog_rates = {"10": short, "backlog": deep}
    result.server_cpu_us = {"backlog-10": cpu_short, "backlog": cpu_deep}
    result.backlog_ratios = {"rate": deep / short, "server_cpu": cpu_deep / cpu_short}
    result.backlog_rss_mb = {"before": 100.0, "filled": 120.0, "after": 118.0}
    result.backlog_settled, result.backlog_quiet = [1.0, 14.0, 0.2, 2.0, 1.0, 1.0], quiet
    return result


def verdict(result: Result) -> str:
    [_, line] = _deep_queue_lines([result])
    return line


def test_the_claims_of_each_drain_are_said() -> None:
    result = drained(10_000, 9_800, 50, 51)
    result.backlog_claims = {
        "backlog-10": {"claims": 50.0, "empty": 5.0, "asked": 12_000.0, "leased": 10_000.0},
        "backlog": {"claims": 100.0, "empty": 0.0, "asked": 10_000.0, "leased": 10_000.0},
    }
    [_, _, claims] = _deep_queue_lines([result])
    assert claims == (
        "claims, postgres: 200 jobs a claim, 10% empty off the short queue, "
        "100 jobs a claim, 0% empty off the deep one"
    )


def test_a_drain_within_ten_percent_is_flat() -> None:
    line = verdict(drained(10_000, 9_200, 50, 54))
    assert line.startswith("deep / short, postgres: rate -8%, server CPU per job +8%: flat (within 10%)")
    assert "6 turns, short and deep in alternation, each began on a quiet machine (waited 0-14 s)" in line


def test_a_slower_drain_is_flagged() -> None:
    line = verdict(drained(14_364, 7_843, 43, 97))
    assert "NOT FLAT: rate -45%, server CPU per job +126% (more than 10% worse)" in line


def test_dearer_claims_alone_are_flagged() -> None:
    line = verdict(drained(10_000, 10_500, 50, 60))
    assert "NOT FLAT: server CPU per job +20%" in line and "rate" not in line.split("NOT FLAT")[1]


def test_a_busy_machine_is_said() -> None:
    line = verdict(drained(10_000, 10_000, 50, 50, quiet=False))
    assert "the machine was still busy when one began" in line
