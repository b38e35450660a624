"""`beffroi bench insights` at toy sizes: it loads, times every computation, compares with DuckDB and prints one
JSON line last with every figure. Run inside the test database (the `--inner` half of the command), so it takes
seconds; the full-size figures are in the README."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from beffroi.networks.registry import insights_readers

pytestmark = pytest.mark.django_db

COMPUTATIONS = {
    "overview_organisation",
    "overview_group",
    "overview_channel",
    "overview_measures_organisation",
    "audience_organisation",
    "heatmap_organisation",
    "heatmap_instagram_channel",
    "heatmap_engagements_channel",
    "best_time_channel",
}

PAGES = {
    "overview_organisation_page",
    "overview_group_page",
    "overview_channel_page",
    "audience_organisation_page",
    "heatmap_organisation_page",
    "heatmap_instagram_channel_page",
    "best_time_channel_page",
}


def test_the_insights_benchmark_prints_every_figure_as_one_json_line_last():
    readers_before = dict(insights_readers())
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "bench",
        "insights",
        "--inner",
        "--channels=5",
        "--days=30",
        "--snapshots=1000",
        "--events=2000",
        "--online-days=10",
        "--requests=2",
        stdout=out,
        stderr=err,
    )
    result = json.loads(out.getvalue().strip().splitlines()[-1])

    assert result["benchmark"] == "insights"
    sizes = result["sizes"]
    assert (sizes["channels"], sizes["days"], sizes["requests"]) == (5, 30, 2)
    assert sizes["post_snapshots"] == 1000
    assert sizes["engagement_events"] == 2000
    # Meta pages give six measures a day, Bluesky and Mastodon one.
    assert sizes["daily_metrics"] == 30 * (6 + 6 + 1 + 1 + 6)
    assert sizes["online_hours"] == 10  # one Instagram channel
    assert sizes["posts"] > 0 and sizes["audience_breakdowns"] > 0
    assert {"total", "analyze", "daily_metrics", "post_snapshots"} <= set(result["load_s"])

    assert set(result["ms"]) == COMPUTATIONS
    for name, figures in result["ms"].items():
        assert set(figures) == {"p50", "p95", "max"}, name
        assert 0 < figures["p50"] <= figures["p95"] <= figures["max"], name
    assert result["target_p95_ms"] == 300
    assert isinstance(result["over_target"], list)
    # The same through the statistics pages (Django's test client: middleware, tenancy, templates).
    assert result["page_note"] == "every page timed"
    assert set(result["page_ms"]) == PAGES
    for name, figures in result["page_ms"].items():
        assert 0 < figures["p50"] <= figures["p95"] <= figures["max"], name

    # Something was computed, from the right basis.
    facts = result["facts"]
    assert facts["overview_reach"] > 0 and facts["overview_followers"] > 0
    assert facts["overview_rows"] > 0
    assert facts["audience_channels"] >= 1
    assert facts["heatmap_organisation_basis"].startswith("online_followers:")
    assert facts["heatmap_engagements_channel_basis"].startswith("engagements:")
    assert facts["best_time_posts"] > 0

    duck = result["duckdb"]
    assert duck["rows"] == sizes["daily_metrics"]
    assert duck["matches_ours"] is True
    for key in ("p50", "p95", "max", "load_s", "export_s", "ratio_p95_measures", "ratio_p95_overview", "version"):
        assert duck[key] is not None, key

    machine = result["machine"]
    assert machine["cores"] >= 1 and machine["database"] in ("sqlite", "postgresql")
    assert machine["database_version"] and machine["python"] and machine["django"]
    # Stand-in readers for networks without statistics code are removed afterwards.
    assert dict(insights_readers()) == readers_before
