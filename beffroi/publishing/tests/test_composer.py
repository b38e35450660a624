"""The composer page: choose pages, check live per network, then draft, submit, schedule, queue or publish now."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from beffroi.channels.models import Channel
from beffroi.organisations.roles import Role
from beffroi.publishing.models import Post, Publication
from beffroi.publishing.states import State

pytestmark = pytest.mark.django_db


def _url(tenant, path: str = "") -> str:
    return f"/o/{tenant.organisation.slug}/compose/{path}"


@pytest.fixture
def pages(tenant_a, mastodon_channels):
    mastodon, _second = mastodon_channels()
    feed = Channel.objects.create(
        organisation=tenant_a.organisation,
        group=tenant_a.local,
        network="atom",
        display_name="Fil du centre",
        remote_id="fil",
        config={"feed_token": "fil"},
    )
    return mastodon, feed


def test_the_live_check_shows_each_networks_count_errors_and_preview(tenant_a, client_for, pages):
    mastodon, feed = pages
    client = client_for(tenant_a.member(Role.EDITOR))
    response = client.post(_url(tenant_a, "check/"), {"text": "x" * 501, "channels": [mastodon.pk, feed.pk]})
    page = response.content.decode()
    assert response.status_code == 200
    assert "501 / 500" in page and 'data-code="too_long"' in page and "Atom" in page
    shorter = client.post(
        _url(tenant_a, "check/"), {"text": "x" * 501, "variant-mastodon": "Court", "channels": [mastodon.pk]}
    ).content.decode()
    assert "5 / 500" in shorter and "too_long" not in shorter


def test_an_editor_submits_and_a_validator_schedules(tenant_a, client_for, pages):
    mastodon, feed = pages
    editor = client_for(tenant_a.member(Role.EDITOR))
    page = editor.get(_url(tenant_a)).content.decode()
    assert "Submit for approval" in page or "Soumettre" in page
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = editor.post(
        _url(tenant_a),
        {"text": "Atelier jeudi", "channels": [feed.pk], "date": tomorrow, "time": "10:00", "action": "submit"},
    )
    assert response.status_code == 302 and "tab=awaiting" in response["Location"]
    assert Publication.objects.get().state == State.AWAITING_APPROVAL
    validator = client_for(tenant_a.member(Role.VALIDATOR))
    response = validator.post(
        _url(tenant_a),
        {"text": "Sortie vendredi", "channels": [feed.pk], "date": tomorrow, "time": "11:30", "action": "schedule"},
    )
    assert response.status_code == 302 and "tab=scheduled" in response["Location"]
    scheduled = Publication.objects.get(post__text="Sortie vendredi")
    assert scheduled.state == State.SCHEDULED and scheduled.scheduled_local.endswith("T11:30")


def test_drafts_need_no_time_and_errors_keep_what_was_typed(tenant_a, client_for, pages):
    mastodon, feed = pages
    client = client_for(tenant_a.member(Role.ADMIN))
    assert client.post(_url(tenant_a), {"text": "Idée", "channels": [feed.pk], "action": "draft"}).status_code == 302
    assert Publication.objects.get().state == State.DRAFT and Publication.objects.get().due_at is None
    response = client.post(_url(tenant_a), {"text": "x" * 600, "channels": [mastodon.pk], "action": "now"})
    page = response.content.decode()
    assert response.status_code == 200 and "600" in page and "x" * 600 in page
    assert Post.objects.count() == 1


def test_the_duplicate_guard_asks_for_a_reason_then_goes_ahead(tenant_a, client_for, mastodon_channels):
    first, second = mastodon_channels()
    client = client_for(tenant_a.member(Role.ADMIN))
    data = {"text": "Portes ouvertes", "channels": [first.pk, second.pk], "action": "now"}
    page = client.post(_url(tenant_a), data).content.decode()
    assert 'name="duplicate_reason"' in page and not Post.objects.exists()
    assert client.post(_url(tenant_a), {**data, "duplicate_reason": "Deux villes"}).status_code == 302
    assert Post.objects.get().duplicate_reason == "Deux villes"


def test_a_link_must_be_a_web_address(tenant_a, client_for, pages):
    _mastodon, feed = pages
    client = client_for(tenant_a.member(Role.ADMIN))
    page = client.post(
        _url(tenant_a), {"text": "Lien", "channels": [feed.pk], "link": "javascript:alert(1)", "action": "now"}
    ).content.decode()
    assert "https://" in page and not Post.objects.exists()
    listing = client.get(f"/o/{tenant_a.organisation.slug}/publications/").content.decode()
    assert f'href="/o/{tenant_a.organisation.slug}/compose/"' in listing


def test_the_live_check_gives_the_best_times_from_each_pages_statistics(tenant_a, client_for, pages):
    from zoneinfo import ZoneInfo

    from beffroi.insights.models import ChannelPost

    mastodon, feed = pages
    client = client_for(tenant_a.member(Role.EDITOR))  # French, the default: the hint is translated
    before = client.post(_url(tenant_a, "check/"), {"text": "Bonjour", "channels": [mastodon.pk]}).content.decode()
    assert "Conseil des supports de formation" in before
    for week in range(4):
        ChannelPost.objects.create(
            channel=mastodon,
            remote_id=f"s{week}",
            post_type="text",
            published_at=timezone.now()
            .astimezone(ZoneInfo("Europe/Paris"))
            .replace(hour=18, minute=0, second=0, microsecond=0)
            - timedelta(weeks=week + 1),
            interactions=40,
        )
    page = client.post(_url(tenant_a, "check/"), {"text": "Bonjour", "channels": [mastodon.pk]}).content.decode()
    assert f'data-channel="{mastodon.pk}"' in page and "18:00" in page and "(Europe/Paris)" in page
    assert "4 publications de cette page" in page and "confiance faible" in page


def test_previews_mark_links_hashtags_and_mentions_and_escape_the_rest(tenant_a, client_for, pages):
    mastodon, feed = pages
    client = client_for(tenant_a.member(Role.EDITOR))
    page = client.post(
        _url(tenant_a, "check/"),
        {
            "text": "Fête <b>ce soir</b> #voisins avec @ami@social.example\nhttps://centre.example/fete",
            "channels": [mastodon.pk],
        },
    ).content.decode()
    assert '<span class="p-tag">#voisins</span>' in page
    assert '<span class="p-mention">@ami@social.example</span>' in page
    assert '<span class="p-link">https://centre.example/fete</span>' in page
    assert "&lt;b&gt;ce soir&lt;/b&gt;" in page and "<b>ce soir</b>" not in page
    assert 'class="preview preview-mastodon"' in page and "<br>" in page


def test_one_page_can_have_its_own_text(tenant_a, client_for, mastodon_channels):
    first, second = mastodon_channels()
    client = client_for(tenant_a.member(Role.EDITOR))
    data = {
        "text": "Fête des voisins samedi",
        "variant-mastodon": "Fête des voisins samedi, sur Mastodon",
        f"variant-channel-{second.pk}": "Fête des voisins samedi au centre de Montréal",
        "channels": [first.pk, second.pk],
    }
    checks = client.post(_url(tenant_a, "check/"), data).content.decode()
    assert "au centre de Montréal" in checks and "sur Mastodon" in checks
    client.post(_url(tenant_a), {**data, "action": "draft"})
    post = Post.objects.get(text="Fête des voisins samedi")
    assert post.text_for(first.pk) == "Fête des voisins samedi, sur Mastodon"
    assert post.text_for(second.pk) == "Fête des voisins samedi au centre de Montréal"
