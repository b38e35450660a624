"""The calendar: its page, its events (range, tenancy, filters, time zones) and moving a post by drag-and-drop."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from beffroi.channels.models import Channel
from beffroi.networks.registry import Network
from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Role
from beffroi.publishing.models import Post, Publication, Variant
from beffroi.publishing.states import State

pytestmark = pytest.mark.django_db

EVENT_KEYS = {
    "id",
    "title",
    "start",
    "network",
    "network_label",
    "state",
    "state_label",
    "channel",
    "editable",
    "url",
    "classNames",
}


def publish_at(channel: Channel, when: datetime, state: str = State.SCHEDULED, text: str = "Hello", **extra):
    post = Post.objects.create(organisation=channel.organisation, text=text)
    zone = channel.effective_time_zone
    local = when.astimezone(zoneinfo.ZoneInfo(zone)).replace(tzinfo=None)
    return Publication.objects.create(
        post=post,
        channel=channel,
        state=state,
        due_at=when,
        run_at=when,
        scheduled_local=local.isoformat(timespec="minutes"),
        scheduled_tz=zone,
        **extra,
    )


def events(client, tenant, **params):
    query = {"start": "2031-03-01T00:00:00", "end": "2031-04-12T00:00:00", **params}
    response = client.get(f"/o/{tenant.organisation.slug}/calendar/events", query)
    assert response.status_code == 200, response.content
    return response.json()


def english(client):
    client.cookies["beffroi_language"] = "en"
    return client


def test_page_names_the_zone_and_allows_only_a_style_nonce(tenant_a, client_for):
    client = english(client_for(tenant_a.member(Role.ADMIN)))
    response = client.get(f"/o/{tenant_a.organisation.slug}/calendar/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Times are shown in your time zone: Europe/Paris" in page
    assert 'data-events-url="/o/org-a/calendar/events"' in page
    assert 'data-locale="en-gb"' in page and 'data-time-zone="Europe/Paris"' in page
    assert "vendor/fullcalendar/index.global.min.js" in page and "beffroi/calendar.js" in page
    assert "<script>" not in page  # no inline script
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'nonce-" in policy.split("style-src", 1)[1].split(";")[0]
    assert "'nonce-" not in policy.split("script-src", 1)[1].split(";")[0]
    assert 'name="csp-nonce"' in page
    # The legend lists the networks of the visible channels.
    assert "network-facebook" in page and "network-mastodon" in page


def test_page_is_french_by_default(tenant_a, client_for):
    page = client_for(tenant_a.member(Role.ADMIN)).get(f"/o/{tenant_a.organisation.slug}/calendar/").content.decode()
    assert 'data-locale="fr"' in page and "locales/fr.global.min.js" in page


def test_events_in_range_only_with_their_shape(tenant_a, client_for):
    inside = publish_at(tenant_a.channel, datetime(2031, 3, 10, 8, 0, tzinfo=UTC), text="x" * 80)
    Variant.objects.create(post=inside.post, channel=tenant_a.channel, text="Variant text for Facebook")
    published = publish_at(
        tenant_a.other_channel,
        datetime(2031, 3, 11, 8, 0, tzinfo=UTC),
        state=State.PUBLISHED,
        text="y" * 80,
        remote_url="https://mastodon.example/@a/1",
        published_at=datetime(2031, 3, 11, 8, 1, tzinfo=UTC),
    )
    publish_at(tenant_a.channel, datetime(2031, 2, 27, 8, 0, tzinfo=UTC))  # before
    publish_at(tenant_a.channel, datetime(2031, 4, 12, 0, 0, tzinfo=UTC))  # after (end is exclusive)
    found = events(english(client_for(tenant_a.member(Role.ADMIN))), tenant_a)
    assert [e["id"] for e in found] == [inside.pk, published.pk]
    assert all(set(e) == EVENT_KEYS for e in found)
    first, second = found
    assert first["title"] == "Variant text for Facebook"
    assert first["start"] == "2031-03-10T09:00:00+01:00"
    assert (first["network"], first["state"], first["channel"]) == ("facebook", "scheduled", "a page")
    assert first["editable"] is True
    assert first["url"] == f"/o/org-a/posts/{inside.post_id}/"  # a click opens the post's page
    assert second["title"] == "y" * 60 + "…"
    assert second["start"] == "2031-03-11T09:01:00+01:00"  # when it went out
    assert (second["state"], second["state_label"], second["editable"]) == ("published", "Published", False)
    assert second["url"] == f"/o/org-a/posts/{published.post_id}/"  # its page links to the live post


def test_bad_or_too_long_ranges_are_refused(tenant_a, client_for):
    client = client_for(tenant_a.member(Role.ADMIN))
    url = f"/o/{tenant_a.organisation.slug}/calendar/events"
    assert client.get(url).status_code == 400
    assert client.get(url, {"start": "soon", "end": "later"}).status_code == 400
    assert client.get(url, {"start": "2031-01-01", "end": "2031-12-31"}).status_code == 400
    with_offset = client.get(url, {"start": "2031-03-01T00:00:00+01:00", "end": "2031-04-01T00:00:00+02:00"})
    assert with_offset.status_code == 200


def test_another_organisation_is_not_found(tenant_a, tenant_b, client_for):
    theirs = publish_at(tenant_b.channel, datetime(2031, 3, 10, 8, 0, tzinfo=UTC))
    client = client_for(tenant_a.member(Role.ADMIN))
    b = tenant_b.organisation.slug
    assert client.get(f"/o/{b}/calendar/").status_code == 404
    assert client.get(f"/o/{b}/calendar/events", {"start": "2031-03-01", "end": "2031-04-01"}).status_code == 404
    a = tenant_a.organisation.slug
    moved = client.post(f"/o/{a}/calendar/events/{theirs.pk}/move", {"start": "2031-03-12T09:00"})
    assert moved.status_code == 404
    assert all(e["id"] != theirs.pk for e in events(client, tenant_a))


def test_a_scoped_editor_sees_only_their_groups_channels(tenant_a, client_for):
    mine = publish_at(tenant_a.channel, datetime(2031, 3, 10, 8, 0, tzinfo=UTC))
    other = publish_at(tenant_a.other_channel, datetime(2031, 3, 10, 9, 0, tzinfo=UTC))
    editor = tenant_a.member(Role.EDITOR)
    Membership.objects.get(user=editor).groups.add(tenant_a.local)
    client = client_for(editor)
    found = events(client, tenant_a)
    assert [e["id"] for e in found] == [mine.pk]
    assert found[0]["editable"] is False  # an editor cannot publish
    assert [e["id"] for e in events(client, tenant_a, channel=tenant_a.other_channel.pk)] == []
    page = client.get(f"/o/{tenant_a.organisation.slug}/calendar/").content.decode()
    assert tenant_a.other_channel.display_name not in page
    moved = client.post(
        f"/o/{tenant_a.organisation.slug}/calendar/events/{other.pk}/move", {"start": "2031-03-12T09:00"}
    )
    assert moved.status_code == 404


def test_filters(tenant_a, client_for):
    when = datetime(2031, 3, 10, 8, 0, tzinfo=UTC)
    facebook = publish_at(tenant_a.channel, when)
    mastodon = publish_at(tenant_a.other_channel, when + timedelta(hours=1), state=State.FAILED)
    cancelled = publish_at(tenant_a.channel, when + timedelta(hours=2), state=State.CANCELLED, text="gone")
    client = client_for(tenant_a.member(Role.ADMIN))

    def ids(**params):
        return [e["id"] for e in events(client, tenant_a, **params)]

    assert ids() == [facebook.pk, mastodon.pk]  # cancelled hidden unless asked for
    assert ids(channel=tenant_a.channel.pk) == [facebook.pk]
    assert ids(group=tenant_a.other_local.pk) == [mastodon.pk]
    assert ids(group=tenant_a.national.pk) == [facebook.pk, mastodon.pk]  # a group includes its subgroups
    assert ids(network=Network.MASTODON) == [mastodon.pk]
    assert ids(state=State.FAILED) == [mastodon.pk]
    assert ids(state=State.CANCELLED) == [cancelled.pk]
    assert ids(channel="nonsense", network="nonsense", state="nonsense") == [facebook.pk, mastodon.pk]


def test_times_are_in_the_viewers_zone_across_dst_changes(tenant_a, client_for):
    # Europe/Paris: clocks go forward on Sunday 30 March 2031 and back on Sunday 26 October 2031.
    march_before = publish_at(tenant_a.channel, datetime(2031, 3, 29, 8, 0, tzinfo=UTC))
    march_after = publish_at(tenant_a.channel, datetime(2031, 3, 31, 7, 0, tzinfo=UTC))
    october_before = publish_at(tenant_a.channel, datetime(2031, 10, 25, 7, 0, tzinfo=UTC))
    october_after = publish_at(tenant_a.channel, datetime(2031, 10, 27, 8, 0, tzinfo=UTC))
    admin = tenant_a.member(Role.ADMIN)
    client = client_for(admin)
    march = {e["id"]: e["start"] for e in events(client, tenant_a)}
    assert march[march_before.pk] == "2031-03-29T09:00:00+01:00"
    assert march[march_after.pk] == "2031-03-31T09:00:00+02:00"
    october = {
        e["id"]: e["start"] for e in events(client, tenant_a, start="2031-10-01T00:00:00", end="2031-11-10T00:00:00")
    }
    assert october[october_before.pk] == "2031-10-25T09:00:00+02:00"
    assert october[october_after.pk] == "2031-10-27T09:00:00+01:00"
    # A viewer in Toronto sees the same instants in their own zone (North America changes on other dates).
    admin.time_zone = "America/Toronto"
    admin.save(update_fields=["time_zone"])
    toronto = {e["id"]: e["start"] for e in events(client, tenant_a)}
    assert toronto[march_before.pk] == "2031-03-29T04:00:00-04:00"
    assert toronto[march_after.pk] == "2031-03-31T03:00:00-04:00"
    page = client.get(f"/o/{tenant_a.organisation.slug}/calendar/").content.decode()
    assert 'data-time-zone="America/Toronto"' in page


def move(client, tenant, publication, start):
    return client.post(f"/o/{tenant.organisation.slug}/calendar/events/{publication.pk}/move", {"start": start})


def test_moving_keeps_the_wall_clock_time_in_the_publications_zone(tenant_a, client_for):
    publication = publish_at(tenant_a.channel, datetime(2031, 3, 28, 8, 0, tzinfo=UTC))  # Friday 09:00 Paris
    client = english(client_for(tenant_a.member(Role.ADMIN)))
    response = move(client, tenant_a, publication, "2031-03-31T09:00:00")  # Monday, after the DST change
    assert response.status_code == 200, response.content
    publication.refresh_from_db()
    assert publication.due_at == datetime(2031, 3, 31, 7, 0, tzinfo=UTC)
    assert (publication.scheduled_local, publication.scheduled_tz) == ("2031-03-31T09:00", "Europe/Paris")
    assert publication.state == State.SCHEDULED
    body = response.json()
    assert body["start"] == "2031-03-31T09:00:00+02:00"
    assert "Moved" in body["message"] and "Europe/Paris" in body["message"]


def test_a_viewer_in_another_zone_moves_it_in_their_time_and_the_channel_zone_is_kept(tenant_a, client_for):
    publication = publish_at(tenant_a.channel, datetime(2031, 5, 5, 7, 0, tzinfo=UTC))  # 09:00 Paris
    admin = tenant_a.member(Role.ADMIN)
    admin.time_zone = "America/Toronto"
    admin.save(update_fields=["time_zone"])
    response = move(client_for(admin), tenant_a, publication, "2031-05-06T03:00:00")  # 03:00 Toronto
    assert response.status_code == 200, response.content
    publication.refresh_from_db()
    assert publication.due_at == datetime(2031, 5, 6, 7, 0, tzinfo=UTC)
    assert (publication.scheduled_local, publication.scheduled_tz) == ("2031-05-06T09:00", "Europe/Paris")
    assert response.json()["start"] == "2031-05-06T03:00:00-04:00"


def test_a_time_skipped_by_dst_is_refused(tenant_a, client_for):
    publication = publish_at(tenant_a.channel, datetime(2031, 3, 28, 8, 0, tzinfo=UTC))
    response = move(english(client_for(tenant_a.member(Role.ADMIN))), tenant_a, publication, "2031-03-30T02:30")
    assert response.status_code == 400
    assert "does not exist" in response.json()["error"]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (State.PUBLISHED, "already on the network"),
        (State.PUBLISHING, "being published right now"),
        (State.UNKNOWN, "already on the network"),
    ],
)
def test_moving_a_post_on_its_way_or_online_is_refused(state, message, tenant_a, client_for):
    publication = publish_at(tenant_a.channel, timezone.now() + timedelta(days=1), state=state)
    before = publication.due_at
    response = move(english(client_for(tenant_a.member(Role.ADMIN))), tenant_a, publication, "2031-06-01T09:00")
    assert response.status_code == 400
    assert message in response.json()["error"]
    publication.refresh_from_db()
    assert (publication.due_at, publication.state) == (before, state)


def test_moving_into_the_past_is_refused(tenant_a, client_for):
    publication = publish_at(tenant_a.channel, timezone.now() + timedelta(days=1))
    client = english(client_for(tenant_a.member(Role.ADMIN)))
    response = move(client, tenant_a, publication, "2020-01-06T09:00")
    assert response.status_code == 400
    assert "in the past" in response.json()["error"]
    assert move(client, tenant_a, publication, "not a date").status_code == 400


def test_moving_needs_the_publish_permission(tenant_a, client_for):
    publication = publish_at(tenant_a.channel, timezone.now() + timedelta(days=1))
    response = move(english(client_for(tenant_a.member(Role.EDITOR))), tenant_a, publication, "2031-06-01T09:00")
    assert response.status_code == 403
    assert response.json()["error"] == "Your role in this organisation does not allow this."


def test_roles_without_publications_cannot_see_the_calendar(tenant_a, client_for):
    client = client_for(tenant_a.member(Role.ANALYST))
    slug = tenant_a.organisation.slug
    assert client.get(f"/o/{slug}/calendar/").status_code == 403
    assert client.get(f"/o/{slug}/calendar/events", {"start": "2031-03-01", "end": "2031-04-01"}).status_code == 403


def test_a_validator_moves_a_failed_post_back_into_the_schedule(tenant_a, client_for):
    publication = publish_at(tenant_a.channel, timezone.now() - timedelta(days=1), state=State.FAILED)
    client = client_for(tenant_a.member(Role.VALIDATOR))
    assert move(client, tenant_a, publication, "2031-06-02T10:00").status_code == 200
    publication.refresh_from_db()
    assert (publication.state, publication.scheduled_local) == (State.SCHEDULED, "2031-06-02T10:00")
    assert client.get(f"/o/{tenant_a.organisation.slug}/calendar/events/{publication.pk}/move").status_code == 405


@pytest.mark.parametrize("role", Role.values)
def test_role_matrix_of_the_calendar_endpoints(role, tenant_a, client_for):
    """Every role: events with VIEW_PUBLICATIONS, moves with PUBLISH, else 403 (as in the organisations matrix)."""
    from beffroi.organisations.roles import Action, role_allows

    client = client_for(tenant_a.member(role))
    slug = tenant_a.organisation.slug
    publication = publish_at(tenant_a.channel, timezone.now() + timedelta(days=2))
    listed = client.get(f"/o/{slug}/calendar/events", {"start": "2031-03-01", "end": "2031-04-01"})
    assert listed.status_code == (200 if role_allows(role, Action.VIEW_PUBLICATIONS) else 403)
    moved = move(client, tenant_a, publication, "2031-06-03T09:00")
    assert moved.status_code == (200 if role_allows(role, Action.PUBLISH) else 403)


def test_a_temporary_post_is_drawn_until_it_is_removed(tenant_a, client_for):
    temporary = publish_at(
        tenant_a.channel,
        datetime(2031, 3, 10, 8, 0, tzinfo=UTC),
        remove_at=datetime(2031, 3, 12, 17, 0, tzinfo=UTC),
    )
    publish_at(tenant_a.channel, datetime(2031, 3, 11, 8, 0, tzinfo=UTC))
    first, second = events(english(client_for(tenant_a.member(Role.ADMIN))), tenant_a)
    assert first["id"] == temporary.pk
    assert first["end"] == "2031-03-12T18:00:00+01:00"
    assert "temporary" in first["classNames"]
    assert first["removal"].startswith("Temporary: removed") and "Europe/Paris" in first["removal"]
    assert "end" not in second and "removal" not in second
