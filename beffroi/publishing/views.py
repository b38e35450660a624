"""Publication lists and the publishing health page."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import pgettext_lazy

from beffroi.channels.models import Channel
from beffroi.organisations.roles import Action
from beffroi.organisations.tenancy import organisation_view
from beffroi.publishing.models import Publication, WorkerHeartbeat
from beffroi.publishing.states import State

# Tab labels name lists of posts (French: plural), unlike the state badges of one post.
TABS = [
    ("scheduled", pgettext_lazy("list of posts", "Scheduled"), [State.SCHEDULED, State.PUBLISHING]),
    ("published", pgettext_lazy("list of posts", "Published"), [State.PUBLISHED]),
    ("drafts", pgettext_lazy("list of posts", "Drafts"), [State.DRAFT]),
    ("awaiting", pgettext_lazy("list of posts", "Awaiting approval"), [State.AWAITING_APPROVAL]),
    ("problems", pgettext_lazy("list of posts", "Failed / to check"), [State.FAILED, State.UNKNOWN, State.MISSED]),
]


def visible_publications(membership):
    channels = Channel.objects.visible_to(membership)
    return Publication.objects.filter(channel__in=channels).select_related("channel", "post", "post__author")


@organisation_view(Action.VIEW_PUBLICATIONS)
def publication_list(request):
    current = request.GET.get("tab", "scheduled")
    tab = next((t for t in TABS if t[0] == current), TABS[0])
    publications = visible_publications(request.membership).filter(state__in=tab[2])
    publications = publications.order_by("-published_at" if tab[0] == "published" else "due_at", "pk")[:200]
    counts = dict(
        visible_publications(request.membership).values_list("state").annotate(n=Count("pk")).values_list("state", "n")
    )
    tabs = [(key, label, sum(counts.get(s, 0) for s in states), key == tab[0]) for key, label, states in TABS]
    return render(request, "publishing/publication_list.html", {"publications": publications, "tabs": tabs})


@organisation_view(Action.MANAGE_CHANNELS)
def health(request):
    """For admins: is publishing keeping its promise right now?"""
    now = timezone.now()
    publications = visible_publications(request.membership)
    per_channel = (
        Channel.objects.visible_to(request.membership)
        .annotate(
            due_next_hour=Count(
                "publications",
                filter=Q(publications__state=State.SCHEDULED, publications__due_at__lte=now + timedelta(hours=1)),
            ),
            late=Count("publications", filter=Q(publications__state=State.SCHEDULED, publications__run_at__lt=now)),
            unknown=Count("publications", filter=Q(publications__state=State.UNKNOWN)),
            failed=Count("publications", filter=Q(publications__state=State.FAILED)),
            missed=Count("publications", filter=Q(publications__state=State.MISSED)),
        )
        .order_by("display_name")
    )
    workers = [
        {"worker": w, "age": (now - w.beat_at).total_seconds()} for w in WorkerHeartbeat.objects.order_by("-beat_at")
    ]
    summary = {
        "due_next_hour": publications.filter(state=State.SCHEDULED, due_at__lte=now + timedelta(hours=1)).count(),
        "late": publications.filter(state=State.SCHEDULED, run_at__lt=now - timedelta(minutes=1)).count(),
        "publishing": publications.filter(state=State.PUBLISHING).count(),
        "unknown": publications.filter(state=State.UNKNOWN).count(),
        "failed": publications.filter(state=State.FAILED).count(),
        "missed": publications.filter(state=State.MISSED).count(),
    }
    return render(
        request,
        "publishing/health.html",
        {"channels": per_channel, "workers": workers, "summary": summary, "stale_after": 60},
    )
