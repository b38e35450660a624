"""Role × action matrix: each role may do exactly what the product promises, in the pages and in the API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from beffroi.conftest import Tenant
from beffroi.organisations.models import Invitation, PageGroup
from beffroi.organisations.roles import PERMISSIONS, Action, Role
from beffroi.urls import organisation_patterns

A = Action
# What each role may do, written out in full: a change to roles.PERMISSIONS must be deliberate.
EXPECTED = {
    Role.ADMIN: set(Action),
    Role.VALIDATOR: {
        A.VIEW_ORGANISATION,
        A.VIEW_CHANNELS,
        A.VIEW_PUBLICATIONS,
        A.COMPOSE,
        A.APPROVE,
        A.PUBLISH,
        A.VIEW_INSIGHTS,
    },
    Role.EDITOR: {A.VIEW_ORGANISATION, A.VIEW_CHANNELS, A.VIEW_PUBLICATIONS, A.COMPOSE, A.VIEW_INSIGHTS},
    Role.MODERATOR: {A.VIEW_ORGANISATION, A.VIEW_CHANNELS, A.MODERATE},
    Role.ANALYST: {A.VIEW_ORGANISATION, A.VIEW_CHANNELS, A.VIEW_INSIGHTS},
}


def test_permission_table_is_the_documented_one():
    assert {role: set(actions) for role, actions in PERMISSIONS.items()} == EXPECTED


@dataclass(frozen=True)
class Case:
    name: str  # URL name (pages) or "api:<operation>"
    method: str
    action: Action
    url: Callable[[Tenant], str]
    data: Callable[[Tenant], dict] = lambda t: {}
    ok: int = 200


def _slug(t: Tenant) -> str:
    return f"/o/{t.organisation.slug}"


def _api(t: Tenant) -> str:
    return f"/api/v1/organisations/{t.organisation.slug}"


def _empty_group(t: Tenant) -> int:
    return PageGroup.objects.create(organisation=t.organisation, name="Empty", level=3, parent=t.regional).pk


def _post(t: Tenant) -> int:
    from beffroi.publishing.models import Publication

    return Publication.objects.get(pk=_publication(t)).post_id


def _invitation(t: Tenant) -> int:
    return Invitation.objects.create(organisation=t.organisation, email="invited@example.org").pk


def _publication(t: Tenant) -> int:
    from beffroi.publishing.models import Post, Publication

    post = Post.objects.create(organisation=t.organisation, text="Hello")
    channel = t.channel
    channel.network = "mastodon"
    channel.save()
    return Publication.objects.create(post=post, channel=channel, state="scheduled").pk


def _step(t: Tenant) -> int:
    from beffroi.organisations.models import ApprovalStep

    return ApprovalStep.objects.create(group=t.local, position=1, approver_group=t.national).pk


def _editor_membership(t: Tenant) -> int:
    return t.organisation.memberships.get(user=t.member(Role.EDITOR)).pk


def _insight_post(t: Tenant) -> int:
    from datetime import UTC, datetime

    from beffroi.insights.models import ChannelPost

    return ChannelPost.objects.create(
        channel=t.channel, remote_id="p1", post_type="photo", published_at=datetime(2026, 11, 2, tzinfo=UTC)
    ).pk


def _watched(t: Tenant) -> int:
    from beffroi.insights.models import WatchedAccount

    # A private server: reading it is refused by the SSRF guard before any request (the test makes none).
    return WatchedAccount.objects.create(
        organisation=t.organisation, network="mastodon", handle="x", server="https://10.0.0.1"
    ).pk


def _channel_without_statistics(t: Tenant) -> int:
    from beffroi.channels.models import Channel

    return Channel.objects.create(organisation=t.organisation, network="atom", display_name="Feed", remote_id="f").pk


def _someone_elses_subscription(t: Tenant) -> int:
    from beffroi.accounts.models import User
    from beffroi.insights.models import ReportSubscription

    stranger = User.objects.create_user("stranger@example.org", "x-password-123")
    return ReportSubscription.objects.create(organisation=t.organisation, user=stranger).pk


CASES = [
    Case("dashboard", "get", A.VIEW_ORGANISATION, lambda t: f"{_slug(t)}/"),
    Case("calendar", "get", A.VIEW_PUBLICATIONS, lambda t: f"{_slug(t)}/calendar/"),
    Case("publications", "get", A.VIEW_PUBLICATIONS, lambda t: f"{_slug(t)}/publications/"),
    Case("publications_import", "get", A.COMPOSE, lambda t: f"{_slug(t)}/publications/import/"),
    # Nothing uploaded yet: back to the upload page (302) when allowed.
    Case(
        "publications_import_confirm", "post", A.COMPOSE, lambda t: f"{_slug(t)}/publications/import/confirm/", ok=302
    ),
    Case("publications_import_cancel", "post", A.COMPOSE, lambda t: f"{_slug(t)}/publications/import/cancel/", ok=302),
    Case("publications_import_template", "get", A.COMPOSE, lambda t: f"{_slug(t)}/publications/import/template.csv"),
    Case("publications_export", "get", A.VIEW_PUBLICATIONS, lambda t: f"{_slug(t)}/publications/export.csv"),
    Case("api:export_posts", "get", A.VIEW_PUBLICATIONS, lambda t: f"{_api(t)}/posts/export"),
    Case("inbox", "get", A.MODERATE, lambda t: f"{_slug(t)}/inbox/"),
    Case("insights", "get", A.VIEW_INSIGHTS, lambda t: f"{_slug(t)}/insights/"),
    Case("insights_audience", "get", A.VIEW_INSIGHTS, lambda t: f"{_slug(t)}/insights/audience/"),
    Case("insights_online", "get", A.VIEW_INSIGHTS, lambda t: f"{_slug(t)}/insights/online/"),
    Case("insights_best_time", "get", A.VIEW_INSIGHTS, lambda t: f"{_slug(t)}/insights/best-time/"),
    Case("insights_posts", "get", A.VIEW_INSIGHTS, lambda t: f"{_slug(t)}/insights/posts/"),
    Case("insights_post", "get", A.VIEW_INSIGHTS, lambda t: f"{_slug(t)}/insights/posts/{_insight_post(t)}/"),
    Case("insights_watched", "get", A.VIEW_INSIGHTS, lambda t: f"{_slug(t)}/insights/watched/"),
    # Watching changes the organisation's list: those who write posts (an empty form is shown again: 200).
    Case("insights_watched", "post", A.COMPOSE, lambda t: f"{_slug(t)}/insights/watched/"),
    Case(
        "insights_watched_read", "post", A.COMPOSE, lambda t: f"{_slug(t)}/insights/watched/{_watched(t)}/read/", ok=302
    ),
    Case(
        "insights_watched_remove",
        "post",
        A.COMPOSE,
        lambda t: f"{_slug(t)}/insights/watched/{_watched(t)}/remove/",
        ok=302,
    ),
    Case("insights_collection", "get", A.VIEW_INSIGHTS, lambda t: f"{_slug(t)}/insights/collection/"),
    Case(
        "insights_collect_now",
        "post",
        A.APPROVE,
        lambda t: f"{_slug(t)}/insights/collection/{_channel_without_statistics(t)}/collect/",
        ok=302,
    ),
    Case("insights_reports", "get", A.VIEW_INSIGHTS, lambda t: f"{_slug(t)}/insights/reports/"),
    Case(
        "insights_reports",
        "post",
        A.VIEW_INSIGHTS,
        lambda t: f"{_slug(t)}/insights/reports/",
        lambda t: {"frequency": "weekly", "group": "", "language": "en"},
        ok=302,
    ),
    # Only one's own subscription can be stopped: someone else's does not exist for you.
    Case(
        "insights_report_unsubscribe",
        "post",
        A.VIEW_INSIGHTS,
        lambda t: f"{_slug(t)}/insights/reports/{_someone_elses_subscription(t)}/delete/",
        ok=404,
    ),
    Case("insights_report_pdf", "get", A.VIEW_INSIGHTS, lambda t: f"{_slug(t)}/insights/report.pdf"),
    Case("campaigns", "get", A.COMPOSE, lambda t: f"{_slug(t)}/campaigns/"),
    Case("settings", "get", A.VIEW_ORGANISATION, lambda t: f"{_slug(t)}/settings/"),
    Case(
        "settings",
        "post",
        A.MANAGE_ORGANISATION,
        lambda t: f"{_slug(t)}/settings/",
        lambda t: {"name": "Renamed", "time_zone": "Europe/Paris", "language": "fr"},
        ok=302,
    ),
    Case("settings_groups", "get", A.VIEW_ORGANISATION, lambda t: f"{_slug(t)}/settings/groups/"),
    Case(
        "settings_groups",
        "post",
        A.MANAGE_GROUPS,
        lambda t: f"{_slug(t)}/settings/groups/",
        lambda t: {"name": "New group", "level": "3", "parent": t.regional.pk},
        ok=302,
    ),
    Case("settings_group_edit", "get", A.MANAGE_GROUPS, lambda t: f"{_slug(t)}/settings/groups/{t.local.pk}/"),
    Case(
        "settings_group_delete",
        "post",
        A.MANAGE_GROUPS,
        lambda t: f"{_slug(t)}/settings/groups/{_empty_group(t)}/delete/",
        ok=302,
    ),
    Case("settings_channels", "get", A.VIEW_CHANNELS, lambda t: f"{_slug(t)}/settings/channels/"),
    Case("calendar_feeds", "get", A.VIEW_PUBLICATIONS, lambda t: f"{_slug(t)}/calendar/feeds/"),
    Case(
        "calendar_events",
        "get",
        A.VIEW_PUBLICATIONS,
        lambda t: f"{_slug(t)}/calendar/events?start=2031-03-01&end=2031-04-01",
    ),
    Case(
        "calendar_move",
        "post",
        A.PUBLISH,
        lambda t: f"{_slug(t)}/calendar/events/{_publication(t)}/move",
        lambda t: {"start": "2031-06-03T09:00"},
    ),
    Case("compose", "get", A.COMPOSE, lambda t: f"{_slug(t)}/compose/"),
    # Nothing awaits approval here: allowed roles are sent back to the list with a message.
    Case("post_decision", "post", A.APPROVE, lambda t: f"{_slug(t)}/posts/{_post(t)}/approve/", ok=302),
    Case("post_detail", "get", A.VIEW_PUBLICATIONS, lambda t: f"{_slug(t)}/posts/{_post(t)}/"),
    Case(
        "post_comment",
        "post",
        A.VIEW_PUBLICATIONS,
        lambda t: f"{_slug(t)}/posts/{_post(t)}/comments/",
        lambda t: {"body": "Bravo"},
        ok=302,
    ),
    Case(
        "settings_group_approval_add",
        "post",
        A.MANAGE_GROUPS,
        lambda t: f"{_slug(t)}/settings/groups/{t.local.pk}/approval/",
        lambda t: {"approver": "role:validator"},
        ok=302,
    ),
    Case(
        "settings_group_approval_step",
        "post",
        A.MANAGE_GROUPS,
        lambda t: f"{_slug(t)}/settings/groups/{t.local.pk}/approval/{_step(t)}/remove/",
        ok=302,
    ),
    Case("compose_check", "post", A.COMPOSE, lambda t: f"{_slug(t)}/compose/check/", lambda t: {"text": "x"}),
    Case(
        "compose_hashtag_save",
        "post",
        A.COMPOSE,
        lambda t: f"{_slug(t)}/compose/hashtags/",
        lambda t: {"name": "Set", "tags": "#a"},
        ok=302,
    ),
    Case("compose_hashtag_delete", "post", A.COMPOSE, lambda t: f"{_slug(t)}/compose/hashtags/0/delete/", ok=302),
    Case(
        "settings_channel_queue",
        "post",
        A.MANAGE_CHANNELS,
        lambda t: f"{_slug(t)}/settings/channels/{t.channel.pk}/queue/",
        lambda t: {"day-0": "12:00"},
        ok=302,
    ),
    # One's own addresses only: an unknown id is "not found" for those allowed, refused for the others.
    Case(
        "calendar_feed_revoke",
        "post",
        A.VIEW_PUBLICATIONS,
        lambda t: f"{_slug(t)}/calendar/feeds/999999/revoke/",
        ok=404,
    ),
    Case("settings_channel_edit", "get", A.MANAGE_CHANNELS, lambda t: f"{_slug(t)}/settings/channels/{t.channel.pk}/"),
    Case("settings_channel_connect", "get", A.MANAGE_CHANNELS, lambda t: f"{_slug(t)}/settings/channels/connect/"),
    # An unknown step sends the person back to the start (302) when allowed.
    Case(
        "settings_channel_connect_choose",
        "get",
        A.MANAGE_CHANNELS,
        lambda t: f"{_slug(t)}/settings/channels/connect/no-such-step/",
        ok=302,
    ),
    Case(
        "settings_channel_toggle",
        "post",
        A.MANAGE_CHANNELS,
        lambda t: f"{_slug(t)}/settings/channels/{t.channel.pk}/disable/",
        ok=302,
    ),
    Case("settings_members", "get", A.MANAGE_MEMBERS, lambda t: f"{_slug(t)}/settings/members/"),
    Case(
        "settings_members",
        "post",
        A.MANAGE_MEMBERS,
        lambda t: f"{_slug(t)}/settings/members/",
        lambda t: {"email": "someone@example.org", "role": "editor"},
        ok=302,
    ),
    Case(
        "settings_member_edit",
        "get",
        A.MANAGE_MEMBERS,
        lambda t: f"{_slug(t)}/settings/members/{_editor_membership(t)}/",
    ),
    Case(
        "settings_member_remove",
        "post",
        A.MANAGE_MEMBERS,
        lambda t: f"{_slug(t)}/settings/members/{_editor_membership(t)}/remove/",
        ok=302,
    ),
    Case(
        "settings_invitation_action",
        "post",
        A.MANAGE_MEMBERS,
        lambda t: f"{_slug(t)}/settings/invitations/{_invitation(t)}/revoke/",
        ok=302,
    ),
    Case("settings_publishing_health", "get", A.MANAGE_CHANNELS, lambda t: f"{_slug(t)}/settings/publishing-health/"),
    Case("api:get_organisation", "get", A.VIEW_ORGANISATION, lambda t: _api(t)),
    Case("api:list_groups", "get", A.VIEW_ORGANISATION, lambda t: f"{_api(t)}/groups"),
    Case("api:list_channels", "get", A.VIEW_CHANNELS, lambda t: f"{_api(t)}/channels"),
    Case("api:get_channel", "get", A.VIEW_CHANNELS, lambda t: f"{_api(t)}/channels/{t.channel.pk}"),
    Case(
        "api:update_channel",
        "patch",
        A.MANAGE_CHANNELS,
        lambda t: f"{_api(t)}/channels/{t.channel.pk}",
        lambda t: {"display_name": "Renamed"},
    ),
    Case("api:list_members", "get", A.MANAGE_MEMBERS, lambda t: f"{_api(t)}/members"),
    Case("api:list_publications", "get", A.VIEW_PUBLICATIONS, lambda t: f"{_api(t)}/publications"),
    Case("api:cancel", "post", A.COMPOSE, lambda t: f"{_api(t)}/publications/{_publication(t)}/cancel"),
    Case(
        "api:reschedule",
        "post",
        A.PUBLISH,
        lambda t: f"{_api(t)}/publications/{_publication(t)}/reschedule",
        lambda t: {"scheduled_at": "2035-01-10T12:00:00"},
    ),
]


def test_every_organisation_page_is_in_the_matrix():
    from beffroi.organisations.tests.test_tenant_isolation import flattened

    covered = {case.name for case in CASES}
    assert {pattern.name for _route, pattern in flattened(organisation_patterns)} <= covered


@pytest.mark.django_db
@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method}-{c.name}")
def test_role_action_matrix(role, case, tenant_a, client_for):
    client = client_for(tenant_a.member(role))
    url = case.url(tenant_a)
    data = case.data(tenant_a)
    if case.method == "patch" or (case.method == "post" and case.name.startswith("api:")):
        response = getattr(client, case.method)(url, data, content_type="application/json")
    else:
        response = getattr(client, case.method)(url, data)
    allowed = case.action in EXPECTED[Role(role)]
    expected = case.ok if allowed else 403
    assert response.status_code == expected, f"{role} {case.method.upper()} {url}: {response.status_code}"
    if not allowed and case.method != "get":
        # A refused write changed nothing.
        tenant_a.organisation.refresh_from_db()
        tenant_a.channel.refresh_from_db()
        assert tenant_a.organisation.name == "Org a"
        assert tenant_a.channel.display_name == "a page" and tenant_a.channel.status == "active"
        assert tenant_a.organisation.memberships.count() == len(Role.values)


@pytest.mark.django_db
@pytest.mark.parametrize("role", Role.values)
def test_navigation_shows_only_the_sections_the_role_may_open(role, tenant_a, client_for):
    page = client_for(tenant_a.member(role)).get(f"/o/{tenant_a.organisation.slug}/").content.decode()
    slug = tenant_a.organisation.slug
    for section, action in [
        ("calendar", A.VIEW_PUBLICATIONS),
        ("inbox", A.MODERATE),
        ("insights", A.VIEW_INSIGHTS),
        ("campaigns", A.COMPOSE),
    ]:
        assert (f'href="/o/{slug}/{section}/"' in page) == (action in EXPECTED[Role(role)]), section
    settings_page = client_for(tenant_a.member(role)).get(f"/o/{slug}/settings/").content.decode()
    assert (f'href="/o/{slug}/settings/members/"' in settings_page) == (role == Role.ADMIN)
