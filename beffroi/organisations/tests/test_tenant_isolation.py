"""A person of organisation A never sees or touches anything of organisation B, whatever URL or id they try.

The URL lists are read from the URL configuration itself, so a new page or API endpoint is covered the day it
is added (and a new kind of id in a URL makes this test fail until it says how to fill it).
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from beffroi.api.api import api
from beffroi.conftest import Tenant
from beffroi.organisations.models import Invitation
from beffroi.organisations.roles import Role
from beffroi.urls import organisation_patterns

VERBS = {
    "settings_channel_toggle": ["enable", "disable"],
    "settings_invitation_action": ["resend", "revoke"],
    "settings_group_approval_step": ["up", "down", "remove"],
    "post_decision": ["approve", "reject"],
}


def _ids(tenant: Tenant) -> dict[str, int]:
    from beffroi.organisations.models import ApprovalStep
    from beffroi.publishing.models import CalendarFeed, HashtagSet, Post, Publication

    invitation = Invitation.objects.create(organisation=tenant.organisation, email="new@example.org")
    post = Post.objects.create(organisation=tenant.organisation, text="secret plans")
    publication = Publication.objects.create(post=post, channel=tenant.channel, state="scheduled")
    feed = CalendarFeed.objects.create(membership=tenant.organisation.memberships.get(user=tenant.member(Role.ADMIN)))
    step = ApprovalStep.objects.create(group=tenant.local, position=1, approver_role=Role.VALIDATOR)
    hashtags = HashtagSet.objects.create(organisation=tenant.organisation, name="Secret", tags="#secret")
    from beffroi.insights.models import ReportSubscription, WatchedAccount

    watched = WatchedAccount.objects.create(organisation=tenant.organisation, network="bluesky", handle="secret")
    subscription = ReportSubscription.objects.create(organisation=tenant.organisation, user=tenant.member(Role.ADMIN))
    return {
        "account_id": watched.pk,
        "subscription_id": subscription.pk,
        "set_id": hashtags.pk,
        "step_id": step.pk,
        "post_id": post.pk,
        "feed_id": feed.pk,
        "publication_id": publication.pk,
        "group_id": tenant.local.pk,
        "channel_id": tenant.channel.pk,
        "membership_id": tenant.organisation.memberships.get(user=tenant.member(Role.EDITOR)).pk,
        "invitation_id": invitation.pk,
        "state": "a-connection-started-in-another-session",
        "network": "bluesky",
    }


def _fill(route: str, slug: str, ids: dict[str, int], verb: str | None) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(2)
        if name == "slug":
            return slug
        if name == "verb":
            return verb
        if name not in ids:
            raise AssertionError(f"the isolation test does not know how to fill <{name}> in {route!r}")
        return str(ids[name])

    return re.sub(r"<(?:(\w+):)?(\w+)>", replace, route)


def flattened(patterns, prefix: str = "") -> list[tuple[str, URLPattern]]:
    """Every route under /o/<slug>/, included ones too (e.g. the statistics' urls.py), with its full path."""
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            found.append((prefix + str(pattern.pattern), pattern))
        else:
            found.extend(flattened(pattern.url_patterns, prefix + str(pattern.pattern)))
    return found


def organisation_urls(slug: str, ids: dict[str, int]) -> list[str]:
    urls = []
    for route, pattern in flattened(organisation_patterns):
        for verb in VERBS.get(pattern.name, [None]):
            urls.append("/o/" + _fill(route, slug, ids, verb))
    return urls


def api_urls(slug: str, ids: dict[str, int]) -> list[str]:
    urls = []
    for pattern in api.urls[0]:
        route = str(pattern.pattern)
        if "<slug>" in route:
            urls.append("/api/v1/" + _fill(route, slug, ids, None))
    return urls


@pytest.mark.django_db
def test_every_organisation_page_of_another_organisation_answers_404(tenant_a, tenant_b, client_for):
    client = client_for(tenant_a.member(Role.ADMIN))
    urls = organisation_urls(tenant_b.organisation.slug, _ids(tenant_b))
    assert len(urls) >= 15
    for url in urls:
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"name": "pwned", "display_name": "pwned"}).status_code in (404, 405), url
    tenant_b.channel.refresh_from_db()
    assert tenant_b.channel.display_name == "b page"


