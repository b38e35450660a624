"""Saved hashtag sets and the media library in the composer."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from beffroi.media.services import store_upload
from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Role
from beffroi.publishing.hashtags import normalise_tags, save_hashtag_set
from beffroi.publishing.models import HashtagSet, Post

pytestmark = pytest.mark.django_db


def test_hashtags_are_normalised_once_each_in_any_script():
    assert normalise_tags("fête, #Voisins  #fête;solidarité_2026") == "#fête #Voisins #solidarité_2026"
    with pytest.raises(ValidationError):
        normalise_tags("#ok #pas-ok")
    with pytest.raises(ValidationError):
        normalise_tags(" , # ")
    with pytest.raises(ValidationError):
        normalise_tags(" ".join(f"t{n}" for n in range(31)))


def test_sets_belong_to_one_organisation_and_need_the_compose_role(tenant_a, tenant_b, client_for):
    editor = Membership.objects.get(user=tenant_a.member(Role.EDITOR))
    save_hashtag_set(editor, name="Fête", tags="fete voisins")
    with pytest.raises(ValidationError):
        save_hashtag_set(editor, name="Fête", tags="autre")  # one name once
    with pytest.raises(PermissionDenied):
        save_hashtag_set(Membership.objects.get(user=tenant_a.member(Role.ANALYST)), name="X", tags="x")
    page = client_for(tenant_a.member(Role.EDITOR)).get(f"/o/{tenant_a.organisation.slug}/compose/").content.decode()
    assert 'data-hashtags="#fete #voisins"' in page
    other = client_for(tenant_b.member(Role.EDITOR)).get(f"/o/{tenant_b.organisation.slug}/compose/").content.decode()
    assert "data-hashtags" not in other
    # Someone of another organisation cannot delete it through their own organisation's address.
    the_set = HashtagSet.objects.get()
    client_for(tenant_b.member(Role.ADMIN)).post(
        f"/o/{tenant_b.organisation.slug}/compose/hashtags/{the_set.pk}/delete/"
    )
    assert HashtagSet.objects.filter(pk=the_set.pk).exists()
    client_for(tenant_a.member(Role.EDITOR)).post(
        f"/o/{tenant_a.organisation.slug}/compose/hashtags/{the_set.pk}/delete/"
    )
    assert not HashtagSet.objects.exists()


def test_the_save_form_reports_a_bad_tag(tenant_a, client_for):
    client = client_for(tenant_a.member(Role.EDITOR))
    client.cookies["beffroi_language"] = "en"
    response = client.post(
        f"/o/{tenant_a.organisation.slug}/compose/hashtags/", {"name": "Bad", "tags": "#a-b"}, follow=True
    )
    assert "cannot be a hashtag" in response.content.decode()
    assert not HashtagSet.objects.exists()


def _picture(name="photo.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (1080, 1080), "orange").save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def test_a_file_from_the_media_library_is_used_again(tenant_a, tenant_b, client_for, mastodon_channels):
    mastodon, _ = mastodon_channels()
    mine = store_upload(tenant_a.organisation, _picture(), uploaded_by=tenant_a.member(Role.EDITOR), name="photo.png")
    theirs = store_upload(tenant_b.organisation, _picture("b.png"), uploaded_by=None, name="b.png")
    client = client_for(tenant_a.member(Role.EDITOR))
    page = client.get(f"/o/{tenant_a.organisation.slug}/compose/").content.decode()
    library = page[page.index('id="library_media"') : page.index("</select>", page.index('id="library_media"'))]
    assert f'value="{mine.pk}"' in library and "1080×1080" in library and "b.png" not in library
    client.post(
        f"/o/{tenant_a.organisation.slug}/compose/",
        {
            "action": "draft",
            "text": "Encore",
            "channels": [mastodon.pk],
            "library_media": mine.pk,
            "alt_text": "Orange",
        },
    )
    post = Post.objects.get(text="Encore")
    attached = post.media.get()
    assert attached.media_id == mine.pk and attached.alt_text == "Orange"
    # Another organisation's file cannot be picked by its id.
    response = client.post(
        f"/o/{tenant_a.organisation.slug}/compose/",
        {"action": "draft", "text": "Volé", "channels": [mastodon.pk], "library_media": theirs.pk},
    )
    assert response.status_code == 200 and not Post.objects.filter(text="Volé").exists()
