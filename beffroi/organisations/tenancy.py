"""Resolving the current organisation from the URL, and refusing anything outside it.

Every organisation page lives under /o/<slug>/. A person who is not a member gets 404 (the organisation's
existence is not revealed); a member whose role does not allow the action gets 403 with a clear message.
"""

from __future__ import annotations

import zoneinfo
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from beffroi.core.middleware import chosen_language
from beffroi.organisations.models import Membership
from beffroi.organisations.roles import Action

SESSION_KEY = "beffroi_organisation"


def membership_for(user, slug: str) -> Membership:
    membership = (
        Membership.objects.select_related("organisation", "user").filter(user=user, organisation__slug=slug).first()
    )
    if membership is None:
        raise Http404
    return membership


def require(membership: Membership, action: Action) -> None:
    if not membership.can(action):
        raise PermissionDenied(_("Your role in this organisation does not allow this."))


def organisation_view(action: Action = Action.VIEW_ORGANISATION):
    """Decorator for views under /o/<slug>/: sets request.organisation and request.membership."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, slug: str, *args, **kwargs):
            membership = membership_for(request.user, slug)
            # Set before the role check so that a 403 page still shows the organisation's navigation.
            request.membership = membership
            request.organisation = membership.organisation
            require(membership, action)
            request.session[SESSION_KEY] = slug
            if not request.user.time_zone:
                timezone.activate(zoneinfo.ZoneInfo(membership.organisation.time_zone))
            if chosen_language(request) is None:
                translation.activate(membership.organisation.language)
                request.LANGUAGE_CODE = membership.organisation.language
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
