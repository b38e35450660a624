"""The whole planning flow in a real browser: an editor composes a post for 3 pages on 2 networks with a variant,
sees a check fail then pass, meets the duplicate guard, submits; a validator approves it, finds it in the calendar
and drags it to another day; the engine publishes it through the network simulator; it is listed as published with
its links."""

from __future__ import annotations

import re
import threading
import zoneinfo
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from beffroi.channels.models import Channel
from beffroi.organisations.models import PageGroup
from beffroi.publishing.models import Publication
from beffroi.publishing.states import State
from beffroi.publishing.testing import run_dispatcher_until
from beffroi.publishing.worker.dispatcher import Dispatcher
from beffroi.simulator import SimulatorServer
from beffroi.tests.browser.conftest import (
    BASSIN,
    DEMO_PASSWORD,
    EMAILS,
    click_and_load,
    org_url,
    screenshot,
    submit_login,
)

pytestmark = pytest.mark.browser
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


@pytest.fixture
def simulator():
    server = SimulatorServer()
    server.start()
    yield server
    server.stop()


def _pages(simulator_url: str) -> list[Channel]:
    """Two Mastodon pages and an Atom feed in Valenciennes (the demo editor's group)."""
    group = PageGroup.objects.get(organisation__slug=BASSIN, name="Valenciennes")
    organisation = group.organisation
    pages = []
    for name in ("centre_valenciennes", "jeunes_valenciennes"):
        channel = Channel.objects.create(
            organisation=organisation,
            group=group,
            network="mastodon",
            display_name=f"Mastodon {name}",
            remote_id=name,
            config={"instance_url": simulator_url, "max_characters": 500},
        )
        channel.credentials = {"access_token": f"tok-{name}"}
        channel.save()
        pages.append(channel)
    pages.append(
        Channel.objects.create(
            organisation=organisation,
            group=group,
            network="atom",
            display_name="Lettre de Valenciennes",
            remote_id="lettre-valenciennes",
            config={"feed_token": "lettre-valenciennes"},
        )
    )
    return pages


def _log_in_as(page, role: str, next_url: str) -> None:
    page.context.clear_cookies()
    page.goto(f"/accounts/login/?next={next_url}")
    submit_login(page, EMAILS[role], DEMO_PASSWORD)
    expect(page).to_have_url(re.compile(re.escape(next_url)))


def _drag(page, publication_id: int, day: str) -> None:
    source = page.locator(f'.fc-event[data-publication="{publication_id}"]')
    target = page.locator(f'td.fc-daygrid-day[data-date="{day}"] .fc-daygrid-day-events')
    expect(source).to_be_visible()
    source.scroll_into_view_if_needed()
    start, end = source.bounding_box(), target.bounding_box()
    assert start and end
    page.mouse.move(start["x"] + 10, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + 20, end["y"] + 10, steps=15)
    page.mouse.up()


def test_compose_check_submit_approve_move_and_publish(page, simulator):
    mastodon_a, mastodon_b, feed = _pages(simulator.url)
    # A Wednesday a few weeks ahead (its Thursday is on the same calendar row).
    day = (timezone.now().astimezone(PARIS) + timedelta(days=21)).date()
    day += timedelta(days=(2 - day.weekday()) % 7)

    # The editor composes for the three pages.
    _log_in_as(page, "editor", org_url(BASSIN, "compose/"))
    # The whole Valenciennes group at once: its pages (the editor sees only this group).
    page.get_by_role("button", name=re.compile("Valenciennes$")).click()
    for channel in (mastodon_a, mastodon_b, feed):
        expect(page.locator(f"#channel-{channel.pk}")).to_be_checked()
    # …then leave out the centre's Facebook and Instagram pages for this one.
    for other in Channel.objects.filter(group=mastodon_a.group, network__in=["facebook", "instagram"]):
        page.locator(f"#channel-{other.pk}").uncheck()
    page.locator("#text").fill("Sortie au musée du Louvre-Lens samedi, départ 9 h du centre. " + "Inscriptions ! " * 35)
    checks = page.locator("#checks")
    expect(checks.locator('section[data-network="mastodon"] .error')).to_contain_text("Trop long pour Mastodon")
    expect(checks.locator('section[data-network="atom"]')).not_to_contain_text("Trop long")
    page.locator("details.variants > summary").click()
    page.locator("#variant-mastodon").fill("Sortie au Louvre-Lens samedi, départ 9 h : inscrivez-vous à l'accueil !")
    expect(checks.locator('section[data-network="mastodon"] .error')).to_have_count(0)
    page.locator("#date").fill(day.isoformat())
    page.locator("#time").fill("10:00")
    click_and_load(page, page.get_by_role("button", name="Soumettre à validation"))

    # The duplicate guard: the same text on two Mastodon pages of the organisation.
    expect(page.locator("main .form-errors")).to_contain_text("recevraient deux fois")
    page.locator("#duplicate_reason").fill("Deux publics : les familles et les jeunes")
    click_and_load(page, page.get_by_role("button", name="Soumettre à validation"))
    expect(page).to_have_url(re.compile(r"tab=awaiting"))
    publications = list(Publication.objects.filter(channel__in=[mastodon_a, mastodon_b, feed]).order_by("pk"))
    assert {p.state for p in publications} == {State.AWAITING_APPROVAL} and len(publications) == 3
    screenshot(page, "plan-submitted")

    # The validator approves it from the list.
    _log_in_as(page, "validator", org_url(BASSIN, "publications/?tab=awaiting"))
    post_id = publications[0].post_id
    click_and_load(page, page.locator(f'form[action$="/posts/{post_id}/approve/"] button'))
    expect(page.locator("main .messages .message.success")).to_contain_text("Validée")
    assert {p.state for p in Publication.objects.filter(post_id=post_id)} == {State.SCHEDULED}

    # …finds it in the calendar and drags the feed's publication to the next day.
    page.goto(org_url(BASSIN, f"calendar/?date={day.isoformat()}"))
    moved = next(p for p in publications if p.channel_id == feed.pk)
    expect(page.locator(f'td[data-date="{day.isoformat()}"] .fc-event[data-publication="{moved.pk}"]')).to_be_visible()
    _drag(page, moved.pk, (day + timedelta(days=1)).isoformat())
    expect(page.locator("#calendar-status")).to_have_attribute("data-kind", "success")
    moved.refresh_from_db()
    assert moved.due_at.astimezone(PARIS).date() == day + timedelta(days=1)
    assert moved.due_at.astimezone(PARIS).hour == 10

    # Time passes: the engine publishes all three through the simulator (and the Atom feed).
    Publication.objects.filter(post_id=post_id).update(due_at=timezone.now(), run_at=timezone.now())
    worker = threading.Thread(
        target=run_dispatcher_until,
        args=(
            Dispatcher(concurrency=4, sweep_s=0.5),
            lambda: Publication.objects.filter(post_id=post_id, state=State.PUBLISHED).count() == 3,
        ),
    )
    worker.start()
    worker.join(timeout=60)
    assert Publication.objects.filter(post_id=post_id, state=State.PUBLISHED).count() == 3
    assert simulator.stats()["posts"] == 2 and simulator.stats()["duplicates"] == 0

    page.goto(org_url(BASSIN, "publications/?tab=published"))
    rows = page.locator("main table tbody tr", has_text="Louvre-Lens")
    expect(rows).to_have_count(3)
    expect(rows.get_by_role("link", name="Voir la publication")).to_have_count(3)
    screenshot(page, "plan-published")
