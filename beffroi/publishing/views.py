"""Publication lists, the page of one post, notifications, the publishing health page, and bulk CSV import and
export."""

from __future__ import annotations

import re
import secrets
import time
from datetime import timedelta
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy
from django.views.decorators.http import require_GET, require_POST

from beffroi.channels.models import Channel
from beffroi.organisations.roles import Action
from beffroi.organisations.tenancy import organisation_view
from beffroi.publishing import bulk, services
from beffroi.publishing.approvals import Chains, awaiting_my_decision, post_overview, visible_post
from beffroi.publishing.models import Notification, Publication, WorkerHeartbeat
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
    membership = request.membership
    current = request.GET.get("tab", "scheduled")
    tab = next((t for t in TABS if t[0] == current), TABS[0])
    publications = visible_publications(membership).filter(state__in=tab[2])
    counts = dict(
        visible_publications(membership).values_list("state").annotate(n=Count("pk")).values_list("state", "n")
    )
    mine = awaiting_my_decision(membership)
    if tab[0] == "awaiting":
        # Also what awaits this person's approval on pages they do not see (they approve for another group).
        publications = Publication.objects.filter(Q(pk__in=publications.values("pk")) | Q(pk__in=mine)).select_related(
            "channel", "post", "post__author"
        )
        publications = publications.prefetch_related("step_approvals")
    publications = list(
        publications.order_by("-published_at" if tab[0] == "published" else "due_at", "post_id", "pk")[:200]
    )
    set_of_mine = set(mine)
    if set_of_mine:  # the awaiting tab also holds what awaits this person on pages they do not see
        visible_awaiting = visible_publications(membership).filter(state=State.AWAITING_APPROVAL)
        counts[State.AWAITING_APPROVAL] = len(set_of_mine | set(visible_awaiting.values_list("pk", flat=True)))
    tabs = [(key, label, sum(counts.get(s, 0) for s in states), key == tab[0]) for key, label, states in TABS]
    if tab[0] == "awaiting":
        chains = Chains.of(membership.organisation_id)
        for publication in publications:
            publication.pending_step = chains.pending_step(publication)
            publication.chain_length = len(chains.for_channel(publication.channel))
    return render(
        request,
        "publishing/publication_list.html",
        {
            "publications": publications,
            "tabs": tabs,
            "deciding": {p.post_id for p in publications if p.pk in set_of_mine},
            "awaiting_me": len(mine),
            "now": timezone.now(),
        },
    )


def _visible_post_or_404(membership, post_id: int):
    post = visible_post(membership, post_id)
    if post is None:
        raise Http404
    return post


@organisation_view(Action.VIEW_PUBLICATIONS)
def post_detail(request, post_id: int):
    """One post: its text and variants, each publication, its approval chain, its thread and its audit log."""
    membership = request.membership
    post = _visible_post_or_404(membership, post_id)
    overview = post_overview(membership, post)
    shown = {p.channel_id for p in overview["publications"]}
    return render(
        request,
        "publishing/post_detail.html",
        {
            "post": post,
            **overview,
            "variants": [v for v in post.variants.select_related("channel") if v.channel_id in shown and v.text],
            "media": list(post.media.select_related("media")),
            "comments": post.comments.select_related("author"),
            "events": post.events.select_related("actor"),
            "now": timezone.now(),
        },
    )


@organisation_view(Action.VIEW_PUBLICATIONS)
@require_POST
def post_comment(request, post_id: int):
    post = _visible_post_or_404(request.membership, post_id)
    try:
        services.comment_on_post(request.membership, post, body=request.POST.get("body", ""))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Comment added."))
    return redirect(f"{reverse('post_detail', args=[request.organisation.slug, post.pk])}#thread")


@organisation_view(Action.APPROVE)
@require_POST
def post_decision(request, post_id: int, verb: str):
    """Approve or reject (with a comment) a post awaiting approval, from the list or from the post's page."""
    if verb not in ("approve", "reject"):
        raise Http404
    post = _visible_post_or_404(request.membership, post_id)
    try:
        if verb == "approve":
            publications = services.approve_post(request.membership, post, comment=request.POST.get("comment", ""))
            if all(p.state == State.SCHEDULED for p in publications):
                messages.success(request, _("Approved: “%(post)s” is scheduled.") % {"post": post})
            else:
                messages.success(
                    request, _("Step approved: “%(post)s” now awaits the next step of its chain.") % {"post": post}
                )
        else:
            services.reject_post(request.membership, post, comment=request.POST.get("comment", ""))
            messages.success(request, _("Sent back to its author with your comment: “%(post)s”.") % {"post": post})
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, " ".join(error.messages) if isinstance(error, ValidationError) else str(error))
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect(f"{reverse('publications', args=[request.organisation.slug])}?tab=awaiting")


# Notifications ------------------------------------------------------------------------------------------------


def _my_notifications(user):
    """A person's notifications from the organisations they still belong to."""
    return Notification.objects.filter(recipient=user, organisation__memberships__user=user)


@login_required
def notification_list(request):
    notifications = list(_my_notifications(request.user).select_related("organisation", "actor", "post__author")[:100])
    return render(
        request,
        "publishing/notifications.html",
        {
            "notifications": notifications,
            "unread": sum(1 for n in notifications if n.read_at is None),
            "several_organisations": len({n.organisation_id for n in notifications}) > 1,
        },
    )


