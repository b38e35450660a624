"""Channel queues: weekly slots in the channel's zone, "add to queue" takes the next free one."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Role
from beffroi.publishing.models import Post, Publication
from beffroi.publishing.queues import next_free_slot, set_slots
from beffroi.publishing.services import add_to_queue
from beffroi.publishing.states import State

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")


def _admin(tenant) -> Membership:
    return Membership.objects.get(organisation=tenant.organisation, user=tenant.member(Role.ADMIN))


def test_the_next_free_slot_skips_taken_ones(tenant_a, mastodon_channels):
    channel, _other = mastodon_channels()
    set_slots(channel, [(0, "12:00"), (2, "12:00"), (4, "12:00")])  # Monday, Wednesday, Friday
    monday_afternoon = datetime(2027, 3, 22, 13, 0, tzinfo=PARIS)
    assert next_free_slot(channel, after=monday_afternoon) == datetime(2027, 3, 24, 12, 0)
    post = Post.objects.create(organisation=tenant_a.organisation, text="x")
    Publication.objects.create(
        post=post, channel=channel, state=State.SCHEDULED, due_at=datetime(2027, 3, 24, 12, 0, tzinfo=PARIS)
    )
    assert next_free_slot(channel, after=monday_afternoon) == datetime(2027, 3, 26, 12, 0)


def test_a_slot_in_the_spring_forward_gap_is_skipped_that_week(tenant_a, mastodon_channels):
    channel, _other = mastodon_channels()
    set_slots(channel, [(6, "02:30")])  # Sunday 02:30 does not exist on 28 March 2027 in Paris
    friday = datetime(2027, 3, 26, 9, 0, tzinfo=PARIS)
    assert next_free_slot(channel, after=friday) == datetime(2027, 4, 4, 2, 30)


def test_add_to_queue_gives_each_channel_its_own_local_slot(tenant_a, mastodon_channels):
    paris, montreal = mastodon_channels()
    every_day_noon = [(day, "12:00") for day in range(7)]
    set_slots(paris, every_day_noon)
    set_slots(montreal, every_day_noon)
    admin = _admin(tenant_a)
    first = add_to_queue(admin, text="Premier", channel_ids=[paris.pk, montreal.pk], duplicate_reason="Deux publics")
    second = add_to_queue(admin, text="Second", channel_ids=[paris.pk], duplicate_reason="")
    by_channel = {p.channel_id: p for p in first.publications.all()}
    for channel, zone in ((paris, "Europe/Paris"), (montreal, "America/Montreal")):
        local = by_channel[channel.pk].due_at.astimezone(ZoneInfo(zone))
        assert local.time() == time(12, 0) and by_channel[channel.pk].scheduled_tz == zone
    later = second.publications.get().due_at
    assert later > by_channel[paris.pk].due_at  # the next day's slot, not the same one
    assert [e.action for e in first.events.all()] == ["scheduled", "queued"]


def test_no_slots_or_bad_slots_are_clear_errors(tenant_a, mastodon_channels):
    channel, _other = mastodon_channels()
    with pytest.raises(ValidationError) as refused:
        add_to_queue(_admin(tenant_a), text="x", channel_ids=[channel.pk])
    assert "Mastodon 0" in " ".join(refused.value.messages)
    assert not Post.objects.exists()
    with pytest.raises(ValidationError):
        set_slots(channel, [(1, "25:99")])
    with pytest.raises(ValidationError):
        set_slots(channel, [(9, "12:00")])


def test_the_channel_page_edits_the_queue(tenant_a, client_for):
    client = client_for(tenant_a.member(Role.ADMIN))
    url = f"/o/{tenant_a.organisation.slug}/settings/channels/{tenant_a.channel.pk}/"
    response = client.post(f"{url}queue/", {"day-0": "09:00, 17:30", "day-4": "12:00"})
    assert response.status_code == 302
    assert [(s.weekday, s.time.strftime("%H:%M")) for s in tenant_a.channel.queue_slots.all()] == [
        (0, "09:00"),
        (0, "17:30"),
        (4, "12:00"),
    ]
    page = client.get(url).content.decode()
    assert 'value="09:00, 17:30"' in page
    client.post(f"{url}queue/", {"day-1": "midi"})
    assert tenant_a.channel.queue_slots.count() == 3  # a bad time changes nothing


def test_the_api_sets_slots_and_queues_a_post(tenant_a, mastodon_channels, client_for):
    channel, _other = mastodon_channels()
    client = client_for(tenant_a.member(Role.ADMIN))
    base = f"/api/v1/organisations/{tenant_a.organisation.slug}"
    slots = [{"weekday": day, "time": "18:00"} for day in range(7)]
    assert client.put(f"{base}/channels/{channel.pk}/queue", slots, content_type="application/json").status_code == 200
    response = client.post(
        f"{base}/posts/queue", {"text": "En file", "channel_ids": [channel.pk]}, content_type="application/json"
    )
    assert response.status_code == 201
    [publication] = response.json()
    assert publication["state"] == "scheduled" and "T18:00" in publication["scheduled_local"]
    editor = client_for(tenant_a.member(Role.EDITOR))
    assert editor.put(f"{base}/channels/{channel.pk}/queue", slots, content_type="application/json").status_code == 403
