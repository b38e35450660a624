"""What Facebook's and Instagram's statistics readers share: Meta's Pacific days, picking a metric name per API
version and day, and sorting Meta's refusals into "try the next name", "this measure is unavailable" and "stop
the run"."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import httpx
import pytest

from beffroi.insights.base import MetricName, RateLimited, SyncFailed, Unavailable
from beffroi.insights.metrics import Reason
from beffroi.networks.graph.client import GraphError
from beffroi.networks.graph.insights import (
    GraphCallError,
    InsightsGraph,
    NameChooser,
    breakdown,
    day_of_end_time,
    is_empty,
    lifetime_value,
    pacific_midnight,
    refusal_of,
    series,
    since_until,
    windows,
)
from beffroi.networks.graph.tests.replay import meta_error


def test_a_daily_value_counts_for_the_pacific_day_its_end_time_closes():
    # Meta's end_time is the next Pacific midnight: 07:00 UTC in summer (PDT), 08:00 UTC in winter (PST).
    assert day_of_end_time("2017-05-04T07:00:00+0000") == date(2017, 5, 3)
    assert day_of_end_time("2018-01-11T08:00:00+0000") == date(2018, 1, 10)
    # Some answers say 07:00 UTC all year: in winter that is 23:00 the evening before, still the same day.
    assert day_of_end_time("2018-01-11T07:00:00+0000") == date(2018, 1, 10)
    # Around the DST changes of 2026 (8 March, 1 November in California).
    assert day_of_end_time("2026-03-08T08:00:00+0000") == date(2026, 3, 7)
    assert day_of_end_time("2026-03-09T07:00:00+0000") == date(2026, 3, 8)
    assert day_of_end_time("2026-11-02T08:00:00+0000") == date(2026, 11, 1)
    assert day_of_end_time(None) is None


def test_since_until_ask_for_whole_pacific_days_and_long_ranges_are_cut():
    assert pacific_midnight(date(2026, 11, 20)) == int(datetime(2026, 11, 20, 8, tzinfo=UTC).timestamp())
    assert pacific_midnight(date(2026, 7, 1)) == int(datetime(2026, 7, 1, 7, tzinfo=UTC).timestamp())
    asked = since_until(date(2026, 3, 7), date(2026, 3, 8))  # the spring-forward night is 23 hours long
    assert int(asked["until"]) - int(asked["since"]) == 47 * 3600
    assert windows(date(2026, 1, 1), date(2026, 4, 30), 90) == [
        (date(2026, 1, 1), date(2026, 3, 31)),
        (date(2026, 4, 1), date(2026, 4, 30)),
    ]


def test_names_are_chosen_per_api_version_and_day_and_refusals_remembered_for_the_run():
    names = (
        MetricName("page_impressions", deprecated_on="2025-11-15"),
        MetricName("page_impressions_unique", until_version="v26.0"),
        MetricName("page_media_view"),
    )
    assert [n.name for n in NameChooser("v24.0", date(2025, 10, 1)).valid(names)] == [n.name for n in names]
    assert [n.name for n in NameChooser("v24.0", date(2026, 11, 22)).valid(names)] == [
        "page_impressions_unique",
        "page_media_view",
    ]
    assert [n.name for n in NameChooser("v26.0", date(2026, 11, 22)).valid(names)] == ["page_media_view"]

    chooser = NameChooser("v24.0", date(2026, 11, 22))
    asked: list[str] = []

    def fetch(name: str) -> int:
        asked.append(name)
        if name == "page_impressions_unique":
            raise GraphCallError(GraphError("(#100) The value must be a valid insights metric", code=100), 400)
        return 7

    assert chooser.read(names, fetch) == ("page_media_view", 7)
    assert chooser.read(names, fetch) == ("page_media_view", 7)
    assert asked == ["page_impressions_unique", "page_media_view", "page_media_view"]  # refused once, not again

    gone = chooser.read(names[:2], fetch)
    assert isinstance(gone, Unavailable) and gone.reason == Reason.DEPRECATED
    assert "page_impressions_unique: (#100) The value must be a valid insights metric" in gone.detail
    none_left = NameChooser("v26.0", date(2026, 11, 22)).read(names[:2], fetch)
    assert isinstance(none_left, Unavailable) and none_left.reason == Reason.DEPRECATED
    assert "v26.0" in none_left.detail


@pytest.mark.parametrize(
    ("code", "message", "reason"),
    [
        (100, "(#100) The value must be a valid insights metric", None),
        (100, "(#100) metric[0] must be one of the following values: reach, views", None),
        (100, "(#100) Starting from version v22.0 and above, the impressions metric is no longer supported", None),
        (10, "(#10) Not enough viewers for the media to show insights", Reason.NOT_ENOUGH_VIEWERS),
        (10, "(#10) Application does not have permission for this action", Reason.NO_PERMISSION),
        (200, "(#200) Requires read_insights permission", Reason.NO_PERMISSION),
        (
            100,
            "(#100) Not enough followers: available for accounts with at least 100 followers",
            Reason.TOO_FEW_FOLLOWERS,
        ),
        (100, "(#100) There cannot be more than 93 days (8035200 s) between since and until", Reason.NOT_COLLECTED),
    ],
)
def test_meta_refusals_of_one_metric(code, message, reason):
    # Error bodies written for this test in Meta's documented shape (meta_error), not recorded.
    found = refusal_of(GraphError(message, code=code))
    assert (found.reason if found else None) == reason


def raised(status: int, body: dict, headers: dict | None = None) -> Exception:
    """What one Graph GET answered this way raises."""
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body, headers=headers))
    with httpx.Client(transport=transport) as client:
        graph = InsightsGraph(client, host="https://graph.facebook.com", token="t", label="Facebook", version="v24.0")
        with pytest.raises((RateLimited, SyncFailed, GraphCallError)) as caught:
            graph.get("123/insights")
    return caught.value


def test_what_stops_a_run_and_what_concerns_one_metric():
    usage = {"123": [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 7}]}
    limited = raised(
        400,
        meta_error(4, "(#4) Application request limit reached", is_transient=True),
        {"X-Business-Use-Case-Usage": json.dumps(usage)},
    )
    assert isinstance(limited, RateLimited) and limited.retry_after == 7 * 60
    limited = raised(429, {}, {"Retry-After": "30"})
    assert isinstance(limited, RateLimited) and limited.retry_after == 30
    revoked = raised(400, meta_error(190, "Error validating access token", 460))
    assert isinstance(revoked, SyncFailed) and revoked.needs_reconnection
    down = raised(500, meta_error(2, "Service temporarily unavailable", is_transient=True))
    assert isinstance(down, SyncFailed) and not down.needs_reconnection
    refused = raised(400, meta_error(100, "(#100) The value must be a valid insights metric"))
    assert isinstance(refused, GraphCallError) and refused.error.code == 100
    # A missing permission concerns the metric asked, never the channel's authorisation.
    denied = raised(400, meta_error(200, "(#200) Requires read_insights permission"))
    assert isinstance(denied, GraphCallError) and refusal_of(denied.error).reason == Reason.NO_PERMISSION


def test_reading_meta_answers():
    body = {
        "data": [
            {"name": "impressions", "period": "day", "values": [{"value": 4, "end_time": "2017-05-04T07:00:00+0000"}]},
            {
                "name": "reach",
                "period": "day",
                "values": [
                    {"value": 3, "end_time": "2017-05-04T07:00:00+0000"},
                    {"end_time": "2017-05-05T07:00:00+0000"},
                ],
            },
        ]
    }
    assert series(body, "reach") == {date(2017, 5, 3): 3}  # a day without a number is left out, not zero
    assert series(body, "views") == {}
    assert is_empty({"data": []}, "reach") and is_empty(body, "views") and not is_empty(body, "reach")
    total = {
        "data": [
            {
                "name": "follows_and_unfollows",
                "total_value": {
                    "value": 5,
                    "breakdowns": [
                        {"dimension_keys": ["follow_type"], "results": [{"dimension_values": ["FOLLOWER"], "value": 5}]}
                    ],
                },
            }
        ]
    }
    assert lifetime_value(total, "follows_and_unfollows") == 5
    assert breakdown(total, "follows_and_unfollows") == [({"follow_type": "FOLLOWER"}, 5)]
