from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from beffroi.insights.base import SyncBatch, Unavailable
from beffroi.insights.metrics import Metric, Reason


@dataclass
class FakeReader:
    """A reader declaring which measures its network gives; `read` answers with a prepared batch or error."""

    network: str
    account_metrics: dict
    reporting_zone: str = "UTC"
    history_days: int | None = 730
    batches: list = field(default_factory=list)
    plans: list = field(default_factory=list)

    def read(self, access, http, plan, progress):
        self.plans.append(plan)
        progress("account metrics", 1, 2)
        answer = self.batches.pop(0) if self.batches else SyncBatch()
        if isinstance(answer, Exception):
            raise answer
        return answer(plan) if callable(answer) else answer

    def missing_reason(self, metric):
        return Unavailable(Reason.NOT_ON_NETWORK, f"{self.network} gives no {metric}")


ALL_METRICS = {metric: () for metric in Metric}


@pytest.fixture
def fake_readers(monkeypatch):
    """Facebook gives every measure with daily history; Mastodon only its follower count; Atom nothing."""
    readers = {
        "facebook": FakeReader("facebook", ALL_METRICS),
        "instagram": FakeReader("instagram", ALL_METRICS, reporting_zone="America/Los_Angeles"),
        "mastodon": FakeReader("mastodon", {Metric.FOLLOWERS: ()}, history_days=None),
        "bluesky": FakeReader("bluesky", {Metric.FOLLOWERS: ()}, history_days=None),
        "atom": None,
    }
    for module in ("beffroi.insights.sync", "beffroi.insights.overview", "beffroi.insights.audience"):
        monkeypatch.setattr(f"{module}.insights_reader_for", lambda network: readers.get(network))
    return readers


@pytest.fixture(autouse=True)
def in_english():
    """Assertions read the English texts (the French ones are checked by the translation tests)."""
    from django.utils import translation

    with translation.override("en"):
        yield