@pytest.mark.django_db
def test_own_organisation_url_with_another_organisations_ids_answers_404(tenant_a, tenant_b, client_for):
    client = client_for(tenant_a.member(Role.ADMIN))
    urls = [
        url
        for url in organisation_urls(tenant_a.organisation.slug, _ids(tenant_b))
        if re.search(r"/\d+/", url)  # only the URLs that carry an id
    ]
    assert len(urls) >= 8
    for url in urls:
        assert client.get(url).status_code in (404, 405), url
        assert client.post(url, {"name": "pwned", "display_name": "pwned", "role": "admin"}).status_code == 404, url
    assert tenant_b.organisation.memberships.get(user=tenant_b.member(Role.EDITOR)).role == Role.EDITOR
    assert tenant_b.organisation.invitations.get().revoked_at is None


@pytest.mark.django_db
def test_every_api_endpoint_with_another_organisations_slug_or_ids_answers_404(tenant_a, tenant_b, client_for):
    client = client_for(tenant_a.member(Role.ADMIN))
    ids_b = _ids(tenant_b)
    cases = api_urls(tenant_b.organisation.slug, ids_b) + [
        url for url in api_urls(tenant_a.organisation.slug, ids_b) if re.search(r"/\d+(/\w+)?$", url)
    ]
    assert len(cases) >= 6
    body = {"display_name": "pwned", "text": "pwned", "channel_ids": [ids_b["channel_id"]]}
    for url in cases:
        assert client.get(url).status_code in (404, 405), url
        assert client.patch(url, body, content_type="application/json").status_code in (404, 405), url
        assert client.post(url, body, content_type="application/json").status_code in (404, 405), url
    tenant_b.channel.refresh_from_db()
    assert tenant_b.channel.display_name == "b page"
    from beffroi.publishing.models import Post, Publication

    assert Publication.objects.get(pk=ids_b["publication_id"]).state == "scheduled"
    assert not Post.objects.filter(text="pwned").exists()


@pytest.mark.django_db
def test_api_lists_only_the_persons_own_organisations(tenant_a, tenant_b, client_for):
    response = client_for(tenant_a.member(Role.ANALYST)).get("/api/v1/organisations")
    assert response.status_code == 200
    assert [org["slug"] for org in response.json()] == ["org-a"]


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_login_and_the_api_refuses_them(tenant_a):
    from django.test import Client

    client = Client()
    response = client.get(f"/o/{tenant_a.organisation.slug}/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get(f"/api/v1/organisations/{tenant_a.organisation.slug}/channels").status_code == 401


@pytest.mark.django_db
def test_scoped_member_does_not_see_channels_outside_their_groups(tenant_a, client_for):
    from beffroi.organisations.models import Membership

    editor = tenant_a.member(Role.EDITOR)
    Membership.objects.get(user=editor).groups.set([tenant_a.local])
    client = client_for(editor)
    page = client.get(f"/o/{tenant_a.organisation.slug}/settings/channels/").content.decode()
    assert tenant_a.channel.display_name in page
    assert tenant_a.other_channel.display_name not in page
    api_list = client.get(f"/api/v1/organisations/{tenant_a.organisation.slug}/channels").json()
    assert [c["id"] for c in api_list] == [tenant_a.channel.pk]
    other = f"/api/v1/organisations/{tenant_a.organisation.slug}/channels/{tenant_a.other_channel.pk}"
    assert client.get(other).status_code == 404


def test_all_url_patterns_are_known():
    """Every URL of the site is either public, per-person, or under /o/<slug>/ (and so covered above)."""
    allowed_top = {
        "",
        "healthz",
        "o/new/",
        "o/<slug:slug>/",
        "invitations/<str:token>/",
        # Public by design, behind unguessable tokens: media networks fetch, Atom feeds (tested in their apps).
        "m/<str:token>.<str:extension>",
        "feeds/<str:token>.atom",
        "ical/<str:token>.ics",
        "oauth/bluesky/",  # Beffroi's public OAuth client metadata for Bluesky
        # Per person: the organisation is read from the person's own session (channels/connecting.py).
        "connect/<str:network>/callback/",
        "profile/",
        # Per person: their own notifications, from the organisations they still belong to.
        "notifications/",
        "notifications/read/",
        "notifications/<int:notification_id>/",
        "language/",
        "accounts/",
        "api/v1/",
        "admin/",
    }
    top = {str(p.pattern) for p in get_resolver().url_patterns if isinstance(p, (URLPattern, URLResolver))}
    assert top == allowed_top
