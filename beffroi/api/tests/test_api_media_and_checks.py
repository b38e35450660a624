"""The API's networks, check, media upload, posts with media and options, deletion."""

from __future__ import annotations

import pytest

from beffroi.channels.models import Channel
from beffroi.media.models import MediaFile, PostMedia
from beffroi.networks.tests import media_files
from beffroi.organisations.roles import Role
from beffroi.publishing.models import Publication, Variant

pytestmark = pytest.mark.django_db


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _base(tenant) -> str:
    return f"/api/v1/organisations/{tenant.organisation.slug}"


def test_networks_are_listed_with_their_capabilities(client):
    networks = {n["network"]: n for n in client.get("/api/v1/networks").json()}
    assert set(networks) == {"bluesky", "mastodon", "facebook", "instagram", "atom"}
    assert networks["bluesky"]["text_limit"] == 300 and networks["bluesky"]["text_unit"] == "graphemes"
    assert networks["instagram"]["requires_media"] and "delete" not in networks["instagram"]["features"]


def test_check_is_the_same_validator_as_the_command(tenant_a, client_for):
    client = client_for(tenant_a.member(Role.EDITOR))
    response = client.post(
        f"{_base(tenant_a)}/networks/mastodon/check",
        {"text": "Bonjour " + "x" * 20, "limit": 20},
        content_type="application/json",
    )
    body = response.json()
    assert response.status_code == 200 and body["ok"] is False and body["length"] == 28
    assert body["errors"][0]["code"] == "too_long"
    assert (
        client.post(
            f"{_base(tenant_a)}/networks/myspace/check", {"text": "x"}, content_type="application/json"
        ).status_code
        == 404
    )
    analyst = client_for(tenant_a.member(Role.ANALYST))
    assert (
        analyst.post(
            f"{_base(tenant_a)}/networks/bluesky/check", {"text": "x"}, content_type="application/json"
        ).status_code
        == 403
    )


def test_upload_then_publish_with_the_picture_and_per_channel_options(tenant_a, client_for, media_root, tmp_path):
    client = client_for(tenant_a.member(Role.ADMIN))
    feed = Channel.objects.create(
        organisation=tenant_a.organisation,
        network="atom",
        display_name="Flux",
        remote_id="tok",
        config={"feed_token": "tok"},
    )
    with media_files.image(tmp_path / "affiche.jpg", (1200, 900)).open("rb") as handle:
        uploaded = client.post(f"{_base(tenant_a)}/media", {"file": handle})
    assert uploaded.status_code == 201, uploaded.content
    media = uploaded.json()
    assert (media["mime_type"], media["width"], media["height"]) == ("image/jpeg", 1200, 900)
    assert media["public_url"].endswith(".jpg") and "/m/" in media["public_url"]
    response = client.post(
        f"{_base(tenant_a)}/posts",
        {
            "text": "Portes ouvertes",
            "channel_ids": [feed.pk],
            "media": [{"id": media["id"], "alt_text": "L'affiche des portes ouvertes"}],
            "options": {str(feed.pk): {"visibility": "public"}},
            "link": "https://centre.example.org/portes-ouvertes",
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    [use] = PostMedia.objects.all()
    assert use.alt_text == "L'affiche des portes ouvertes" and use.media_id == media["id"]
    assert Variant.objects.get().options == {"visibility": "public"}
    assert Publication.objects.get().post.link == "https://centre.example.org/portes-ouvertes"


def test_bad_uploads_and_other_organisations_files_are_refused(tenant_a, tenant_b, client_for, media_root, tmp_path):
    client = client_for(tenant_a.member(Role.ADMIN))
    (tmp_path / "x.jpg").write_bytes(b"MZ\x90\x00 an executable")
    with (tmp_path / "x.jpg").open("rb") as handle:
        refused = client.post(f"{_base(tenant_a)}/media", {"file": handle})
    assert refused.status_code == 422 and "x.jpg" in refused.json()["detail"]
    assert client.post(f"{_base(tenant_a)}/media", {}).status_code == 422
    with media_files.image(tmp_path / "b.jpg").open("rb") as handle:
        theirs = client_for(tenant_b.member(Role.ADMIN)).post(f"{_base(tenant_b)}/media", {"file": handle}).json()
    response = client.post(
        f"{_base(tenant_a)}/posts",
        {"text": "x", "channel_ids": [tenant_a.other_channel.pk], "media": [{"id": theirs["id"]}]},
        content_type="application/json",
    )
    assert response.status_code == 422 and MediaFile.objects.filter(organisation=tenant_a.organisation).count() == 0
