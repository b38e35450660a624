"""The cross-page duplicate guard: the same post on two of an organisation's pages of one network is caught."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from beffroi.channels.models import Channel
from beffroi.media.services import store_upload
from beffroi.networks.tests import media_files
from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Role
from beffroi.publishing.duplicates import similarity
from beffroi.publishing.models import Post
from beffroi.publishing.services import create_and_schedule_post

pytestmark = pytest.mark.django_db


def _admin(tenant) -> Membership:
    return Membership.objects.get(organisation=tenant.organisation, user=tenant.member(Role.ADMIN))


def _in(hours: float):
    return (timezone.localtime(timezone.now() + timedelta(hours=hours))).replace(tzinfo=None, second=0, microsecond=0)


def test_near_duplicates_survive_small_edits_but_not_a_different_message():
    original = "Fête de quartier samedi à 14 h au centre social ! Venez nombreux 🎉 https://centre.fr/fete"
    assert (
        similarity(original, "fête de quartier, samedi a 14h au centre social : venez nombreux https://x.fr/y") >= 0.8
    )
    assert similarity(original, "Assemblée générale jeudi à 18 h au centre social, venez nombreux") < 0.5


def test_the_same_post_on_two_pages_of_one_network_needs_a_reason(tenant_a, mastodon_channels):
    first, second = mastodon_channels()
    with pytest.raises(ValidationError) as refused:
        create_and_schedule_post(
            _admin(tenant_a), text="Portes ouvertes samedi", channel_ids=[first.pk, second.pk], local=_in(3)
        )
    message = " ".join(refused.value.messages)
    assert "Mastodon 0" in message and "Mastodon 1" in message and "48" in message
    assert not Post.objects.exists()
    post = create_and_schedule_post(
        _admin(tenant_a),
        text="Portes ouvertes samedi",
        channel_ids=[first.pk, second.pk],
        local=_in(3),
        duplicate_reason="Deux villes, deux publics",
    )
    assert post.duplicate_reason == "Deux villes, deux publics"


def test_a_post_already_planned_on_a_sibling_page_is_named(tenant_a, mastodon_channels):
    first, second = mastodon_channels()
    create_and_schedule_post(
        _admin(tenant_a), text="Fête de quartier samedi à 14 h, venez nombreux !", channel_ids=[first.pk], local=_in(5)
    )
    with pytest.raises(ValidationError) as refused:
        create_and_schedule_post(
            _admin(tenant_a),
            text="fête de quartier samedi a 14h : venez nombreux 🎉",
            channel_ids=[second.pk],
            local=_in(20),
        )
    assert "Mastodon 0" in " ".join(refused.value.messages)
    # Far enough apart, or with the guard off, it goes through.
    create_and_schedule_post(
        _admin(tenant_a),
        text="Fête de quartier samedi à 14 h, venez nombreux !",
        channel_ids=[second.pk],
        local=_in(60),
    )


def test_other_networks_other_organisations_and_a_zero_window_are_not_duplicates(tenant_a, tenant_b, mastodon_channels):
    first, second = mastodon_channels()
    feed = Channel.objects.create(
        organisation=tenant_a.organisation,
        network="atom",
        display_name="Flux",
        remote_id="f",
        config={"feed_token": "f"},
    )
    # The same words on Mastodon and on the Atom feed: writing once for every network is the point.
    create_and_schedule_post(_admin(tenant_a), text="Même texte partout", channel_ids=[first.pk, feed.pk], local=_in(2))
    tenant_a.organisation.duplicate_window_hours = 0
    tenant_a.organisation.save()
    create_and_schedule_post(_admin(tenant_a), text="Même texte partout", channel_ids=[second.pk], local=_in(2))
    assert Post.objects.count() == 2


def test_the_same_picture_with_another_caption_is_a_duplicate(tenant_a, mastodon_channels, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    first, second = mastodon_channels()
    poster = store_upload(tenant_a.organisation, media_files.image(tmp_path / "a.jpg").open("rb"))
    create_and_schedule_post(
        _admin(tenant_a), text="L'affiche", channel_ids=[first.pk], local=_in(2), media=[(poster, "Affiche")]
    )
    with pytest.raises(ValidationError):
        create_and_schedule_post(
            _admin(tenant_a),
            text="Tout autre chose",
            channel_ids=[second.pk],
            local=_in(3),
            media=[(poster, "Affiche")],
        )


def test_the_api_says_why_and_accepts_a_reason(tenant_a, mastodon_channels, client_for):
    first, second = mastodon_channels()
    client = client_for(tenant_a.member(Role.ADMIN))
    url = f"/api/v1/organisations/{tenant_a.organisation.slug}/posts"
    body = {"text": "Bonjour à tous", "channel_ids": [first.pk, second.pk], "scheduled_at": _in(4).isoformat()}
    refused = client.post(url, body, content_type="application/json")
    assert refused.status_code == 422 and "Mastodon 1" in refused.json()["detail"]
    accepted = client.post(url, {**body, "duplicate_reason": "Deux publics"}, content_type="application/json")
    assert accepted.status_code == 201


def test_the_window_is_an_organisation_setting(tenant_a, client_for):
    client = client_for(tenant_a.member(Role.ADMIN))
    response = client.post(
        f"/o/{tenant_a.organisation.slug}/settings/",
        {"name": "Org a", "time_zone": "Europe/Paris", "language": "fr", "duplicate_window_hours": "72"},
    )
    assert response.status_code == 302
    tenant_a.organisation.refresh_from_db()
    assert tenant_a.organisation.duplicate_window_hours == 72


def test_moving_or_scheduling_a_draft_next_to_the_same_post_is_caught_too(tenant_a, mastodon_channels):
    from beffroi.publishing.services import reschedule_publication

    first, second = mastodon_channels()
    create_and_schedule_post(_admin(tenant_a), text="Collecte de jouets samedi", channel_ids=[first.pk], local=_in(5))
    later = create_and_schedule_post(
        _admin(tenant_a), text="Collecte de jouets samedi", channel_ids=[second.pk], local=_in(100)
    )
    moved = later.publications.get()
    with pytest.raises(ValidationError) as refused:
        reschedule_publication(_admin(tenant_a), moved, local=_in(6))
    assert "Mastodon 0" in " ".join(refused.value.messages)
    draft = create_and_schedule_post(
        _admin(tenant_a), text="Collecte de jouets samedi !", channel_ids=[second.pk], local=None, intent="draft"
    )
    with pytest.raises(ValidationError):
        reschedule_publication(_admin(tenant_a), draft.publications.get(), local=_in(4))
    reschedule_publication(_admin(tenant_a), moved, local=_in(150))  # far from the other: fine
