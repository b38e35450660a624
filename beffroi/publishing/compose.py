"""The composer: write once, choose pages (one by one or by group), adapt per network, check live, then save a
draft, submit for approval, schedule, add to the queues or publish now. Every rule lives in the services."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from beffroi.channels.models import Channel
from beffroi.media.models import MediaFile
from beffroi.media.services import UploadRefused, store_upload
from beffroi.networks.registry import capabilities_for, connector_for
from beffroi.networks.validation import check_post
from beffroi.organisations.roles import Action
from beffroi.organisations.tenancy import organisation_view
from beffroi.publishing import services
from beffroi.publishing.hashtags import delete_hashtag_set, save_hashtag_set
from beffroi.publishing.links import link_preview
from beffroi.publishing.models import HashtagSet

ACTIONS = ("draft", "submit", "schedule", "queue", "now")


def _channels(membership):
    channels = (
        Channel.objects.visible_to(membership)
        .exclude(status=Channel.Status.DISABLED)
        .select_related("group", "group__parent", "group__parent__parent")
        .order_by("group__level", "group__name", "display_name")
    )
    return [c for c in channels if connector_for(c.network) is not None]


def _grouped(channels) -> OrderedDict:
    groups: OrderedDict = OrderedDict()
    for channel in channels:
        label = channel.group.path_label() if channel.group else _("No group")
        groups.setdefault(label, []).append(channel)
    return groups


def _selected(request, channels) -> list[Channel]:
    ids = {int(i) for i in request.POST.getlist("channels") if i.isdigit()}
    return [c for c in channels if c.pk in ids]


def _variant_for(request, channel: Channel) -> str:
    """The page's own text if one was written for it, else its network's, else "" (the common text)."""
    return (request.POST.get(f"variant-channel-{channel.pk}") or "").strip() or (
        request.POST.get(f"variant-{channel.network}") or ""
    ).strip()


def _text_for(request, channel: Channel) -> str:
    return _variant_for(request, channel) or request.POST.get("text", "")


def _local(request, prefix: str) -> datetime | None:
    date, time = request.POST.get(f"{prefix}date", ""), request.POST.get(f"{prefix}time", "")
    if not date:
        return None
    try:
        return datetime.fromisoformat(f"{date}T{time or '00:00'}")
    except ValueError as error:
        raise ValidationError({"scheduled_at": _("This date or time is not valid.")}) from error


LIBRARY_SIZE = 24  # recent files offered for reuse in the composer

# Best-time hints are computed for the first pages chosen only: the check runs as people type.
MAX_HINTS = 6


def _checks(request, selected: list[Channel]) -> list[dict]:
    """One row per network chosen: its count, limit, errors and warnings for the text it will get."""
    rows: OrderedDict = OrderedDict()
    for channel in selected:
        capabilities = capabilities_for(channel.network)
        if capabilities is None:
            continue
        limit = channel.config.get("max_characters")
        # A page with its own text gets its own row; the others share their network's.
        own = bool((request.POST.get(f"variant-channel-{channel.pk}") or "").strip())
        key = (channel.network, limit, channel.pk if own else None)
        if key in rows:
            rows[key]["channels"].append(channel.display_name)
            continue
        result = check_post(
            capabilities,
            _text_for(request, channel),
            limit=limit,
            content_warning=request.POST.get(f"cw-{channel.network}", ""),
        )
        rows[key] = {
            "label": capabilities.label,
            "network": channel.network,
            "result": result,
            "text": _text_for(request, channel),
            "channels": [channel.display_name],
            "handle": channel.handle,
        }
    return list(rows.values())


@organisation_view(Action.COMPOSE)
@require_POST
def compose_check(request):
    """The live check (htmx): per network, the count against its limit, errors and warnings, and a preview;
    then the best times to post on the chosen pages, from their own statistics."""
    from beffroi.insights.best_time import composer_hint

    selected = _selected(request, _channels(request.membership))
    link = request.POST.get("link", "").strip()
    return render(
        request,
        "publishing/compose_checks.html",
        {
            "checks": _checks(request, selected),
            "best_times": composer_hint(selected[:MAX_HINTS]) if selected else [],
            "link_preview": link_preview(link) if link else None,
        },
    )


@organisation_view(Action.COMPOSE)
def compose(request):
    membership = request.membership
    channels = _channels(membership)
    errors: list[str] = []
    duplicate = False
    if request.method == "POST":
        action = request.POST.get("action", "")
        selected = _selected(request, channels)
        try:
            if action not in ACTIONS:
                raise ValidationError(_("Choose what to do with the post."))
            if action == "schedule" and not request.POST.get("date"):
                raise ValidationError({"scheduled_at": _("Choose a date and a time, or publish now.")})
            post = _save(request, membership, action, selected)
        except (ValidationError, UploadRefused, PermissionDenied) as problem:
            if isinstance(problem, ValidationError):
                errors = problem.messages
                duplicate = hasattr(problem, "error_dict") and "duplicates" in problem.error_dict
            else:
                errors = [str(problem)]
        else:
            states = {p.state for p in post.publications.all()}
            if states == {"draft"}:
                messages.success(request, _("Draft saved."))
                return redirect(f"{_publications_url(request)}?tab=drafts")
            if states == {"awaiting_approval"}:
                messages.success(request, _("Submitted for approval."))
                return redirect(f"{_publications_url(request)}?tab=awaiting")
            if "awaiting_approval" in states:
                messages.success(
                    request,
                    _("Scheduled. The pages whose group requires approval wait for it before their post goes out."),
                )
                return redirect(f"{_publications_url(request)}?tab=awaiting")
            messages.success(request, _("Scheduled: the post goes out at its time on each page."))
            return redirect(f"{_publications_url(request)}?tab=scheduled")
    return render(
        request,
        "publishing/compose.html",
        {
            "groups": _grouped(channels),
            "networks": [
                (code, capabilities, request.POST.get(f"variant-{code}", ""), request.POST.get(f"cw-{code}", ""))
                for code, capabilities in sorted({c.network: capabilities_for(c.network) for c in channels}.items())
            ],
            "posted": request.POST if request.method == "POST" else None,
            "page_variants": [(channel, request.POST.get(f"variant-channel-{channel.pk}", "")) for channel in channels],
            "chosen": {int(i) for i in request.POST.getlist("channels") if i.isdigit()},
            "errors": errors,
            "duplicate": duplicate,
            "can_publish": membership.can(Action.PUBLISH),
            "today": timezone.localdate().isoformat(),
            "hashtag_sets": HashtagSet.objects.filter(organisation=membership.organisation),
            # The media library: files already uploaded by the organisation, to use again.
            "library": MediaFile.objects.filter(organisation=membership.organisation).order_by("-created_at")[
                :LIBRARY_SIZE
            ],
        },
    )


def _publications_url(request) -> str:
    from django.urls import reverse

    return reverse("publications", args=[request.organisation.slug])


def _save(request, membership, action: str, selected: list[Channel]):
    media = []
    upload = request.FILES.get("media")
    reused = request.POST.get("library_media", "")
    if upload:
        media.append(
            (
                store_upload(membership.organisation, upload, uploaded_by=request.user, name=upload.name),
                request.POST.get("alt_text", ""),
            )
        )
    elif reused.isdigit():
        chosen = MediaFile.objects.filter(organisation=membership.organisation, pk=int(reused)).first()
        if chosen is None:
            raise ValidationError(_("This file is no longer in the media library."))
        media.append((chosen, request.POST.get("alt_text", "")))
    variants = {c.pk: _variant_for(request, c) for c in selected}
    options = {}
    for channel in selected:
        channel_options = {}
        if request.POST.get(f"cw-{channel.network}"):
            channel_options["content_warning"] = request.POST[f"cw-{channel.network}"].strip()
        if channel_options:
            options[channel.pk] = channel_options
    common = {
        "text": request.POST.get("text", ""),
        "channel_ids": [c.pk for c in selected],
        "variants": {k: v for k, v in variants.items() if v},
        "media": media,
        "options": options,
        "link": request.POST.get("link", ""),
        "first_comment": request.POST.get("first_comment", ""),
        "duplicate_reason": request.POST.get("duplicate_reason", ""),
    }
    zone = request.POST.get("zone") or None  # empty: each page's own zone
    remove_local = _local(request, "end_")
    if action == "queue":
        return services.add_to_queue(membership, remove_local=remove_local, **common)
    local = None if action == "now" else _local(request, "")
    intent = {"draft": "draft", "submit": "submit"}.get(action, "schedule")
    return services.create_and_schedule_post(
        membership, local=local, zone=zone, remove_local=remove_local, intent=intent, **common
    )


@organisation_view(Action.COMPOSE)
@require_POST
def hashtag_set_save(request):
    try:
        saved = save_hashtag_set(
            request.membership, name=request.POST.get("name", ""), tags=request.POST.get("tags", "")
        )
    except ValidationError as problem:
        messages.error(request, " ".join(problem.messages))
    else:
        messages.success(request, _("Hashtag set “%(name)s” saved.") % {"name": saved.name})
    return redirect(f"{reverse('compose', args=[request.organisation.slug])}#hashtag-sets")


@organisation_view(Action.COMPOSE)
@require_POST
def hashtag_set_delete(request, set_id: int):
    delete_hashtag_set(request.membership, set_id)
    messages.success(request, _("Hashtag set deleted."))
    return redirect(f"{reverse('compose', args=[request.organisation.slug])}#hashtag-sets")
