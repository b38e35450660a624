"""The editorial calendar: a page (FullCalendar, initialised by static/beffroi/calendar.js), the JSON events of
the visible range, and moving a publication by drag-and-drop (through the publishing service, never around it).

Times: everything is shown in the viewer's time zone (named on the page). A drop sends the new wall-clock time
as the viewer sees it; it is turned into an instant in the viewer's zone, then expressed as a wall-clock time in
the publication's own zone (the zone it was scheduled in, else its channel's), which is what the engine keeps:
the post stays "09:00 in Europe/Paris" and follows that zone's DST changes, whoever moved it.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce, Substr
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csp import get_nonce
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.csp import CSP
from django.utils.translation import gettext as _
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET, require_POST

from beffroi.channels.models import Channel
from beffroi.core.timezones import format_with_zone, utc_offset_label
from beffroi.networks.registry import Network
from beffroi.organisations.models import Membership, PageGroup, descendant_ids
from beffroi.organisations.roles import Action
from beffroi.organisations.tenancy import organisation_view
from beffroi.publishing.models import Publication, Variant
from beffroi.publishing.services import reschedule_publication
from beffroi.publishing.states import State
from beffroi.publishing.timing import resolve_local_time

# States a person moves on the calendar (the service decides in the end; drafts are planned from the post).
MOVABLE = frozenset({State.SCHEDULED, State.FAILED, State.MISSED})
# Shown unless the status filter asks for them.
HIDDEN_BY_DEFAULT = (State.CANCELLED, State.DELETED)
# The longest range one request may ask for (a month view shows six weeks; a little more for safety).
MAX_RANGE = timedelta(days=100)
TITLE_LENGTH = 60

# FullCalendar injects its stylesheet at run time with this page's nonce (styles only, this page only).
# Its icon font (the arrows of the toolbar) is a data: URL.
CALENDAR_CSP = {
    **settings.SECURE_CSP,
    "style-src": [*settings.SECURE_CSP.get("style-src", ["'self'"]), CSP.NONCE],
    "font-src": ["'self'", "data:"],
}


class BadRequest(Exception):
    pass


def _viewer_zone() -> zoneinfo.ZoneInfo:
    zone = timezone.get_current_timezone()
    return zone if isinstance(zone, zoneinfo.ZoneInfo) else zoneinfo.ZoneInfo(timezone.get_current_timezone_name())


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _visible_groups(membership: Membership) -> QuerySet[PageGroup]:
    groups = PageGroup.objects.filter(organisation_id=membership.organisation_id)
    scope = membership.scope_group_ids()
    return groups if scope is None else groups.filter(id__in=scope)


def filter_choices(membership: Membership) -> dict[str, Any]:
    channels = list(Channel.objects.visible_to(membership).order_by("display_name").values("id", "display_name"))
    networks = sorted(set(Channel.objects.visible_to(membership).values_list("network", flat=True)))
    return {
        "channels": channels,
        "groups": list(_visible_groups(membership).values("id", "name")),
        "networks": [(value, Network(value).label) for value in networks if value in Network.values],
        "states": State.choices,
    }


def filtered_publications(membership: Membership, params) -> QuerySet[Publication]:
    """The publications this membership may see, narrowed by the filters (unknown values are ignored)."""
    channels = Channel.objects.visible_to(membership)
    channel_id = _int_or_none(params.get("channel"))
    if channel_id is not None:
        channels = channels.filter(id=channel_id)
    group_id = _int_or_none(params.get("group"))
    if group_id is not None:
        channels = channels.filter(group_id__in=descendant_ids(membership.organisation_id, {group_id}))
    network = params.get("network") or ""
    if network in Network.values:
        channels = channels.filter(network=network)
    publications = Publication.objects.filter(channel__in=channels)
    state = params.get("state") or ""
    if state in State.values:
        return publications.filter(state=state)
    return publications.exclude(state__in=HIDDEN_BY_DEFAULT)


def _parse_bound(value: str | None, zone: zoneinfo.ZoneInfo) -> datetime:
    if not value:
        raise BadRequest(_("The calendar asked for a period without its start or end."))
    try:
        # An unencoded "+" of an offset arrives as a space: "2031-03-01T00:00:00 01:00".
        moment = datetime.fromisoformat(re.sub(r" (\d\d:?\d\d)$", r"+\1", value.strip()))
    except ValueError as error:
        raise BadRequest(_("The calendar asked for a period that is not a date.")) from error
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def _title(text: str) -> str:
    text = " ".join(text.split())
    return (text[:TITLE_LENGTH].rstrip() + "…") if len(text) > TITLE_LENGTH else text


def events_for(membership: Membership, params, zone: zoneinfo.ZoneInfo) -> list[dict[str, Any]]:
    """The events between params["start"] and params["end"]: one query, only the columns shown."""
    start, end = _parse_bound(params.get("start"), zone), _parse_bound(params.get("end"), zone)
    if end <= start or end - start > MAX_RANGE:
        raise BadRequest(_("The calendar asked for a period that is too long."))
    variant_text = Variant.objects.filter(post_id=OuterRef("post_id"), channel_id=OuterRef("channel_id")).values(
        "text"
    )[:1]
    rows = (
        filtered_publications(membership, params)
        .annotate(
            at=Coalesce(F("published_at"), F("due_at")),
            # A little more than the title needs, so that the "…" is added only when something was cut.
            text=Substr("post__text", 1, TITLE_LENGTH + 1),
            variant=Substr(Subquery(variant_text), 1, TITLE_LENGTH + 1),
        )
        .filter(at__gte=start, at__lt=end)
        .order_by("at", "pk")
        .values(
            "id", "post_id", "state", "at", "remove_at", "text", "variant", "channel__display_name", "channel__network"
        )
    )
    may_move = membership.can(Action.PUBLISH)
    # A click opens the post's page (its publications with their links, approval, thread and audit log).
    post_url = reverse("post_detail", args=[membership.organisation.slug, 0]).removesuffix("0/")
    network_labels = {value: str(label) for value, label in Network.choices}
    state_labels = {value: str(label) for value, label in State.choices}
    events = []
    for row in rows:
        state, network = row["state"], row["channel__network"]
        url = f"{post_url}{row['post_id']}/"
        events.append(
            {
                "id": row["id"],
                "title": _title(row["variant"] or row["text"] or ""),
                "start": row["at"].astimezone(zone).isoformat(timespec="seconds"),
                "network": network,
                "network_label": network_labels.get(network, network),
                "state": state,
                "state_label": state_labels.get(state, state),
                "channel": row["channel__display_name"],
                "editable": may_move and state in MOVABLE,
                "url": url,
                "classNames": [f"network-{network}", f"state-{state}"],
            }
        )
        if row["remove_at"] and row["remove_at"] > row["at"]:
            # A temporary post is drawn until the time it is removed from the network.
            event = events[-1]
            event["end"] = row["remove_at"].astimezone(zone).isoformat(timespec="seconds")
            event["removal"] = _("Temporary: removed %(when)s") % {"when": format_with_zone(row["remove_at"], zone.key)}
            event["classNames"].append("temporary")
    return events


@csp_override(CALENDAR_CSP)
@organisation_view(Action.VIEW_PUBLICATIONS)
def calendar(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    zone = _viewer_zone()
    choices = filter_choices(membership)
    selected = {key: request.GET.get(key, "") for key in ("channel", "group", "network", "state")}
    initial_date = request.GET.get("date", "")
    try:
        datetime.fromisoformat(initial_date)
    except ValueError:
        initial_date = ""
    context = {
        **choices,
        "selected": selected,
        "initial_date": initial_date,
        "csp_nonce": get_nonce(request),
        "calendar_locale": "fr" if request.LANGUAGE_CODE.startswith("fr") else "en-gb",
        "zone_name": zone.key,
        "zone_offset": utc_offset_label(timezone.now().astimezone(zone)),
        "can_move": membership.can(Action.PUBLISH),
        "legend": choices["networks"],
    }
    return render(request, "web/calendar.html", context)


@require_GET
@organisation_view(Action.VIEW_PUBLICATIONS)
def calendar_events(request: HttpRequest) -> HttpResponse:
    try:
        events = events_for(request.membership, request.GET, _viewer_zone())
    except BadRequest as error:
        return JsonResponse({"error": str(error)}, status=400)
    return JsonResponse(events, safe=False)


def _message(error: ValidationError) -> str:
    return " ".join(str(message) for message in error.messages)


@require_POST
@organisation_view(Action.VIEW_PUBLICATIONS)
def calendar_move(request: HttpRequest, publication_id: int) -> HttpResponse:
    membership = request.membership
    publication = get_object_or_404(
        Publication.objects.select_related("channel__organisation", "post"),
        pk=publication_id,
        channel__in=Channel.objects.visible_to(membership),
    )
    viewer_zone = _viewer_zone()
    try:
        wall_clock = datetime.fromisoformat(request.POST.get("start", ""))
    except ValueError:
        return JsonResponse({"error": _("Choose a date and a time.")}, status=400)
    try:
        # The time the viewer dropped it on, in the viewer's zone (a time skipped by DST is refused there)…
        instant = resolve_local_time(
            wall_clock.replace(tzinfo=None), viewer_zone.key, fold=_int_or_none(request.POST.get("fold"))
        ).due_at
        # …kept as a wall-clock time in the publication's own zone, as the engine schedules it.
        zone_name = publication.scheduled_tz or publication.channel.effective_time_zone
        local = instant.astimezone(zoneinfo.ZoneInfo(zone_name))
        reschedule_publication(
            membership, publication, local=local.replace(tzinfo=None, fold=0), zone=zone_name, fold=local.fold
        )
    except PermissionDenied as error:
        message = str(error) or _("Your role in this organisation does not allow this.")
        return JsonResponse({"error": message}, status=403)
    except ValidationError as error:
        return JsonResponse({"error": _message(error)}, status=400)
    return JsonResponse(
        {
            "id": publication.pk,
            "start": publication.due_at.astimezone(viewer_zone).isoformat(timespec="seconds"),
            "message": _("Moved: %(post)s, now planned for %(when)s.")
            % {"post": _title(publication.post.text), "when": format_with_zone(publication.due_at, viewer_zone.key)},
        }
    )
