"""The statistics pages: each renders with data, stays inside its organisation and the person's groups, follows the
roles, and exports CSV and PDF that say what they show (unavailable is never zero)."""

from __future__ import annotations

import csv
import io

import pypdfium2 as pdfium
import pytest
from django.utils import timezone, translation
from django.utils.html import escape

from beffroi.insights.demo import generate_statistics
from beffroi.insights.metrics import Metric
from beffroi.insights.models import ChannelPost, InsightsSync
from beffroi.insights.overview import overview
from beffroi.insights.periods import period_from_params
from beffroi.insights.scope import scope_for
from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Role

pytestmark = pytest.mark.django_db

PAGES = ["", "audience/", "online/", "best-time/", "posts/", "watched/", "collection/", "reports/", "report.pdf"]
STATS_DAYS = 70  # enough for 28 days and the 28 before them


@pytest.fixture
def readers(fake_readers, monkeypatch):
    """The fake readers (insights/tests/conftest.py), also for the views' own checks."""
    monkeypatch.setattr("beffroi.insights.views.insights_reader_for", lambda network: fake_readers.get(network))
    return fake_readers


@pytest.fixture
def stats(tenant_a, readers):
    """Tenant A (a Facebook page in the local group, a Mastodon account in the other local group) with ten weeks
    of statistics from the demo generator."""
    generate_statistics(tenant_a.organisation, days=STATS_DAYS)
    return tenant_a


def url(tenant, path: str = "") -> str:
    return f"/o/{tenant.organisation.slug}/insights/{path}"


def english(client):
    client.cookies["beffroi_language"] = "en"
    return client


def membership(tenant, role: str = Role.ADMIN) -> Membership:
    return Membership.objects.get(user=tenant.member(role), organisation=tenant.organisation)


def test_every_page_renders_with_data(stats, client_for):
    client = english(client_for(stats.member(Role.ADMIN)))
    for path in PAGES:
        response = client.get(url(stats, path))
        assert response.status_code == 200, path
    page = client.get(url(stats)).content.decode()
    # The figures are the overview's, with the zone named and the demo data labelled.
    with translation.override("en"):
        view = overview(scope_for(membership(stats)), period_from_params({}, timezone.localdate())[0], "Europe/Paris")
    reach = view.figures[str(Metric.REACH)]
    assert f"{reach.value:,}" in page
    assert reach.comparison in page
    assert "Europe/Paris" in page
    assert "Demo data" in page
    assert 'id="chart-series"' in page and "<details" in page  # the chart, and its table one click away
    audience = client.get(url(stats, "audience/")).content.decode()
    assert "Countries" in audience and "FR" in audience
    # Age × gender: Meta removed it for Pages — said per channel, not shown as zero.
    assert "The network removed this measure and offers no replacement." in audience
    online = client.get(url(stats, "online/")).content.decode()
    assert "stored interactions" in online and 'id="chart-heatmap"' in online
    best = client.get(url(stats, "best-time/")).content.decode()
    assert "Confidence:" in best and str(stats.channel) in best
    posts = client.get(url(stats, "posts/")).content.decode()
    assert "By type of post and network" in posts and "Engagement rate" in posts
    post = ChannelPost.objects.filter(channel=stats.channel).order_by("-interactions").first()
    detail = client.get(url(stats, f"posts/{post.pk}/")).content.decode()
    assert 'id="chart-curve"' in detail and escape(post.text) in detail


def test_the_period_changes_the_figures_and_its_label(stats, client_for):
    client = english(client_for(stats.member(Role.ADMIN)))
    week = client.get(url(stats), {"days": "7"}).content.decode()
    quarter = client.get(url(stats), {"days": "90"}).content.decode()
    assert "(7 days)" in week and "(90 days)" in quarter
    custom = client.get(url(stats), {"days": "custom", "start": "2026-01-01", "end": "2026-01-31"}).content.decode()
    assert "(31 days)" in custom


def test_another_organisation_gets_404_everywhere(stats, tenant_b, client_for):
    outsider = client_for(tenant_b.member(Role.ADMIN))
    for path in PAGES:
        assert outsider.get(url(stats, path)).status_code == 404, path
    post = ChannelPost.objects.filter(channel__organisation=stats.organisation).first()
    # Their own organisation's address with our post's number: still nothing.
    assert outsider.get(url(tenant_b, f"posts/{post.pk}/")).status_code == 404
    assert outsider.post(url(tenant_b, f"collection/{stats.channel.pk}/collect/")).status_code == 404
    assert outsider.get(url(tenant_b), {"channel": stats.channel.pk}).status_code == 404
    assert outsider.get(url(tenant_b), {"group": stats.local.pk}).status_code == 404


def test_a_member_limited_to_a_group_sees_only_its_channels(stats, client_for):
    scoped = membership(stats, Role.ANALYST)
    scoped.groups.set([stats.local])
    client = english(client_for(stats.member(Role.ANALYST)))
    page = client.get(url(stats)).content.decode()
    assert stats.channel.display_name in page
    assert stats.other_channel.display_name not in page
    assert client.get(url(stats), {"channel": stats.other_channel.pk}).status_code == 404
    assert client.get(url(stats), {"group": stats.other_local.pk}).status_code == 404
    for path in ("audience/", "best-time/", "posts/", "collection/"):
        assert stats.other_channel.display_name not in client.get(url(stats, path)).content.decode(), path
    other_post = ChannelPost.objects.filter(channel=stats.other_channel).first()
    assert client.get(url(stats, f"posts/{other_post.pk}/")).status_code == 404
    rows = list(
        csv.reader(io.StringIO(client.get(url(stats), {"format": "csv", "table": "rollup"}).text.lstrip("\ufeff")))
    )
    assert not any(stats.other_channel.display_name in cell for row in rows for cell in row)


