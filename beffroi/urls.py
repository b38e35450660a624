from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from beffroi.api.api import api
from beffroi.channels import views as channel_views
from beffroi.core.views import healthz
from beffroi.media import views as media_views
from beffroi.networks.atom.feed import atom_feed
from beffroi.organisations import views as org_views
from beffroi.publishing import compose as publishing_compose
from beffroi.publishing import feeds as publishing_feeds
from beffroi.publishing import views as publishing_views
from beffroi.web import views as web_views

organisation_patterns = [
    path("", org_views.dashboard, name="dashboard"),
    path("calendar/", web_views.calendar, name="calendar"),
    path("calendar/events", web_views.calendar_events, name="calendar_events"),
    path("calendar/events/<int:publication_id>/move", web_views.calendar_move, name="calendar_move"),
    path("publications/", publishing_views.publication_list, name="publications"),
    path("compose/", publishing_compose.compose, name="compose"),
    path("posts/<int:post_id>/", publishing_views.post_detail, name="post_detail"),
    path("posts/<int:post_id>/comments/", publishing_views.post_comment, name="post_comment"),
    path("posts/<int:post_id>/<str:verb>/", publishing_views.post_decision, name="post_decision"),
    path("compose/check/", publishing_compose.compose_check, name="compose_check"),
    path("compose/hashtags/", publishing_compose.hashtag_set_save, name="compose_hashtag_save"),
    path(
        "compose/hashtags/<int:set_id>/delete/",
        publishing_compose.hashtag_set_delete,
        name="compose_hashtag_delete",
    ),
    path("publications/import/", publishing_views.publication_import, name="publications_import"),
    path(
        "publications/import/confirm/", publishing_views.publication_import_confirm, name="publications_import_confirm"
    ),
    path("publications/import/cancel/", publishing_views.publication_import_cancel, name="publications_import_cancel"),
    path(
        "publications/import/template.csv",
        publishing_views.publication_import_template,
        name="publications_import_template",
    ),
    path("publications/export.csv", publishing_views.publication_export, name="publications_export"),
    path("settings/publishing-health/", publishing_views.health, name="settings_publishing_health"),
    path("inbox/", web_views.inbox, name="inbox"),
    path("insights/", include("beffroi.insights.urls")),
    path("campaigns/", web_views.campaigns, name="campaigns"),
    path("settings/", org_views.settings_organisation, name="settings"),
    path("settings/groups/", org_views.groups, name="settings_groups"),
    path("settings/groups/<int:group_id>/", org_views.group_edit, name="settings_group_edit"),
    path("settings/groups/<int:group_id>/delete/", org_views.group_delete, name="settings_group_delete"),
    path("settings/groups/<int:group_id>/approval/", org_views.group_approval_add, name="settings_group_approval_add"),
    path(
        "settings/groups/<int:group_id>/approval/<int:step_id>/<str:verb>/",
        org_views.group_approval_step,
        name="settings_group_approval_step",
    ),
    path("settings/channels/", channel_views.channel_list, name="settings_channels"),
    path("settings/channels/connect/", channel_views.channel_connect, name="settings_channel_connect"),
    path(
        "settings/channels/connect/<str:state>/",
        channel_views.channel_connect_choose,
        name="settings_channel_connect_choose",
    ),
    path("settings/channels/<int:channel_id>/", channel_views.channel_edit, name="settings_channel_edit"),
    path("settings/channels/<int:channel_id>/queue/", channel_views.channel_queue, name="settings_channel_queue"),
    path(
        "settings/channels/<int:channel_id>/<str:verb>/",
        channel_views.channel_toggle,
        name="settings_channel_toggle",
    ),
    path("settings/members/", org_views.members, name="settings_members"),
    path("settings/members/<int:membership_id>/", org_views.member_edit, name="settings_member_edit"),
    path("settings/members/<int:membership_id>/remove/", org_views.member_remove, name="settings_member_remove"),
    path(
        "settings/invitations/<int:invitation_id>/<str:verb>/",
        org_views.invitation_action,
        name="settings_invitation_action",
    ),
    path("calendar/feeds/", publishing_feeds.calendar_feeds, name="calendar_feeds"),
    path("calendar/feeds/<int:feed_id>/revoke/", publishing_feeds.calendar_feed_revoke, name="calendar_feed_revoke"),
]

urlpatterns = [
    path("", org_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("m/<str:token>.<str:extension>", media_views.public_file, name="public_media"),
    path("feeds/<str:token>.atom", atom_feed, name="atom_feed"),
    path("ical/<str:token>.ics", publishing_feeds.ical_feed, name="ical_feed"),
    path("o/new/", org_views.organisation_new, name="organisation_new"),
    path("o/<slug:slug>/", include(organisation_patterns)),
    path("invitations/<str:token>/", org_views.accept_invitation, name="accept_invitation"),
    path("connect/<str:network>/callback/", channel_views.connect_callback, name="connect_callback"),
    path("oauth/bluesky/", include("beffroi.networks.bluesky.urls")),
    path("profile/", web_views.profile, name="profile"),
    path("notifications/", publishing_views.notification_list, name="notifications"),
    path("notifications/read/", publishing_views.notifications_read, name="notifications_read"),
    path("notifications/<int:notification_id>/", publishing_views.notification_open, name="notification_open"),
    path("language/", web_views.set_language, name="set_language"),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
]
