"""The iCalendar feed (RFC 5545): parsed with a real iCalendar parser, right local times across DST, private."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from icalendar import Calendar

from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Role
from beffroi.publishing.models import CalendarFeed
from beffroi.publishing.services import create_and_schedule_post

pytestmark = pytest.mark.django_db

# Clocks go forward in Europe on Sunday 28 March 2027, and in America/Montreal on Sunday 14 March 2027.
BEFORE = datetime(2027, 3, 27, 10, 0)
AFTER = datetime(2027, 3, 29, 10, 0)


def _membership(tenant, role=Role.ADMIN) -> Membership:
    return Membership.objects.get(organisation=tenant.organisation, user=tenant.member(role))


def _events(response) -> list:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    return sorted(calendar.walk("VEVENT"), key=lambda e: e["DTSTART"].dt)


def test_local_times_are_right_on_both_sides_of_the_spring_change(tenant_a, client, mastodon_channels):
    paris, montreal = mastodon_channels()  # the first in the organisation's zone (Paris), the second in Montreal
    admin = _membership(tenant_a)
    for local in (BEFORE, AFTER):
        create_and_schedule_post(admin, text=f"Atelier du {local:%d/%m}", channel_ids=[paris.pk], local=local)
    create_and_schedule_post(admin, text="Québec", channel_ids=[montreal.pk], local=BEFORE)
    feed = CalendarFeed.objects.create(membership=admin)
    events = _events(client.get(f"/ical/{feed.token}.ics"))
    by_summary = {str(e["SUMMARY"]).split(" — ", 1)[1]: e for e in events}
    before, after = by_summary["Atelier du 27/03"]["DTSTART"].dt, by_summary["Atelier du 29/03"]["DTSTART"].dt
    assert (before.hour, after.hour) == (10, 10)  # 10:00 in Paris both days, as chosen
    assert before.utcoffset() == timedelta(hours=1) and after.utcoffset() == timedelta(hours=2)
    quebec = by_summary["Québec"]["DTSTART"].dt
    assert quebec.hour == 10 and quebec.utcoffset() == timedelta(hours=-4)  # Montreal is already on summer time
    # The zones travel with the file, so any calendar app computes the same instants.
    calendar = Calendar.from_ical(client.get(f"/ical/{feed.token}.ics").content)
    assert {str(z["TZID"]) for z in calendar.walk("VTIMEZONE")} == {"Europe/Paris", "America/Montreal"}
    paris_zone = next(z for z in calendar.walk("VTIMEZONE") if str(z["TZID"]) == "Europe/Paris")
    assert {c.name for c in paris_zone.subcomponents} >= {"STANDARD", "DAYLIGHT"}
    assert all(str(e["UID"]).startswith("publication-") for e in events)


def test_a_group_feed_and_a_scoped_person_see_only_their_pages(tenant_a, client, mastodon_channels):
    local_channel, _other = mastodon_channels()  # both in tenant_a.local
    admin = _membership(tenant_a)
    create_and_schedule_post(admin, text="Local", channel_ids=[local_channel.pk], local=BEFORE)
    tenant_a.other_channel.network = "mastodon"
    tenant_a.other_channel.config = {"instance_url": "http://127.0.0.1:9"}
    tenant_a.other_channel.save()
    create_and_schedule_post(admin, text="Ailleurs", channel_ids=[tenant_a.other_channel.pk], local=BEFORE)
    everything = CalendarFeed.objects.create(membership=admin)
    only_local = CalendarFeed.objects.create(membership=admin, group=tenant_a.local)
    summaries = lambda feed: [str(e["SUMMARY"]) for e in _events(client.get(f"/ical/{feed.token}.ics"))]  # noqa: E731
    assert len(summaries(everything)) == 2
    assert [s.rsplit(" — ", 1)[1] for s in summaries(only_local)] == ["Local"]
    editor = _membership(tenant_a, Role.EDITOR)
    editor.groups.set([tenant_a.other_local])
    scoped = CalendarFeed.objects.create(membership=editor)
    assert [s.rsplit(" — ", 1)[1] for s in summaries(scoped)] == ["Ailleurs"]


def test_revoked_or_orphaned_addresses_give_nothing(tenant_a, client):
    admin = _membership(tenant_a)
    feed = CalendarFeed.objects.create(membership=admin)
    assert client.get(f"/ical/{feed.token}.ics").status_code == 200
    assert client.get("/ical/guessed-token.ics").status_code == 404
    admin.role = Role.MODERATOR  # no longer allowed to see publications
    admin.save()
    assert client.get(f"/ical/{feed.token}.ics").status_code == 404
    admin.role = Role.ADMIN
    admin.save()
    admin.user.is_active = False
    admin.user.save()
    assert client.get(f"/ical/{feed.token}.ics").status_code == 404


def test_people_create_and_revoke_their_own_addresses(tenant_a, tenant_b, client_for):
    client = client_for(tenant_a.member(Role.VALIDATOR))
    page = f"/o/{tenant_a.organisation.slug}/calendar/feeds/"
    assert client.post(page, {"group": ""}).status_code == 302
    feed = CalendarFeed.objects.get()
    listing = client.get(page).content.decode()
    assert f"/ical/{feed.token}.ics" in listing
    # Someone else's address cannot be revoked by id, even in the same organisation.
    other = client_for(tenant_a.member(Role.ADMIN))
    assert other.post(f"{page}{feed.pk}/revoke/").status_code == 404
    assert client.post(f"{page}{feed.pk}/revoke/").status_code == 302
    assert not CalendarFeed.objects.exists()
    assert client_for(tenant_a.member(Role.MODERATOR)).get(page).status_code == 403
    # A group of another organisation is refused.
    assert client.post(page, {"group": tenant_b.local.pk}).status_code == 404
