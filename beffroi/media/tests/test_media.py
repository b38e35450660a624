"""Uploads: checked from their bytes, capped, de-duplicated; served at unguessable public addresses."""

from __future__ import annotations

import io

import pytest
from django.utils import translation

from beffroi.media.models import MediaFile, media_is_public
from beffroi.media.services import UploadRefused, store_upload
from beffroi.networks.tests import media_files


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def test_an_upload_is_stored_under_a_token_with_what_it_really_is(tenant_a, media_root, tmp_path):
    source = media_files.image(tmp_path / "affiche.png", (640, 480), "JPEG")
    media = store_upload(tenant_a.organisation, source.open("rb"), name="../../etc/affiche.png")
    assert (media.mime_type, media.kind, media.width, media.height) == ("image/jpeg", "image", 640, 480)
    assert media.original_name == "../../etc/affiche.png"  # kept for display only, never as a path
    stored = media.file.path
    assert stored.startswith(str(media_root)) and stored.endswith(f"{media.public_token}.jpg")
    # The same bytes again: the same file, not a copy.
    assert store_upload(tenant_a.organisation, source.open("rb")).pk == media.pk
    assert MediaFile.objects.count() == 1


def test_files_that_are_not_media_or_too_big_are_refused(tenant_a, media_root, settings):
    with pytest.raises(UploadRefused) as refused:
        store_upload(tenant_a.organisation, io.BytesIO(b"<?php system($_GET['c']); ?>"), name="photo.jpg")
    assert "photo.jpg" in str(refused.value)
    settings.MAX_UPLOAD_MB = 1
    with pytest.raises(UploadRefused) as refused, translation.override("en"):
        store_upload(tenant_a.organisation, io.BytesIO(b"\xff\xd8\xff" + bytes(2 * 1024 * 1024)))
    assert "1 MB" in str(refused.value)
    assert MediaFile.objects.count() == 0
    assert not media_root.exists() or not [p for p in media_root.rglob("*") if p.is_file()]


def test_the_public_address_serves_the_file_and_nothing_else(tenant_a, media_root, client, tmp_path):
    video = store_upload(tenant_a.organisation, media_files.mp4(tmp_path / "v.mp4").open("rb"))
    response = client.get(f"/m/{video.public_token}.mp4")
    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4" and response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == (tmp_path / "v.mp4").read_bytes()
    assert client.get(f"/m/{video.public_token}.html").status_code == 404
    assert client.get("/m/not-a-token.mp4").status_code == 404


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("https://beffroi.centres-sociaux.fr", True),
        ("http://beffroi.centres-sociaux.fr", False),
        ("https://127.0.0.1:8000", False),
        ("https://192.168.1.20", False),
        ("https://localhost", False),
        ("https://beffroi.local", False),
        ("https://203.0.113.7", False),  # documentation range, not routable
        ("https://8.8.8.8", True),
    ],
)
def test_whether_networks_can_fetch_our_media(settings, address, public):
    settings.PUBLIC_MEDIA_URL = address
    assert media_is_public() is public
