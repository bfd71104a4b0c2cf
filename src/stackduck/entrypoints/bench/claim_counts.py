"""What the server's claims were, read from its Prometheus counters: how many claims it
made of storage, how many came back empty, and the jobs they asked for and got. A
drain that costs more per job with a deep queue says here whether it made more claims
(fewer jobs each, or empty ones) or paid more for each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class ClaimCounts:
    claims: float = 0.0
    empty: float = 0.0
    asked: float = 0.0
    leased: float = 0.0

    @classmethod
    def of(cls, families: Iterable[Metric]) -> ClaimCounts:
        counts = {"claims": 0.0, "empty": 0.0, "asked": 0.0, "leased": 0.0}
        for family in families:
            for sample in family.samples:
                if sample.name == "stackduck_claims_total":
                    counts["claims"] += sample.value
                    if sample.labels.get("outcome") == "empty":
                        counts["empty"] += sample.value
                elif sample.name == "stackduck_claim_jobs_total" and sample.labels.get("kind") in counts:
                    counts[sample.labels["kind"]] += sample.value
        return cls(**counts)

    def minus(self, earlier: ClaimCounts) -> ClaimCounts:
        return ClaimCounts(
            self.claims - earlier.claims,
            self.empty - earlier.empty,
            self.asked - earlier.asked,
            self.leased - earlier.leased,
        )

    def __add__(self, other: ClaimCounts) -> ClaimCounts:
        return ClaimCounts(
            self.claims + other.claims,
            self.empty + other.empty,
            self.asked + other.asked,
            self.leased + other.leased,
        )

    def summary(self) -> str:
        if not self.claims:
            return "no claims"
        return f"{self.leased / self.claims:,.0f} jobs a claim, {self.empty / self.claims:.0%} empty"


def read(registry: CollectorRegistry) -> ClaimCounts:
    """A server in this process: its registry."""
    return ClaimCounts.of(registry.collect())


async def scrape(url: str) -> ClaimCounts:
    """A server elsewhere: its /metrics page."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        response.raise_for_status()
        return ClaimCounts.of(text_string_to_metric_families(await response.text()))
