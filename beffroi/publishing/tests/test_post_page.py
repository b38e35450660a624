"""The page of one post (/o/<slug>/posts/<id>/): text and variants, each publication with its times and link, the
approval chain with who approved what, the comment thread with its form, the decision buttons for those who may
decide, and the complete audit log. Nobody outside the organisation (or the post's pages) sees it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Role
from beffroi.publishing.models import Publication, Variant
from beffroi.publishing.services import (
    approve_post,
    comment_on_post,
    create_and_schedule_post,
    reject_post,
    reschedule_publication,
)
from beffroi.publishing.states import State
from beffroi.publishing.tests.conftest import Chain

pytestmark = pytest.mark.django_db


def _as(tenant, role) -> Membership:
    return Membership.objects.get(organisation=tenant.organisation, user=tenant.member(role))


def _in(hours: float):
    return timezone.localtime(timezone.now() + timedelta(hours=hours)).replace(tzinfo=None, second=0, microsecond=0)


def english(client):
    client.cookies["beffroi_language"] = "en"
    return client


@pytest.fixture
def post(tenant_a, mastodon_channels):
    paris, montreal = mastodon_channels()
    post = create_and_schedule_post(
        _as(tenant_a, Role.EDITOR),
        text="Sortie au musée samedi",
        channel_ids=[paris.pk, montreal.pk],
        local=_in(30),
        variants={montreal.pk: "Sortie au musée samedi (Montréal)"},
        link="https://centre.example/sortie",
        duplicate_reason="Deux publics",
    )
    return post


def _page(client, tenant, post) -> str:
    response = client.get(f"/o/{tenant.organisation.slug}/posts/{post.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_shows_text_variants_publications_and_times_in_both_zones(tenant_a, post, client_for):
    Publication.objects.filter(post=post, channel__display_name="Mastodon 0").update(
        state=State.PUBLISHED, remote_url="https://mastodon.example/@centre/1", published_at=timezone.now()
    )
    page = _page(english(client_for(tenant_a.member(Role.ADMIN))), tenant_a, post)
    assert "Sortie au musée samedi" in page and "Sortie au musée samedi (Montréal)" in page
    assert "https://centre.example/sortie" in page and "Deux publics" in page
    assert "Mastodon 0" in page and "Mastodon 1" in page
    assert "America/Montreal" in page and "for you:" in page  # the channel's zone, the viewer's alongside
    assert 'href="https://mastodon.example/@centre/1"' in page
    assert "Written by editor a" in page


def test_the_thread_the_approval_and_the_audit_log(tenant_a, post, client_for):
    chain = Chain(tenant_a)  # set after the post was written: scheduling its drafts asks the chain
    Publication.objects.filter(post=post).update(state=State.DRAFT)
    for publication in post.publications.all():
        reschedule_publication(_as(tenant_a, Role.VALIDATOR), publication, local=_in(30))
    comment_on_post(_as(tenant_a, Role.VALIDATOR), post, body="L'heure de départ ?")
    approve_post(chain.a, post, comment="Bon pour le service")
    page = _page(english(client_for(tenant_a.member(Role.EDITOR))), tenant_a, post)
    # The thread, with the approval's comment.
    assert "L&#x27;heure de départ ?" in page and "Bon pour le service" in page
    # The chain: step 1 approved by whom, step 2 awaiting.
    assert "Approval chain of “a local”" in page
    assert "by affaires" in page and "Awaiting approval" in page
    # The audit log: who did what.
    for label in ("Submitted for approval", "Commented", "Approval step approved"):
        assert label in page
    assert "1. Service des affaires publiques: Mastodon 0, Mastodon 1" in page
    # The comment form, and no decision for an editor.
    assert f"/o/{tenant_a.organisation.slug}/posts/{post.pk}/comments/" in page
    assert "/approve/" not in page


def test_decision_buttons_only_for_those_who_may_decide(tenant_a, post, client_for):
    slug = tenant_a.organisation.slug
    validator_page = _page(english(client_for(tenant_a.member(Role.VALIDATOR))), tenant_a, post)
    assert (
        f"/o/{slug}/posts/{post.pk}/approve/" in validator_page
        and f"/o/{slug}/posts/{post.pk}/reject/" in validator_page
    )
    reject_post(_as(tenant_a, Role.VALIDATOR), post, comment="Trop long")
    assert "/approve/" not in _page(client_for(tenant_a.member(Role.VALIDATOR)), tenant_a, post)  # nothing waits


def test_commenting_from_the_page(tenant_a, post, client_for):
    client = client_for(tenant_a.member(Role.VALIDATOR))
    url = f"/o/{tenant_a.organisation.slug}/posts/{post.pk}/comments/"
    response = client.post(url, {"body": "Bravo pour l'affiche"})
    assert response.status_code == 302 and response.url.endswith(f"/posts/{post.pk}/#thread")
    assert [c.body for c in post.comments.all()] == ["Bravo pour l'affiche"]
    assert client.post(url, {"body": "  "}).status_code == 302
    assert post.comments.count() == 1  # an empty comment is refused with a message
    assert post.events.last().action == "commented"


def test_approving_from_the_page_comes_back_to_it(tenant_a, post, client_for):
    page = f"/o/{tenant_a.organisation.slug}/posts/{post.pk}/"
    response = client_for(tenant_a.member(Role.VALIDATOR)).post(f"{page}approve/", {"next": page})
    assert response.status_code == 302 and response.url == page
    assert set(post.publications.values_list("state", flat=True)) == {State.SCHEDULED}
    # An outside address is never followed.
    other = create_and_schedule_post(
        _as(tenant_a, Role.EDITOR), text="Atelier", channel_ids=[tenant_a.other_channel.pk], local=_in(5)
    )
    sneaky = client_for(tenant_a.member(Role.VALIDATOR)).post(
        f"/o/{tenant_a.organisation.slug}/posts/{other.pk}/approve/", {"next": "https://evil.example/"}
    )
    assert sneaky.url.endswith("/publications/?tab=awaiting")


def test_another_organisation_or_a_page_outside_ones_groups_is_not_found(tenant_a, tenant_b, post, client_for):
    slug_a, slug_b = tenant_a.organisation.slug, tenant_b.organisation.slug
    outsider = client_for(tenant_b.member(Role.ADMIN))
    assert outsider.get(f"/o/{slug_a}/posts/{post.pk}/").status_code == 404
    assert outsider.get(f"/o/{slug_b}/posts/{post.pk}/").status_code == 404
    assert outsider.post(f"/o/{slug_b}/posts/{post.pk}/comments/", {"body": "x"}).status_code == 404
    assert post.comments.count() == 0
    scoped = _as(tenant_a, Role.EDITOR)
    scoped.groups.set([tenant_a.other_local])  # the post's pages are in `local`
    client = client_for(tenant_a.member(Role.EDITOR))
    assert client.get(f"/o/{slug_a}/posts/{post.pk}/").status_code == 404
    assert client.post(f"/o/{slug_a}/posts/{post.pk}/comments/", {"body": "x"}).status_code == 404


def test_the_lists_and_the_calendar_link_to_the_page(tenant_a, post, client_for):
    slug = tenant_a.organisation.slug
    client = client_for(tenant_a.member(Role.VALIDATOR))
    listing = client.get(f"/o/{slug}/publications/?tab=awaiting").content.decode()
    assert f'href="/o/{slug}/posts/{post.pk}/"' in listing
    Variant.objects.filter(post=post).delete()
    events = client.get(
        f"/o/{slug}/calendar/events",
        {
            "start": (timezone.now() - timedelta(days=1)).date().isoformat(),
            "end": (timezone.now() + timedelta(days=5)).date().isoformat(),
        },
    ).json()
    assert {event["url"] for event in events} == {f"/o/{slug}/posts/{post.pk}/"}
