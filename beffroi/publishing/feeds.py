"""Views of the iCalendar feeds: the person's own feed addresses, and the feed itself (public by token)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from beffroi.organisations.models import PageGroup
from beffroi.organisations.roles import Action
from beffroi.organisations.tenancy import organisation_view
from beffroi.publishing.ical import build_calendar, feed_for_token
from beffroi.publishing.models import CalendarFeed


def _groups(membership):
    groups = PageGroup.objects.filter(organisation=membership.organisation)
    scope = membership.scope_group_ids()
    return groups if scope is None else groups.filter(pk__in=scope)


@organisation_view(Action.VIEW_PUBLICATIONS)
def calendar_feeds(request):
    membership = request.membership
    if request.method == "POST":
        group = None
        if request.POST.get("group"):
            group = _groups(membership).filter(pk=request.POST["group"]).first()
            if group is None:
                raise Http404
        elif membership.scope_group_ids() is not None:
            messages.error(request, _("Choose one of your page groups."))
            return redirect("calendar_feeds", request.organisation.slug)
        CalendarFeed.objects.create(membership=membership, group=group)
        messages.success(request, _("Calendar address created: copy it into your calendar app."))
        return redirect("calendar_feeds", request.organisation.slug)
    feeds = [
        (feed, request.build_absolute_uri(reverse("ical_feed", args=[feed.token])))
        for feed in CalendarFeed.objects.filter(membership=membership).select_related("group")
    ]
    return render(
        request,
        "publishing/calendar_feeds.html",
        {"feeds": feeds, "groups": _groups(membership), "scoped": membership.scope_group_ids() is not None},
    )


@organisation_view(Action.VIEW_PUBLICATIONS)
@require_POST
def calendar_feed_revoke(request, feed_id: int):
    deleted, _rows = CalendarFeed.objects.filter(membership=request.membership, pk=feed_id).delete()
    if not deleted:
        raise Http404
    messages.success(request, _("Calendar address revoked: calendars subscribed to it get nothing more."))
    return redirect("calendar_feeds", request.organisation.slug)


@require_GET
def ical_feed(request, token: str):
    feed = feed_for_token(token)
    if feed is None:
        raise Http404
    response = HttpResponse(build_calendar(feed), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="beffroi.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response
