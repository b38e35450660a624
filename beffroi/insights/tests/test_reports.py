"""E-mailed reports: weekly on Mondays for the previous week, monthly on the 1st for the previous month, each sent
once (a second run sends nothing), only to people who may still read the statistics; the subscription form."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pypdfium2 as pdfium
import pytest
from django.core import mail
from django.core.management import call_command

from beffroi.insights.demo import generate_statistics
from beffroi.insights.models import ReportSubscription
from beffroi.insights.periods import Period
from beffroi.insights.reports import due_period, send_due_reports
from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Role

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 11, 16)


@pytest.fixture
def stats(tenant_a, fake_readers):
    generate_statistics(tenant_a.organisation, days=60, today=MONDAY)
    return tenant_a


def subscribe(tenant, role: str, frequency: str, *, language: str = "en", group=None) -> ReportSubscription:
    subscription = ReportSubscription.objects.create(
        organisation=tenant.organisation,
        user=tenant.member(role),
        frequency=frequency,
        language=language,
        group=group,
    )
    # Subscribed well before the dates the tests run on.
    ReportSubscription.objects.filter(pk=subscription.pk).update(created_at=datetime(2026, 1, 5, tzinfo=UTC))
    subscription.refresh_from_db()
    return subscription


def test_periods_covered():
    assert due_period("weekly", MONDAY) == (MONDAY, Period(date(2026, 11, 9), date(2026, 11, 15)))
    # Later in the week: still the report due on Monday.
    assert due_period("weekly", date(2026, 11, 19))[0] == MONDAY
    assert due_period("monthly", date(2026, 12, 1)) == (
        date(2026, 12, 1),
        Period(date(2026, 11, 1), date(2026, 11, 30)),
    )
    assert due_period("monthly", date(2026, 3, 15))[1] == Period(date(2026, 2, 1), date(2026, 2, 28))


def test_weekly_report_is_sent_once_per_week_with_the_pdf(stats):
    subscription = subscribe(stats, Role.ANALYST, "weekly")
    assert send_due_reports(MONDAY) == 1
    [message] = mail.outbox
    assert message.to == [stats.member(Role.ANALYST).email]
    assert stats.organisation.name in message.subject
    name, content, mimetype = message.attachments[0]
    assert mimetype == "application/pdf" and name.endswith("-en.pdf")
    document = pdfium.PdfDocument(content)
    assert stats.organisation.name in document[0].get_textpage().get_text_range()
    assert "People reached" in message.body
    subscription.refresh_from_db()
    assert subscription.last_sent_on == MONDAY
    # Again the same day, then on Tuesday: nothing more.
    assert send_due_reports(MONDAY) == 0
    assert send_due_reports(date(2026, 11, 17)) == 0
    assert len(mail.outbox) == 1
    # Next Monday: the next week's report.
    assert send_due_reports(date(2026, 11, 23)) == 1
    assert len(mail.outbox) == 2


def test_a_missed_monday_is_caught_up_once(stats):
    subscribe(stats, Role.ANALYST, "weekly")
    assert send_due_reports(date(2026, 11, 18)) == 1  # the Monday run did not happen
    assert send_due_reports(date(2026, 11, 19)) == 0


def test_monthly_report_goes_out_on_the_first(stats):
    subscribe(stats, Role.ADMIN, "monthly", language="fr")
    assert send_due_reports(date(2026, 12, 1)) == 1
    assert send_due_reports(date(2026, 12, 2)) == 0
    assert send_due_reports(date(2026, 12, 31)) == 0
    assert send_due_reports(date(2027, 1, 1)) == 1
    assert mail.outbox[0].attachments[0][0].endswith("-fr.pdf")


def test_a_new_subscription_starts_with_the_next_report(stats):
    subscription = ReportSubscription.objects.create(
        organisation=stats.organisation, user=stats.member(Role.ANALYST), frequency="weekly"
    )
    ReportSubscription.objects.filter(pk=subscription.pk).update(created_at=datetime(2026, 11, 18, 9, tzinfo=UTC))
    assert send_due_reports(date(2026, 11, 18)) == 0
    assert send_due_reports(date(2026, 11, 23)) == 1


def test_no_report_for_someone_who_may_no_longer_read_statistics(stats):
    subscribe(stats, Role.ANALYST, "weekly")
    Membership.objects.filter(user=stats.member(Role.ANALYST), organisation=stats.organisation).update(
        role=Role.MODERATOR
    )
    assert send_due_reports(MONDAY) == 0
    assert mail.outbox == []


def test_the_command_sends_due_reports(stats):
    subscribe(stats, Role.ANALYST, "weekly")
    out = io.StringIO()
    call_command("send_reports", "--date", MONDAY.isoformat(), stdout=out)
    assert "1 report(s) sent." in out.getvalue()
    call_command("send_reports", "--date", MONDAY.isoformat(), stdout=out)
    assert len(mail.outbox) == 1


def test_subscribing_and_stopping_from_the_page(stats, client_for):
    client = client_for(stats.member(Role.EDITOR))
    client.cookies["beffroi_language"] = "en"
    page = f"/o/{stats.organisation.slug}/insights/reports/"
    response = client.post(page, {"frequency": "weekly", "group": str(stats.local.pk), "language": "fr"}, follow=True)
    assert "You will receive this report by e-mail." in response.content.decode()
    subscription = ReportSubscription.objects.get(user=stats.member(Role.EDITOR))
    assert (subscription.frequency, subscription.group, subscription.language) == ("weekly", stats.local, "fr")
    again = client.post(page, {"frequency": "weekly", "group": str(stats.local.pk), "language": "fr"})
    assert "You already receive this report." in again.content.decode()
    # Someone else's subscription cannot be removed.
    other = subscribe(stats, Role.ANALYST, "monthly")
    assert client.post(f"{page}{other.pk}/delete/").status_code == 404
    client.post(f"{page}{subscription.pk}/delete/")
    assert not ReportSubscription.objects.filter(pk=subscription.pk).exists()


def test_a_scoped_member_can_only_choose_their_groups(stats, client_for):
    Membership.objects.get(user=stats.member(Role.EDITOR), organisation=stats.organisation).groups.set([stats.local])
    client = client_for(stats.member(Role.EDITOR))
    response = client.post(
        f"/o/{stats.organisation.slug}/insights/reports/",
        {"frequency": "weekly", "group": str(stats.other_local.pk), "language": "en"},
    )
    assert response.status_code == 200  # the form says the choice is not valid
    assert not ReportSubscription.objects.exists()
