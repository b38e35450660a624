from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from beffroi.organisations.roles import Action

# The product's sections, in menu order: (url name, label, action needed to see it).
SECTIONS = [
    ("calendar", _("Calendar"), Action.VIEW_PUBLICATIONS),
    ("publications", _("Publications"), Action.VIEW_PUBLICATIONS),
    ("inbox", _("Inbox"), Action.MODERATE),
    ("insights", _("Statistics"), Action.VIEW_INSIGHTS),
    ("campaigns", _("Campaigns"), Action.COMPOSE),
    ("settings", _("Settings"), Action.VIEW_ORGANISATION),
]


def tenancy(request) -> dict:
    context: dict = {"viewer_time_zone": timezone.get_current_timezone_name()}
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return context
    context["user_memberships"] = list(user.memberships.select_related("organisation"))
    from beffroi.publishing.models import Notification

    # The bell: unread notifications from the organisations the person still belongs to.
    context["unread_notifications"] = Notification.objects.filter(
        recipient=user, read_at__isnull=True, organisation__memberships__user=user
    ).count()
    membership = getattr(request, "membership", None)
    if membership is not None:
        organisation = membership.organisation
        current = request.resolver_match.url_name if request.resolver_match else ""
        from beffroi.channels.models import Channel

        context.update(
            channels_needing_reconnection=list(
                Channel.objects.visible_to(membership)
                .filter(status=Channel.Status.NEEDS_RECONNECTION)
                .only("pk", "display_name", "network")
            ),
            can_manage_channels=membership.can(Action.MANAGE_CHANNELS),
            current_organisation=organisation,
            current_membership=membership,
            can_manage_members=membership.can(Action.MANAGE_MEMBERS),
            navigation=[
                {
                    "url": reverse(name, args=[organisation.slug]),
                    "label": label,
                    "current": current == name or current.startswith(f"{name}_"),
                }
                for name, label, action in SECTIONS
                if membership.can(action)
            ],
        )
    return context
