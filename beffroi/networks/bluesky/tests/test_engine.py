"""Bluesky through the whole product against the real local PDS: connected from the settings, published by the
engine, read back, renewed sessions stored, deleted."""

from __future__ import annotations

import pytest

from beffroi.channels.models import Channel
from beffroi.media.services import store_upload
from beffroi.networks.tests import media_files
from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Role
from beffroi.publishing.models import Publication
from beffroi.publishing.services import create_and_schedule_post, delete_publication
from beffroi.publishing.states import State
from beffroi.publishing.testing import run_dispatcher_until
from beffroi.publishing.worker.dispatcher import Dispatcher

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def local_pds_allowed(settings, tmp_path):
    settings.BLUESKY_ALLOW_PRIVATE_SERVICES = True
    settings.MEDIA_ROOT = tmp_path / "media"


def _connect_from_settings(tenant, client_for, pds, account) -> Channel:
    client = client_for(tenant.member(Role.ADMIN))
    start = client.post(
        f"/o/{tenant.organisation.slug}/settings/channels/connect/",
        {"network": "bluesky", "handle": account.handle, "app_password": account.app_password, "service": pds.url},
    )
    assert start.status_code == 302 and "/connect/" in start["Location"], start
    done = client.post(start["Location"], {"account": "0", "group": tenant.local.pk})
    assert done.status_code == 302
    return Channel.objects.get(network="bluesky", remote_id=account.did)


def _publish_all() -> None:
    run_dispatcher_until(
        Dispatcher(concurrency=4, sweep_s=60),
        lambda: not Publication.objects.filter(state__in=[State.SCHEDULED, State.PUBLISHING]).exists(),
    )


def test_a_post_with_a_picture_goes_out_through_the_engine_and_is_deleted(
    tenant_a, client_for, pds, alice, bob, local_pds_allowed, tmp_path
):
    channel = _connect_from_settings(tenant_a, client_for, pds, alice)
    assert channel.handle == alice.handle and channel.token_expires_at is not None
    picture = store_upload(tenant_a.organisation, media_files.image(tmp_path / "a.jpg", (800, 600)).open("rb"))
    admin = Membership.objects.get(organisation=tenant_a.organisation, user=tenant_a.member(Role.ADMIN))
    text = f"#Fête au centre avec @{bob.handle} : https://centre.example.org/fête 🎉"
    create_and_schedule_post(
        admin,
        text=text,
        channel_ids=[channel.pk],
        local=None,
        media=[(picture, "L'affiche de la fête")],
        options={channel.pk: {"reply_control": "mentioned"}},
    )
    _publish_all()
    publication = Publication.objects.get()
    assert publication.state == State.PUBLISHED, publication.last_error
    assert publication.remote_url.startswith(f"https://bsky.app/profile/{alice.handle}/post/")
    record = pds.get_record(publication.remote_id).json()["value"]
    assert record["text"] == text
    assert {feature["$type"] for facet in record["facets"] for feature in facet["features"]} == {
        "app.bsky.richtext.facet#tag",
        "app.bsky.richtext.facet#mention",
        "app.bsky.richtext.facet#link",
    }
    assert record["embed"]["images"][0]["alt"] == "L'affiche de la fête"
    rkey = publication.remote_id.rsplit("/", 1)[1]
    [gate] = pds.list_records(alice.did, "app.bsky.feed.threadgate")
    assert gate["uri"].endswith(rkey)

    delete_publication(admin, publication)
    assert pds.get_record(publication.remote_id).status_code == 400  # RecordNotFound
    publication.refresh_from_db()
    assert publication.state == State.DELETED


def test_a_session_renewed_while_publishing_is_stored_for_every_worker(
    tenant_a, client_for, pds, alice, local_pds_allowed
):
    channel = _connect_from_settings(tenant_a, client_for, pds, alice)
    channel.store_credentials({"access_jwt": "expired-or-garbage"})
    channel.save()
    admin = Membership.objects.get(organisation=tenant_a.organisation, user=tenant_a.member(Role.ADMIN))
    create_and_schedule_post(admin, text="Bonjour", channel_ids=[channel.pk], local=None)
    _publish_all()
    assert Publication.objects.get().state == State.PUBLISHED
    channel.refresh_from_db()
    stored = channel.credentials
    assert stored["access_jwt"] not in ("", "expired-or-garbage")
    assert stored["app_password"] == alice.app_password  # nothing the network did not resend is dropped
