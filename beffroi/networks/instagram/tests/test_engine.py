"""Facebook Pages and Instagram through the whole product against the Graph simulator: accounts connected with
the real connect code, posts checked, scheduled and published by the engine."""

from __future__ import annotations

import httpx
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from beffroi.channels.connecting import add_connected_accounts
from beffroi.media.services import store_upload
from beffroi.networks.facebook.connect import FacebookConnect
from beffroi.networks.instagram.connect import InstagramConnect
from beffroi.networks.tests import media_files
from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Role
from beffroi.publishing.models import Publication
from beffroi.publishing.services import create_and_schedule_post
from beffroi.publishing.states import State
from beffroi.publishing.testing import run_dispatcher_until
from beffroi.publishing.worker.dispatcher import Dispatcher
from beffroi.simulator import SimulatorServer
from beffroi.simulator.graph import GraphNetwork

pytestmark = pytest.mark.django_db(transaction=True)
REDIRECT = "https://beffroi.example.org/connect/facebook/callback/"


@pytest.fixture
def graph(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_MEDIA_URL = "https://media.centre-social.example.org"
    settings.BEFFROI_FACEBOOK_APP_ID = "1234"
    settings.BEFFROI_FACEBOOK_APP_SECRET = "app-secret"
    settings.BEFFROI_INSTAGRAM_APP_ID = "5678"
    settings.BEFFROI_INSTAGRAM_APP_SECRET = "ig-secret"
    with SimulatorServer(networks=[GraphNetwork]) as server:
        yield server


def _admin(tenant) -> Membership:
    return Membership.objects.get(organisation=tenant.organisation, user=tenant.member(Role.ADMIN))


def _connect(tenant, connect, network: str, graph_url: str, form: dict | None = None):
    _url, kept = connect.start(redirect_uri=REDIRECT, state="s", form=form or {})
    with httpx.Client() as http:
        accounts = connect.finish(
            redirect_uri=REDIRECT, params={"code": "code-alice", "state": "s"}, kept=kept, http=http
        )
    created, _reconnected = add_connected_accounts(_admin(tenant), network, accounts, group=tenant.local)
    return created


def _publish_all(**kwargs) -> None:
    run_dispatcher_until(
        Dispatcher(concurrency=4, sweep_s=0.2, **kwargs),
        lambda: not Publication.objects.filter(state__in=[State.SCHEDULED, State.PUBLISHING, State.UNKNOWN]).exists(),
    )


def test_a_facebook_page_post_with_two_photos_and_a_first_comment(tenant_a, graph, tmp_path):
    [page] = _connect(tenant_a, FacebookConnect(graph_host=graph.url), "facebook", graph.url)
    photos = [
        store_upload(tenant_a.organisation, media_files.image(tmp_path / f"{n}.jpg", (1080, 1080)).open("rb"))
        for n in range(2)
    ]
    create_and_schedule_post(
        _admin(tenant_a),
        text="Retour en images sur la fête de quartier",
        channel_ids=[page.pk],
        local=None,
        media=[(photos[0], "Le stand crêpes"), (photos[1], "Le concert")],
        first_comment="Merci aux bénévoles !",
    )
    _publish_all()
    publication = Publication.objects.get()
    assert publication.state == State.PUBLISHED, publication.last_error
    [album] = graph.posts()
    assert album["kind"] == "album" and len(album["media"]) == 2
    assert graph.stats()["networks"]["graph"]["comments"] == 1


def test_facebook_native_scheduling_hands_the_post_over_ahead_of_its_time(tenant_a, graph):
    [page] = _connect(tenant_a, FacebookConnect(graph_host=graph.url), "facebook", graph.url)
    in_an_hour = timezone.localtime(timezone.now() + timezone.timedelta(hours=1), timezone.get_fixed_timezone(0))
    create_and_schedule_post(
        _admin(tenant_a),
        text="Programmé chez Facebook",
        channel_ids=[page.pk],
        local=in_an_hour.replace(tzinfo=None, second=0, microsecond=0),
        zone="UTC",
        options={page.pk: {"native_schedule": True}},
    )
    publication = Publication.objects.get()
    assert publication.due_at - publication.run_at == timezone.timedelta(minutes=20)
    with pytest.raises(ValidationError) as refused:
        create_and_schedule_post(
            _admin(tenant_a),
            text="Trop tôt",
            channel_ids=[page.pk],
            local=None,
            options={page.pk: {"native_schedule": True}},
        )
    assert "20 minutes" in str(refused.value) and "30" in str(refused.value)


def test_instagram_picture_goes_out_and_an_unconfirmed_story_is_never_sent_twice(tenant_a, graph, tmp_path):
    connect = InstagramConnect(graph_host=graph.url, facebook_graph_host=graph.url)
    [account] = _connect(tenant_a, connect, "instagram", graph.url, form={"login": "facebook"})
    square = store_upload(tenant_a.organisation, media_files.image(tmp_path / "s.jpg", (1080, 1080)).open("rb"))
    create_and_schedule_post(
        _admin(tenant_a), text="Atelier couture #DIY", channel_ids=[account.pk], local=None, media=[(square, "x")]
    )
    _publish_all()
    assert Publication.objects.get().state == State.PUBLISHED
    [post] = graph.posts()
    assert post["kind"] == "image" and post["media"] == [square.public_url]

    # A story whose answer never comes back: Instagram cannot list stories, so a person is asked to check.
    graph.configure(timeout_after_commit_rate=1.0, stall_s=3)
    create_and_schedule_post(
        _admin(tenant_a),
        text="",
        channel_ids=[account.pk],
        local=None,
        media=[(square, "x")],
        options={account.pk: {"instagram_kind": "story"}},
    )
    _publish_all(http_timeout_s=1.0)
    story = Publication.objects.exclude(post__text="Atelier couture #DIY").get()
    assert story.state == State.FAILED and story.last_error_code == "cannot_check"
    assert [p["kind"] for p in graph.posts()] == ["image", "story"]  # sent once, never again


def test_instagram_needs_a_public_media_address_before_anything_is_scheduled(tenant_a, graph, settings, tmp_path):
    connect = InstagramConnect(graph_host=graph.url, facebook_graph_host=graph.url)
    [account] = _connect(tenant_a, connect, "instagram", graph.url, form={"login": "facebook"})
    settings.PUBLIC_MEDIA_URL = "http://127.0.0.1:8000"
    square = store_upload(tenant_a.organisation, media_files.image(tmp_path / "s.jpg", (1080, 1080)).open("rb"))
    with pytest.raises(ValidationError) as refused:
        create_and_schedule_post(
            _admin(tenant_a), text="Photo", channel_ids=[account.pk], local=None, media=[(square, "x")]
        )
    assert "BEFFROI_PUBLIC_MEDIA_URL" in str(refused.value)
    assert not Publication.objects.exists()