@login_required
@require_POST
def notifications_read(request):
    """Marks every notification read."""
    _my_notifications(request.user).filter(read_at__isnull=True).update(read_at=timezone.now())
    messages.success(request, _("All notifications marked as read."))
    return redirect("notifications")


@login_required
def notification_open(request, notification_id: int):
    """Opens what a notification is about, and marks it read."""
    notification = get_object_or_404(_my_notifications(request.user), pk=notification_id)
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk).update(read_at=timezone.now())
    if notification.url and url_has_allowed_host_and_scheme(notification.url, allowed_hosts=None):
        return redirect(notification.url)
    return redirect("notifications")


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


# ---------------------------------------------------------------------------------------------------- bulk CSV


# An uploaded file waits here between the dry run and the confirmation, named by a random token that only the
# person's session knows (the browser never sends a path or a name back).
IMPORT_SESSION_KEY = "beffroi_bulk_import"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")
_IMPORT_MAX_AGE_S = 24 * 3600


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy("UTF-8, columns separated by commas or semicolons, at most 5,000 rows and 5 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


def _import_dir() -> Path:
    directory = Path(settings.DATA_DIR) / "imports"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _forget_old_imports() -> None:
    """Files left by an upload never confirmed nor cancelled go after a day."""
    limit = time.time() - _IMPORT_MAX_AGE_S
    for path in _import_dir().glob("*.csv"):
        try:
            if path.stat().st_mtime < limit:
                path.unlink()
        except OSError:
            pass


def _pending_path(request) -> Path | None:
    """The waiting file of this person for this organisation, or None."""
    pending = request.session.get(IMPORT_SESSION_KEY) or {}
    token = pending.get(request.organisation.slug)
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return None
    path = _import_dir() / f"{token}.csv"
    return path if path.is_file() else None


def _drop_pending(request) -> None:
    path = _pending_path(request)
    if path is not None:
        path.unlink(missing_ok=True)
    pending = dict(request.session.get(IMPORT_SESSION_KEY) or {})
    if pending.pop(request.organisation.slug, None) is not None:
        request.session[IMPORT_SESSION_KEY] = pending


def _report_page(request, report: bulk.Report, name: str):
    return render(request, "publishing/import_report.html", {"report": report, "file_name": name})


@organisation_view(Action.COMPOSE)
def publication_import(request):
    """Step 1: upload, then the dry-run report (nothing is created yet)."""
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            data = upload.read(bulk.MAX_BYTES + 1)  # one byte too many is enough for "too big"
            report = bulk.dry_run(request.membership, data)
        except ValidationError as error:
            for message in error.messages:
                form.add_error("file", message)
        else:
            _drop_pending(request)
            _forget_old_imports()
            token = secrets.token_urlsafe(32)
            (_import_dir() / f"{token}.csv").write_bytes(data)
            pending = dict(request.session.get(IMPORT_SESSION_KEY) or {})
            pending[request.organisation.slug] = token
            request.session[IMPORT_SESSION_KEY] = pending
            request.session[f"{IMPORT_SESSION_KEY}_name"] = upload.name[:200]
            return _report_page(request, report, upload.name)
    return render(request, "publishing/import_upload.html", {"form": form, "max_rows": bulk.MAX_ROWS})


@organisation_view(Action.COMPOSE)
@require_POST  # inside: another organisation's slug is a 404 whatever the method
def publication_import_confirm(request):
    """Step 2: creates every post of the waiting file, or none when a row is (now) bad."""
    path = _pending_path(request)
    if path is None:
        messages.error(request, _("Nothing to import: upload the file again."))
        return redirect("publications_import", request.organisation.slug)
    try:
        posts = bulk.import_posts(request.membership, path.read_bytes())
    except bulk.ImportRefused as refused:
        return _report_page(request, refused.report, request.session.get(f"{IMPORT_SESSION_KEY}_name", ""))
    except ValidationError as error:
        _drop_pending(request)
        for message in error.messages:
            messages.error(request, message)
        return redirect("publications_import", request.organisation.slug)
    _drop_pending(request)
    messages.success(
        request,
        ngettext("%(count)s post imported.", "%(count)s posts imported.", len(posts)) % {"count": len(posts)},
    )
    return redirect("publications", request.organisation.slug)


@organisation_view(Action.COMPOSE)
@require_POST  # inside: another organisation's slug is a 404 whatever the method
def publication_import_cancel(request):
    _drop_pending(request)
    messages.success(request, _("Import cancelled: nothing was created."))
    return redirect("publications", request.organisation.slug)


@organisation_view(Action.COMPOSE)
@require_GET  # inside: another organisation's slug is a 404 whatever the method
def publication_import_template(request):
    response = HttpResponse(bulk.template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="beffroi-import-template.csv"'
    return response


def filtered_publications(membership, params) -> QuerySet:
    """The publications list's filters, for the export: `tab`, `state`, `channel`."""
    publications = visible_publications(membership)
    tab = next((t for t in TABS if t[0] == params.get("tab")), None)
    if tab is not None:
        publications = publications.filter(state__in=tab[2])
    if params.get("state") in State.values:
        publications = publications.filter(state=params["state"])
    if str(params.get("channel", "")).isdigit():
        publications = publications.filter(channel_id=int(params["channel"]))
    return publications


@organisation_view(Action.VIEW_PUBLICATIONS)
@require_GET  # inside: another organisation's slug is a 404 whatever the method
def publication_export(request):
    text = bulk.export_posts(request.membership, filtered_publications(request.membership, request.GET))
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    name = f"beffroi-{request.organisation.slug}-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
