"""Scheduling in a channel's zone: the spring-forward gap is refused, the fall-back repeat is resolved."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from beffroi.publishing.timing import resolve_local_time


def test_a_time_in_the_spring_forward_gap_is_refused_with_a_clear_message():
    with translation.override("en"), pytest.raises(ValidationError) as error:
        resolve_local_time(datetime(2027, 3, 28, 2, 30), "Europe/Paris")
    message = error.value.messages[0]
    assert "02:30 does not exist on March 28, 2027 in Europe/Paris" in message
    assert "03:30" in message  # a suggestion that exists
    with translation.override("fr"), pytest.raises(ValidationError) as error:
        resolve_local_time(datetime(2027, 3, 28, 2, 30), "Europe/Paris")
    assert "n'existe pas" in error.value.messages[0]


def test_a_repeated_time_on_the_fall_back_day_is_resolved_and_said():
    with translation.override("en"):
        first = resolve_local_time(datetime(2026, 10, 25, 2, 30), "Europe/Paris")
        second = resolve_local_time(datetime(2026, 10, 25, 2, 30), "Europe/Paris", fold=1)
    assert first.ambiguous and second.ambiguous
    assert first.due_at == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert second.due_at == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, an hour later
    assert "first occurrence, UTC+02:00" in first.note
    assert "second occurrence, UTC+01:00" in second.note


def test_ordinary_times_are_not_ambiguous():
    resolved = resolve_local_time(datetime(2026, 12, 1, 12, 0), "America/Montreal")
    assert resolved.due_at == datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    assert not resolved.ambiguous and resolved.note == ""


@pytest.mark.django_db
def test_channel_in_montreal_and_viewer_in_paris_see_the_right_times(tenant_a, mastodon_channels, client_for):
    from beffroi.organisations.models import Membership
    from beffroi.organisations.roles import Role
    from beffroi.publishing.services import create_and_schedule_post

    montreal = mastodon_channels()[1]
    admin = tenant_a.member(Role.ADMIN)
    membership = Membership.objects.get(user=admin)
    post = create_and_schedule_post(
        membership, text="Portes ouvertes", channel_ids=[montreal.pk], local=datetime(2030, 6, 3, 9, 0)
    )
    publication = post.publications.get()
    assert publication.scheduled_tz == "America/Montreal"
    assert publication.due_at == datetime(2030, 6, 3, 13, 0, tzinfo=UTC)  # 09:00 EDT
    admin.time_zone = "Europe/Paris"
    admin.save()
    client = client_for(admin)
    client.cookies["beffroi_language"] = "en"
    page = client.get(f"/o/{tenant_a.organisation.slug}/publications/").content.decode()
    assert "09:00 (America/Montreal, UTC−04:00)" in page  # the channel's time
    assert "15:00 (Europe/Paris, UTC+02:00)" in page  # and the viewer's


@pytest.mark.django_db
def test_the_resolved_fall_back_ambiguity_is_shown_with_the_publication(tenant_a, mastodon_channels, client_for):
    from beffroi.organisations.roles import Role

    channel = mastodon_channels()[0]  # Europe/Paris
    client = client_for(tenant_a.member(Role.ADMIN))
    client.cookies["beffroi_language"] = "en"
    response = client.post(
        f"/api/v1/organisations/{tenant_a.organisation.slug}/posts",
        {
            "text": "Nuit du changement d'heure",
            "channel_ids": [channel.pk],
            "scheduled_at": "2032-10-31T02:30:00",
            "fold": 1,
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    [publication] = response.json()
    assert publication["due_at"].startswith("2032-10-31T01:30:00")  # 02:30 CET, the second one
    assert "second occurrence, UTC+01:00" in publication["time_note"]
    page = client.get(f"/o/{tenant_a.organisation.slug}/publications/").content.decode()
    assert "happens twice on" in page and "second occurrence" in page
