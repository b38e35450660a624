"""Mastodon through the whole product against the simulator: connected with OAuth from the settings pages,
published by the engine with a picture, a content warning and a poll, deleted."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
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
from beffroi.simulator import SimulatorServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def simulator(settings, tmp_path):
    settings.MASTODON_ALLOW_PRIVATE_INSTANCES = True
    settings.MEDIA_ROOT = tmp_path / "media"
    server = SimulatorServer()
    server.start()
    yield server
    server.stop()


def _connect_with_oauth(tenant, client_for, simulator, *, login_as: str) -> Channel:
    client = client_for(tenant.member(Role.ADMIN))
    start = client.post(
        f"/o/{tenant.organisation.slug}/settings/channels/connect/", {"network": "mastodon", "instance": simulator.url}
    )
    assert start.status_code == 302 and start["Location"].startswith(simulator.url + "/oauth/authorize"), start
    query = dict(httpx.URL(start["Location"]).params)
    assert query["code_challenge_method"] == "S256" and query["state"] and query["response_type"] == "code"
    # The person approves on the instance, which sends them back to Beffroi's callback with a code.
    approved = httpx.get(start["Location"] + f"&login_as={login_as}", follow_redirects=False)
    assert approved.status_code == 302
    callback = urlsplit(approved.headers["Location"])
    assert callback.path == "/connect/mastodon/callback/"
    choose = client.get(f"{callback.path}?{callback.query}")
    assert choose.status_code == 302 and "/settings/channels/connect/" in choose["Location"], choose
    done = client.post(choose["Location"], {"account": "0", "group": tenant.local.pk})
    assert done.status_code == 302
    return Channel.objects.get(network="mastodon", handle__startswith=f"@{login_as}@")


def test_connected_with_oauth_then_a_post_with_a_picture_cw_and_poll_goes_out(
    tenant_a, client_for, simulator, tmp_path
):
    channel = _connect_with_oauth(tenant_a, client_for, simulator, login_as="centre")
    assert channel.credentials["access_token"] and channel.config["instance_url"] == simulator.url
    assert channel.config["max_characters"] == 500
    picture = store_upload(tenant_a.organisation, media_files.image(tmp_path / "a.png", (600, 400), "PNG").open("rb"))
    admin = Membership.objects.get(organisation=tenant_a.organisation, user=tenant_a.member(Role.ADMIN))
    create_and_schedule_post(
        admin,
        text="Sondage : quel atelier cet automne ? #centresocial",
        channel_ids=[channel.pk],
        local=None,
        media=[(picture, "Le programme des ateliers")],
        options={
            channel.pk: {
                "content_warning": "Sondage",
                "visibility": "unlisted",
                "poll": {"options": ["Cuisine", "Couture"], "expires_in": 86400},
            }
        },
    )
    run_dispatcher_until(
        Dispatcher(concurrency=2, sweep_s=60),
        lambda: not Publication.objects.filter(state__in=[State.SCHEDULED, State.PUBLISHING]).exists(),
    )
    publication = Publication.objects.get()
    assert publication.state == State.PUBLISHED, publication.last_error
    [status] = simulator.posts()
    assert status["spoiler_text"] == "Sondage" and status["visibility"] == "unlisted"
    assert status["poll"]["options"] == ["Cuisine", "Couture"]  # as the instance received the form
    assert len(status["media_ids"]) == 1

    delete_publication(admin, publication)
    assert simulator.posts()[0]["deleted"] is True
    assert Publication.objects.get().state == State.DELETED


def test_a_post_too_long_for_the_instance_is_refused_before_anything_is_created(tenant_a, client_for, simulator):
    channel = _connect_with_oauth(tenant_a, client_for, simulator, login_as="petit")
    channel.config = {**channel.config, "max_characters": 100}
    channel.save()
    admin = Membership.objects.get(organisation=tenant_a.organisation, user=tenant_a.member(Role.ADMIN))
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        create_and_schedule_post(admin, text="x" * 101, channel_ids=[channel.pk], local=None)
    assert "101" in str(refused.value) and "100" in str(refused.value)
    assert not Publication.objects.exists()