def test_roles(stats, client_for, monkeypatch):
    moderator = client_for(stats.member(Role.MODERATOR))
    for path in PAGES:
        assert moderator.get(url(stats, path)).status_code == 403, path
    analyst = client_for(stats.member(Role.ANALYST))
    assert analyst.get(url(stats)).status_code == 200
    # Reading, not changing: no collecting, no watching.
    assert analyst.post(url(stats, f"collection/{stats.channel.pk}/collect/")).status_code == 403
    assert analyst.post(url(stats, "watched/"), {"network": "bluesky", "handle": "x.bsky.social"}).status_code == 403
    assert "Collect now" not in english(analyst).get(url(stats, "collection/")).content.decode()

    ran = []
    monkeypatch.setattr("beffroi.insights.tasks.sync_channel_now", lambda channel, http: ran.append(channel.pk))
    validator = english(client_for(stats.member(Role.VALIDATOR)))
    assert "Collect now" in validator.get(url(stats, "collection/")).content.decode()
    response = validator.post(url(stats, f"collection/{stats.channel.pk}/collect/"), follow=True)
    assert response.status_code == 200 and ran == [stats.channel.pk]
    assert "has started" in response.content.decode()


def test_collection_shows_each_channels_sync(stats, client_for):
    InsightsSync.objects.filter(channel=stats.channel).update(
        status=InsightsSync.Status.WAITING, progress={"step": "posts", "done": 3, "total": 7}, last_error="Slow down"
    )
    page = english(client_for(stats.member(Role.ADMIN))).get(url(stats, "collection/")).content.decode()
    assert "Waiting for the network (rate limit)" in page
    assert "posts: 3 of 7" in page and "Slow down" in page


def read_csv(response) -> tuple[str, list[list[str]]]:
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")  # Excel reads UTF-8 with its byte-order mark
    body = text.lstrip("\ufeff")
    delimiter = ";" if body.split("\r\n", 1)[0].count(";") else ","
    return delimiter, list(csv.reader(io.StringIO(body), delimiter=delimiter))


def test_csv_has_the_values_and_never_turns_unavailable_into_zero(stats, client_for):
    client = english(client_for(stats.member(Role.ADMIN)))
    response = client.get(url(stats), {"format": "csv", "table": "figures", "channel": stats.other_channel.pk})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    delimiter, rows = read_csv(response)
    assert delimiter == ","
    header, body = rows[0], rows[1:]
    assert header[:4] == ["Measure", "This period", "Previous period", "Change (%)"]
    assert header[-1] == "Not available (why)"
    by_measure = {row[0]: row for row in body}
    reach = by_measure["People reached"]
    assert reach[1] == "" and "This network does not give this measure." in reach[-1]
    followers = by_measure["Followers"]
    with translation.override("en"):
        scope = scope_for(membership(stats), channel_id=stats.other_channel.pk)
        view = overview(scope, period_from_params({}, timezone.localdate())[0], "Europe/Paris")
    assert followers[1] == str(view.figures[str(Metric.FOLLOWERS)].value)
    assert followers[3] == f"{view.figures[str(Metric.FOLLOWERS)].change_pct:.1f}"


def test_csv_in_french_uses_semicolons_a_decimal_comma_and_french_headers(stats, client_for):
    client = client_for(stats.member(Role.ADMIN))
    client.cookies["beffroi_language"] = "fr"
    delimiter, rows = read_csv(client.get(url(stats, "audience/"), {"format": "csv", "table": "country"}))
    assert delimiter == ";"
    with translation.override("fr"):
        from django.utils.translation import gettext

        assert rows[0][1] == gettext("People")
    shares = [row[2] for row in rows[1:]]
    assert shares and all("," in share and "." not in share for share in shares)
    # Every table of every page comes out.
    for path, table in [("", "series"), ("", "rollup"), ("online/", "heatmap"), ("best-time/", "best_time"),
                        ("posts/", "posts"), ("posts/", "by_type"), ("collection/", "collection")]:  # fmt: skip
        response = client.get(url(stats, path), {"format": "csv", "table": table})
        assert response.status_code == 200 and len(read_csv(response)[1]) > 1, table
    assert client.get(url(stats), {"format": "csv", "table": "nonsense"}).status_code == 404


def test_posts_are_sorted_on_the_server(stats, client_for):
    client = english(client_for(stats.member(Role.ADMIN)))
    _delimiter, rows = read_csv(client.get(url(stats, "posts/"), {"format": "csv", "sort": "reach", "dir": "asc"}))
    reach_column = rows[0].index("Reach")
    known = [int(row[reach_column]) for row in rows[1:] if row[reach_column]]
    assert known == sorted(known) and len(known) > 3
    # Unknown reach (Mastodon) last, whichever the direction.
    assert all(row[reach_column] == "" for row in rows[1 + len(known) :])
    page = client.get(url(stats, "posts/"), {"sort": "reach", "dir": "asc"}).content.decode()
    assert 'aria-sort="ascending"' in page


def pdf_text(content: bytes) -> tuple[int, str]:
    document = pdfium.PdfDocument(content)
    text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    return len(document), text


@pytest.mark.parametrize("language", ["fr", "en"])
def test_pdf_report_is_a_real_pdf_with_the_organisation(stats, client_for, language):
    response = client_for(stats.member(Role.ANALYST)).get(url(stats, "report.pdf"), {"lang": language, "days": "28"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    pages, text = pdf_text(response.content)
    assert pages >= 2
    assert stats.organisation.name in text
    with translation.override(language):
        from django.utils.translation import gettext

        assert gettext("Statistics report") in text
        assert gettext("Key figures") in text
