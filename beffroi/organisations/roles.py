"""Roles and what each may do: the single source of truth for permissions (views, querysets, API, menus)."""

from __future__ import annotations

from enum import StrEnum

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    VALIDATOR = "validator", _("Validator")
    EDITOR = "editor", _("Editor")
    MODERATOR = "moderator", _("Moderator")
    ANALYST = "analyst", _("Analyst")


class Action(StrEnum):
    VIEW_ORGANISATION = "view_organisation"
    MANAGE_ORGANISATION = "manage_organisation"
    MANAGE_GROUPS = "manage_groups"
    MANAGE_MEMBERS = "manage_members"
    VIEW_CHANNELS = "view_channels"
    MANAGE_CHANNELS = "manage_channels"
    VIEW_PUBLICATIONS = "view_publications"
    COMPOSE = "compose"
    APPROVE = "approve"
    PUBLISH = "publish"
    MODERATE = "moderate"
    VIEW_INSIGHTS = "view_insights"


_EVERYONE = {Action.VIEW_ORGANISATION, Action.VIEW_CHANNELS}

PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.VALIDATOR: frozenset(
        _EVERYONE | {Action.VIEW_PUBLICATIONS, Action.COMPOSE, Action.APPROVE, Action.PUBLISH, Action.VIEW_INSIGHTS}
    ),
    Role.EDITOR: frozenset(_EVERYONE | {Action.VIEW_PUBLICATIONS, Action.COMPOSE, Action.VIEW_INSIGHTS}),
    Role.MODERATOR: frozenset(_EVERYONE | {Action.MODERATE}),
    Role.ANALYST: frozenset(_EVERYONE | {Action.VIEW_INSIGHTS}),
}

ROLE_DESCRIPTIONS: dict[Role, str] = {
    Role.ADMIN: _("Manages the organisation, its pages, channels and members; can do everything."),
    Role.VALIDATOR: _("Approves and publishes posts."),
    Role.EDITOR: _("Writes posts and submits them for approval."),
    Role.MODERATOR: _("Answers and moderates comments and messages in the inbox."),
    Role.ANALYST: _("Reads statistics and reports, changes nothing."),
}


def role_allows(role: str, action: Action) -> bool:
    return action in PERMISSIONS.get(Role(role), frozenset())
