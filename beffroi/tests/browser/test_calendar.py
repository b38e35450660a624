"""The calendar in a real browser: a demo publication is shown, dragging a post moves it, a refused drop says why."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext
from playwright.sync_api import Page, expect

from beffroi.channels.models import Channel
from beffroi.networks.registry import Network
from beffroi.publishing.models import Post, Publication
from beffroi.publishing.states import State
from beffroi.tests.browser.conftest import BASSIN, org_url, screenshot

pytestmark = pytest.mark.browser

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def _wednesday_in_five_weeks() -> datetime:
    day = (timezone.now().astimezone(PARIS) + timedelta(days=35)).date()
    day += timedelta(days=(2 - day.weekday()) % 7)  # a Wednesday: the Thursday is on the same row
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=PARIS)


def _scheduled(text: str, when: datetime) -> Publication:
    channel = Channel.objects.get(organisation__slug=BASSIN, network=Network.ATOM)
    post = Post.objects.create(organisation=channel.organisation, text=text)
    return Publication.objects.create(
        post=post,
        channel=channel,
        state=State.SCHEDULED,
        due_at=when,
        run_at=when,
        scheduled_local=when.replace(tzinfo=None).isoformat(timespec="minutes"),
        scheduled_tz="Europe/Paris",
    )


def _drag(page: Page, publication: Publication, day: str) -> None:
    source = page.locator(f'.fc-event[data-publication="{publication.pk}"]')
    target = page.locator(f'td.fc-daygrid-day[data-date="{day}"] .fc-daygrid-day-events')
    expect(source).to_be_visible()
    source.scroll_into_view_if_needed()
    start, end = source.bounding_box(), target.bounding_box()
    assert start and end
    page.mouse.move(start["x"] + 10, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + 20, end["y"] + 10, steps=15)
    page.mouse.up()


def test_calendar_shows_demo_posts_and_moves_one_by_dragging(login):
    page = login("admin")
    page.goto(org_url(BASSIN, "calendar/"))
    expect(page.locator("main h1")).to_have_text("Calendrier")
    expect(page.locator("main")).to_contain_text("Europe/Paris")
    expect(page.locator(".fc-event", has_text="Bienvenue sur le fil").first).to_be_visible()
    expect(page.locator(".calendar-legend")).to_contain_text("Facebook")

    when = _wednesday_in_five_weeks()
    moved = _scheduled("Réunion des bénévoles : à déplacer au lendemain", when)
    page.goto(org_url(BASSIN, f"calendar/?date={when.date().isoformat()}"))
    expect(page.locator(f'td[data-date="{when.date().isoformat()}"] .fc-event[data-publication="{moved.pk}"]'))
    expect(page.locator(f'.fc-event[data-publication="{moved.pk}"]')).to_contain_text("10:00")
    next_day = (when + timedelta(days=1)).date().isoformat()
    _drag(page, moved, next_day)
    status = page.locator("#calendar-status")
    expect(status).to_have_attribute("data-kind", "success")
    expect(page.locator(f'td[data-date="{next_day}"] .fc-event[data-publication="{moved.pk}"]')).to_be_visible()
    moved.refresh_from_db()
    assert moved.due_at == (when + timedelta(days=1)).astimezone(UTC)
    assert moved.scheduled_local == (when + timedelta(days=1)).replace(tzinfo=None).isoformat(timespec="minutes")
    screenshot(page, "calendar-moved")


def test_a_refused_drop_goes_back_and_says_why(login):
    page = login("admin")
    when = _wednesday_in_five_weeks()
    gone = _scheduled("Publiée entre-temps par le worker", when)
    page.goto(org_url(BASSIN, f"calendar/?date={when.date().isoformat()}"))
    day = when.date().isoformat()
    expect(page.locator(f'td[data-date="{day}"] .fc-event[data-publication="{gone.pk}"]')).to_be_visible()
    # Meanwhile the post went out: the page still shows it as movable, the server refuses.
    Publication.objects.filter(pk=gone.pk).update(state=State.PUBLISHED, published_at=timezone.now())
    _drag(page, gone, (when + timedelta(days=1)).date().isoformat())
    status = page.locator("#calendar-status")
    expect(status).to_have_attribute("data-kind", "error")
    with translation.override("fr"):
        expected = gettext("This post is already on the network (or may already be): it can no longer be changed here.")
    expect(status).to_have_text(expected)
    expect(page.locator(f'td[data-date="{day}"] .fc-event[data-publication="{gone.pk}"]')).to_be_visible()
    gone.refresh_from_db()
    assert gone.due_at == when.astimezone(UTC)
