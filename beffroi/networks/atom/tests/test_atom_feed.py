"""The Atom feed channel: connected, published through the real engine, a valid RFC 4287 feed, deleted."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from beffroi.channels.models import Channel
from beffroi.media.services import store_upload
from beffroi.networks.atom.connect import AtomConnect
from beffroi.networks.atom.connector import AtomConnector, entry_id
from beffroi.networks.base import ChannelAccess
from beffroi.networks.tests import media_files
from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Role
from beffroi.publishing.models import Publication
from beffroi.publishing.services import create_and_schedule_post, delete_publication
from beffroi.publishing.states import State
from beffroi.publishing.testing import run_dispatcher_until
from beffroi.publishing.worker.dispatcher import Dispatcher

pytestmark = pytest.mark.django_db(transaction=True)
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.BASE_URL = "https://beffroi.example.org"
    return settings.MEDIA_ROOT


def _feed_channel(tenant) -> Channel:
    [account] = AtomConnect().finish(
        redirect_uri="", params={"title": "Actualités du centre", "subtitle": "Nos nouvelles"}, kept={}
    )
    return Channel.objects.create(
        organisation=tenant.organisation,
        group=tenant.local,
        network="atom",
        display_name=account.display_name,
        remote_id=account.remote_id,
        config=account.config,
    )


def _membership(tenant, role=Role.ADMIN) -> Membership:
    return Membership.objects.get(organisation=tenant.organisation, user=tenant.member(role))


def _publish_all() -> None:
    run_dispatcher_until(
        Dispatcher(concurrency=4, sweep_s=60),
        lambda: not Publication.objects.filter(state__in=[State.SCHEDULED, State.PUBLISHING]).exists(),
    )


def _parse(response) -> ET.Element:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    return ET.fromstring(response.content)


def _assert_valid_atom(feed: ET.Element, self_url: str) -> None:
    """RFC 4287 §4.1.1 and §4.1.2: what a feed and each entry must contain, once."""
    assert feed.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated"):
        assert len(feed.findall(f"{ATOM}{name}")) == 1, name
    datetime.fromisoformat(feed.findtext(f"{ATOM}updated"))  # RFC 3339
    assert feed.find(f"{ATOM}author/{ATOM}name").text  # a feed-level author covers every entry
    assert [link.get("href") for link in feed.findall(f"{ATOM}link") if link.get("rel") == "self"] == [self_url]
    for entry in feed.findall(f"{ATOM}entry"):
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{ATOM}{name}")) == 1, name
        assert entry.findtext(f"{ATOM}id").startswith("urn:uuid:")
        datetime.fromisoformat(entry.findtext(f"{ATOM}updated"))
        alternates = [link for link in entry.findall(f"{ATOM}link") if link.get("rel", "alternate") == "alternate"]
        assert len(alternates) <= 1


def test_a_post_goes_out_as_a_valid_atom_entry_with_its_picture(tenant_a, client, media_root, tmp_path):
    channel = _feed_channel(tenant_a)
    picture = store_upload(tenant_a.organisation, media_files.image(tmp_path / "affiche.jpg").open("rb"))
    text = "Fête de quartier samedi 14 h !\nAteliers <cuisine> & jeux pour tous."
    create_and_schedule_post(
        _membership(tenant_a), text=text, channel_ids=[channel.pk], local=None, media=[(picture, "L'affiche")]
    )
    create_and_schedule_post(_membership(tenant_a), text="Deuxième nouvelle", channel_ids=[channel.pk], local=None)
    _publish_all()
    assert set(Publication.objects.values_list("state", flat=True)) == {State.PUBLISHED}

    self_url = "https://beffroi.example.org" + reverse("atom_feed", args=[channel.remote_id])
    feed = _parse(client.get(reverse("atom_feed", args=[channel.remote_id])))
    _assert_valid_atom(feed, self_url)
    assert feed.findtext(f"{ATOM}title") == "Actualités du centre"
    assert feed.findtext(f"{ATOM}subtitle") == "Nos nouvelles"
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 2
    first = next(e for e in entries if e.findtext(f"{ATOM}title") == "Fête de quartier samedi 14 h !")
    # The text is escaped once for HTML: the angle brackets are words, not markup.
    assert "&lt;cuisine&gt; &amp; jeux" in first.findtext(f"{ATOM}summary")
    [enclosure] = [link for link in first.findall(f"{ATOM}link") if link.get("rel") == "enclosure"]
    assert enclosure.get("type") == "image/jpeg" and int(enclosure.get("length")) == picture.size
    assert enclosure.get("href") == picture.public_url
    publication = Publication.objects.get(post__text=text)
    assert first.findtext(f"{ATOM}id") == publication.remote_id == entry_id(publication.idempotency_key)


def test_the_entry_id_is_the_same_on_every_retry(tenant_a, media_root):
    channel = _feed_channel(tenant_a)
    create_and_schedule_post(_membership(tenant_a), text="Une fois", channel_ids=[channel.pk], local=None)
    publication = Publication.objects.get()
    from beffroi.publishing.worker import claims

    [job] = claims.claim_due("test", 1, 60)
    connector = AtomConnector()
    first = asyncio.run(connector.publish(None, job))
    again = asyncio.run(connector.publish(None, job))
    assert first.remote_id == again.remote_id == entry_id(publication.idempotency_key)


def test_deleting_removes_the_entry_from_the_feed(tenant_a, client, media_root):
    channel = _feed_channel(tenant_a)
    create_and_schedule_post(_membership(tenant_a), text="À retirer", channel_ids=[channel.pk], local=None)
    _publish_all()
    publication = Publication.objects.get()
    feed_path = reverse("atom_feed", args=[channel.remote_id])
    assert len(_parse(client.get(feed_path)).findall(f"{ATOM}entry")) == 1
    with pytest.raises(PermissionDenied):
        delete_publication(_membership(tenant_a, Role.EDITOR), publication)
    delete_publication(_membership(tenant_a), publication)
    publication.refresh_from_db()
    assert publication.state == State.DELETED
    assert _parse(client.get(feed_path)).findall(f"{ATOM}entry") == []
    with pytest.raises(ValidationError):
        delete_publication(_membership(tenant_a), publication)  # only a published post can be deleted


def test_unknown_or_disabled_feeds_are_not_found(tenant_a, client, media_root):
    channel = _feed_channel(tenant_a)
    assert client.get(reverse("atom_feed", args=["nope"])).status_code == 404
    channel.status = Channel.Status.DISABLED
    channel.save()
    assert client.get(reverse("atom_feed", args=[channel.remote_id])).status_code == 404


def test_recent_posts_read_the_feed_back(tenant_a, media_root):
    channel = _feed_channel(tenant_a)
    create_and_schedule_post(_membership(tenant_a), text="Relue", channel_ids=[channel.pk], local=None)
    _publish_all()
    access = ChannelAccess(channel.pk, "atom", channel.config, {})
    [post] = asyncio.run(AtomConnector().recent_posts(None, access))
    assert post.text == "Relue" and post.remote_id.startswith("urn:uuid:")
