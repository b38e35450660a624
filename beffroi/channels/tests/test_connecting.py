"""Connecting channels through the settings pages: the flow every network shares."""

from __future__ import annotations

import pytest

from beffroi.channels.models import Channel
from beffroi.organisations.roles import Role

pytestmark = pytest.mark.django_db


def _connect_url(tenant) -> str:
    return f"/o/{tenant.organisation.slug}/settings/channels/connect/"


def test_an_admin_creates_an_atom_feed_channel_in_a_page_group(tenant_a, client_for):
    client = client_for(tenant_a.member(Role.ADMIN))
    page = client.get(_connect_url(tenant_a))
    assert page.status_code == 200
    for label in ("Facebook", "Instagram", "Mastodon", "Bluesky", "Atom"):
        assert label in page.content.decode()
    response = client.post(_connect_url(tenant_a), {"network": "atom", "title": "Nouvelles", "subtitle": "Du centre"})
    assert response.status_code == 302 and "/settings/channels/connect/" in response["Location"]
    choose = client.get(response["Location"])
    assert "Nouvelles" in choose.content.decode()
    done = client.post(response["Location"], {"account": "0", "group": tenant_a.regional.pk})
    assert done.status_code == 302
    channel = Channel.objects.get(network="atom")
    assert (channel.display_name, channel.group, channel.config["subtitle"]) == (
        "Nouvelles",
        tenant_a.regional,
        "Du centre",
    )
    # The step's data is used once: posting again does not create a second channel.
    client.post(response["Location"], {"account": "0", "group": tenant_a.regional.pk})
    assert Channel.objects.filter(network="atom").count() == 1
    listing = client.get(f"/o/{tenant_a.organisation.slug}/settings/channels/").content.decode()
    assert f"/feeds/{channel.remote_id}.atom" in listing


def test_only_channel_managers_connect_and_scoped_ones_only_into_their_groups(tenant_a, client_for):
    editor = client_for(tenant_a.member(Role.EDITOR))
    assert editor.get(_connect_url(tenant_a)).status_code == 403
    assert editor.post(_connect_url(tenant_a), {"network": "atom", "title": "x"}).status_code == 403
    assert Channel.objects.filter(network="atom").count() == 0


def test_a_callback_without_a_started_connection_is_refused(tenant_a, tenant_b, client_for):
    client = client_for(tenant_a.member(Role.ADMIN))
    response = client.get("/connect/mastodon/callback/?code=abc&state=forged")
    assert response.status_code == 302 and response["Location"] == "/"
    # Another person's step cannot be read: the data lives in the session that started it.
    other = client_for(tenant_b.member(Role.ADMIN))
    started = other.post(_connect_url(tenant_b), {"network": "atom", "title": "B"})
    state_url = started["Location"].replace(tenant_b.organisation.slug, tenant_a.organisation.slug)
    assert client.get(state_url).status_code == 302  # "start again", nothing shown
    assert "B" not in client.get(state_url, follow=True).content.decode().split("<main", 1)[1].split("</h2>", 1)[0]


def test_invalid_input_gives_a_clear_message_and_creates_nothing(tenant_a, client_for):
    client = client_for(tenant_a.member(Role.ADMIN))
    response = client.post(_connect_url(tenant_a), {"network": "atom", "title": "   "}, follow=True)
    assert "A feed needs a title." in response.content.decode()
    assert Channel.objects.filter(network="atom").count() == 0
    assert client.post(_connect_url(tenant_a), {"network": "myspace"}).status_code == 404
