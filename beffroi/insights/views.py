"""The statistics pages (/o/<slug>/insights/…). Thin: each view reads the scope and period asked for, calls the
services (overview, audience, heatmap, best_time, performance, watching, reports) and turns their results into
tables (exports.py) that the page shows, the CSV (`?format=csv&table=…`) writes and the PDF draws."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from beffroi.channels.models import Channel
from beffroi.insights import audience, charts, exports, performance, reports, watching
from beffroi.insights.best_time import WEEKDAYS, best_time
from beffroi.insights.demo import has_demo_data
from beffroi.insights.exports import Table
from beffroi.insights.heatmap import heatmap_for
from beffroi.insights.metrics import REASON_LABELS, Dimension
from beffroi.insights.models import ChannelPost, InsightsSync, ReportSubscription, WatchedAccount
from beffroi.insights.overview import FIGURES, overview
from beffroi.insights.periods import PRESETS, Period, period_from_params
from beffroi.insights.scope import Scope, scope_for
from beffroi.networks.registry import insights_reader_for
from beffroi.organisations.models import Membership, PageGroup
from beffroi.organisations.roles import Action
from beffroi.organisations.tenancy import organisation_view

# The statistics sections, in tab order: (url name, label).
SECTIONS = [
    ("insights", gettext_lazy("Overview")),
    ("insights_audience", gettext_lazy("Audience")),
    ("insights_online", gettext_lazy("When your audience is online")),
    ("insights_best_time", gettext_lazy("Best time to post")),
    ("insights_posts", gettext_lazy("Posts")),
    ("insights_watched", gettext_lazy("Watched pages")),
    ("insights_collection", gettext_lazy("Collection")),
    ("insights_reports", gettext_lazy("Reports")),
]
POSTS_PER_PAGE = 50
BEST_TIME_CHANNELS = 40  # best times are computed per channel: a page shows at most this many


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@dataclass
class Setup:
    """What every statistics page is about: the scope, the period and the viewer's zone."""

    membership: Membership
    scope: Scope
    period: Period
    preset: str  # "7" | "28" | "90" | "custom"
    zone: str
    today: date
    params: dict[str, str] = field(default_factory=dict)  # the scope and period as URL parameters

    @property
    def query(self) -> str:
        return urlencode(self.params)

    @property
    def preset_links(self) -> list[tuple[str, str]]:
        """(days, query) of the quick periods, keeping the scope."""
        scope = {key: value for key, value in self.params.items() if key in ("group", "channel")}
        return [(str(days), urlencode({**scope, "days": days})) for days in PRESETS]

    def query_with(self, **changes: str) -> str:
        params = {**self.params, **changes}
        return urlencode({key: value for key, value in params.items() if value})


def visible_groups(membership: Membership) -> list[PageGroup]:
    every = list(PageGroup.objects.filter(organisation_id=membership.organisation_id).order_by("level", "name"))
    by_id = {group.pk: group for group in every}
    for group in every:
        # Parents from this list: a group's path label then walks up without one query per ancestor.
        group.parent = by_id.get(group.parent_id)
    scope = membership.scope_group_ids()
    return [group for group in every if scope is None or group.pk in scope]


def setup(request: HttpRequest) -> Setup:
    membership = request.membership
    group_id, channel_id = _int(request.GET.get("group")), _int(request.GET.get("channel"))
    if group_id is not None:
        allowed = membership.scope_group_ids()
        if allowed is not None and group_id not in allowed:
            raise Http404  # a group outside the person's scope does not exist for them
    scope = scope_for(membership, group_id=group_id, channel_id=channel_id)
    zone = timezone.get_current_timezone_name()
    today = timezone.localdate()
    asked = {key: request.GET.get(key, "") for key in ("days", "start", "end")}
    if asked["days"] != "custom":
        asked["start"] = asked["end"] = ""
    period, preset = period_from_params({k: v for k, v in asked.items() if v}, today)
    params = {}
    if scope.channel:
        params["channel"] = str(scope.channel.pk)
    elif scope.group:
        params["group"] = str(scope.group.pk)
    if preset == "custom":
        params.update(days="custom", start=period.start.isoformat(), end=period.end.isoformat())
    else:
        params["days"] = preset
    return Setup(membership, scope, period, preset, zone, today, params)


def base_context(request: HttpRequest, page: Setup, section: str) -> dict[str, Any]:
    membership = page.membership
    slug = membership.organisation.slug
    return {
        "page": page,
        "section": section,
        "sections": [(name, label, reverse(name, args=[slug]), name == section) for name, label in SECTIONS],
        "groups": visible_groups(membership),
        "scope_channels": list(
            Channel.objects.visible_to(membership).order_by("display_name").only("pk", "display_name", "network")
        ),
        "presets": [str(days) for days in PRESETS],
        "demo_data": has_demo_data(page.scope.channel_ids),
        "chart_locale": "FR" if (get_language() or "").startswith("fr") else "EN",
        "can_collect": membership.can(Action.APPROVE),
        "can_watch": membership.can(Action.COMPOSE),
    }


def csv_response(request: HttpRequest, page: Setup, tables: dict[str, Table], default: str) -> HttpResponse:
    table = tables.get(request.GET.get("table") or default)
    if table is None:
        raise Http404
    response = HttpResponse(exports.to_csv(table), content_type="text/csv; charset=utf-8")
    name = exports.csv_filename(
        page.membership.organisation.slug, table, f"{page.period.start:%Y%m%d}-{page.period.end:%Y%m%d}"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def wants_csv(request: HttpRequest) -> bool:
    return request.GET.get("format") == "csv"


# --- Pages --------------------------------------------------------------------------------------------------


@require_GET
@organisation_view(Action.VIEW_INSIGHTS)
def overview_page(request: HttpRequest) -> HttpResponse:
    page = setup(request)
    view = overview(page.scope, page.period, page.zone)
    tables = {
        "figures": exports.figures_table(view),
        "series": exports.series_table(view),
        "rollup": exports.rollup_table(view),
    }
    if wants_csv(request):
        return csv_response(request, page, tables, "figures")
    context = base_context(request, page, "insights")
    context.update(
        view=view,
        figures=[view.figures[str(key)] for key in FIGURES],
        gap_groups=exports.gap_summary(view.figures.values()),
        notes=list(dict.fromkeys(note for figure in view.figures.values() for note in figure.notes)),
        tables=tables,
        series_chart=charts.series_chart(view),
    )
    return render(request, "insights/overview.html", context)


@require_GET
@organisation_view(Action.VIEW_INSIGHTS)
def audience_page(request: HttpRequest) -> HttpResponse:
    page = setup(request)
    breakdowns = {dimension: audience.breakdown(page.scope, dimension) for dimension in Dimension}
    pyramid = audience.pyramid(breakdowns[Dimension.AGE_GENDER])
    tables = {"age_gender": exports.age_gender_table(pyramid, breakdowns[Dimension.AGE_GENDER])}
    for dimension in (Dimension.COUNTRY, Dimension.CITY, Dimension.LANGUAGE):
        tables[str(dimension)] = exports.dimension_table(breakdowns[dimension])
    if wants_csv(request):
        return csv_response(request, page, tables, "age_gender")
    context = base_context(request, page, "insights_audience")
    context.update(
        breakdowns=[(breakdowns[dimension], tables[str(dimension)]) for dimension in Dimension],
        tables=tables,
        pyramid_chart=charts.pyramid_chart(pyramid),
    )
    return render(request, "insights/audience.html", context)


@require_GET
@organisation_view(Action.VIEW_INSIGHTS)
def online_page(request: HttpRequest) -> HttpResponse:
    page = setup(request)
    heatmap = heatmap_for(page.scope.channel_ids, page.zone, page.period.start, page.period.end)
    tables = {"heatmap": exports.heatmap_table(heatmap)}
    if wants_csv(request):
        return csv_response(request, page, tables, "heatmap")
    context = base_context(request, page, "insights_online")
    peak = heatmap.peak()
    context.update(
        heatmap=heatmap,
        basis=reports.heatmap_basis(heatmap),
        peak=f"{WEEKDAYS[peak[0]]} {peak[1]:02d}:00" if peak else "",
        tables=tables,
        heatmap_chart=charts.heatmap_chart(heatmap),
    )
    return render(request, "insights/online.html", context)


@require_GET
@organisation_view(Action.VIEW_INSIGHTS)
def best_time_page(request: HttpRequest) -> HttpResponse:
    page = setup(request)
    with_stats = [c for c in page.scope.channels if insights_reader_for(c.network) is not None]
    results = [best_time(channel) for channel in with_stats[:BEST_TIME_CHANNELS]]
    tables = {"best_time": exports.best_time_table(results)}
    if wants_csv(request):
        return csv_response(request, page, tables, "best_time")
    context = base_context(request, page, "insights_best_time")
    context.update(
        results=results,
        without=[c for c in page.scope.channels if c not in with_stats],
        more=len(with_stats) - BEST_TIME_CHANNELS,
        tables=tables,
    )
    return render(request, "insights/best_time.html", context)


@require_GET
@organisation_view(Action.VIEW_INSIGHTS)
def posts_page(request: HttpRequest) -> HttpResponse:
    page = setup(request)
    sort = request.GET.get("sort", "interactions")
    sort = sort if sort in performance.SORTS else "interactions"
    descending = request.GET.get("dir", "desc") != "asc"
    rows = performance.post_rows(page.scope, page.period, page.zone, sort=sort, descending=descending)
    top, bottom = performance.top_and_bottom(rows)
    slug = page.membership.organisation.slug

    def link(post: ChannelPost) -> str:
        return reverse("insights_post", args=[slug, post.pk]) + (f"?{page.query}" if page.query else "")

    tables = {
        "by_type": exports.by_type_table(performance.by_type(page.scope, page.period, page.zone)),
        "top": exports.posts_table(top, page.zone, key="top", title=_("Best posts"), link=link),
        "bottom": exports.posts_table(bottom, page.zone, key="bottom", title=_("Least successful posts"), link=link),
        "posts": exports.posts_table(rows, page.zone, link=link),
    }
    if wants_csv(request):
        return csv_response(request, page, tables, "posts")
    paginator = Paginator(tables["posts"].rows, POSTS_PER_PAGE)
    listing = paginator.get_page(request.GET.get("page"))
    shown = Table(tables["posts"].key, tables["posts"].title, tables["posts"].columns, list(listing.object_list))
    context = base_context(request, page, "insights_posts")
    context.update(
        tables=tables,
        shown=shown,
        listing=listing,
        sort=sort,
        descending=descending,
        sort_links={
            column.key: page.query_with(sort=column.sort, dir="asc" if column.sort == sort and descending else "desc")
            for column in shown.columns
            if column.sort
        },
        sorted_query=page.query_with(sort=sort, dir="desc" if descending else "asc"),
    )
    return render(request, "insights/posts.html", context)


@organisation_view(Action.VIEW_INSIGHTS)
def post_page(request: HttpRequest, post_id: int) -> HttpResponse:
    page = setup(request)
    post = get_object_or_404(
        ChannelPost.objects.select_related("channel", "publication"),
        pk=post_id,
        channel__in=Channel.objects.visible_to(page.membership),
    )
    curve = performance.lifetime_curve(post)
    tables = {"curve": exports.curve_table(curve, page.zone)}
    if wants_csv(request):
        return csv_response(request, page, tables, "curve")
    context = base_context(request, page, "insights_posts")
    context.update(
        post=post,
        post_type=exports.post_type_label(post.post_type),
        tables=tables,
        curve_chart=charts.curve_chart(curve),
        values=[
            (label, getattr(post, name), (post.unavailable or {}).get(name))
            for name, label in (
                ("interactions", _("Interactions")),
                ("reach", _("Reach")),
                ("views", _("Views")),
                ("likes", _("Likes")),
                ("comments", _("Comments")),
                ("shares", _("Shares")),
                ("saves", _("Saves")),
            )
        ],
        reason_labels=_reason_labels(),
        demo_data=post.is_demo,
    )
    return render(request, "insights/post.html", context)


def _reason_labels() -> dict[str, str]:
    return {str(reason): str(label) for reason, label in REASON_LABELS.items()}


# --- Watched pages ------------------------------------------------------------------------------------------


class WatchForm(forms.Form):
    network = forms.ChoiceField(label=gettext_lazy("Network"))
    handle = forms.CharField(
        label=gettext_lazy("Account"),
        max_length=255,
        help_text=gettext_lazy("Bluesky: name.bsky.social. Mastodon: @name@server or name with the server below."),
    )
    server = forms.CharField(
        label=gettext_lazy("Server (Mastodon)"),
        max_length=500,
        required=False,
        help_text=gettext_lazy("e.g. mastodon.social; leave empty for Bluesky."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["network"].choices = watching.watchable_networks()


@organisation_view(Action.VIEW_INSIGHTS)
def watched_page(request: HttpRequest) -> HttpResponse:
    page = setup(request)
    organisation = page.membership.organisation
    form = WatchForm(request.POST or None)
    if request.method == "POST":
        if not page.membership.can(Action.COMPOSE):
            raise PermissionDenied(_("Your role in this organisation does not allow this."))
        if form.is_valid():
            try:
                account = watching.add_watched(organisation, request.user, **form.cleaned_data)
            except watching.WatchError as error:
                form.add_error(None, error.localized())
            else:
                if watching.read_account(account):
                    messages.success(request, _("%(account)s is now watched.") % {"account": account.handle})
                else:
                    messages.error(
                        request,
                        _("%(account)s is watched, but could not be read: %(error)s")
                        % {"account": account.handle, "error": account.last_error},
                    )
                return redirect(_url("insights_watched", page))
    start, end = performance.period_bounds(page.period, page.zone)
    records = watching.best_posts(organisation, start, end)
    tables = {"watched_posts": exports.watched_posts_table(records, page.zone)}
    if wants_csv(request):
        return csv_response(request, page, tables, "watched_posts")
    context = base_context(request, page, "insights_watched")
    context.update(
        form=form,
        accounts=list(WatchedAccount.objects.filter(organisation=organisation).order_by("network", "handle")),
        networks=dict(watching.watchable_networks()),
        tables=tables,
    )
    return render(request, "insights/watched.html", context)


def _url(name: str, page: Setup, *args: Any) -> str:
    url = reverse(name, args=[page.membership.organisation.slug, *args])
    return f"{url}?{page.query}" if page.query else url


def _watched_account(request: HttpRequest, account_id: int) -> WatchedAccount:
    if not request.membership.can(Action.COMPOSE):
        raise PermissionDenied(_("Your role in this organisation does not allow this."))
    return get_object_or_404(WatchedAccount, pk=account_id, organisation=request.organisation)


@require_POST
@organisation_view(Action.VIEW_INSIGHTS)
def watched_read(request: HttpRequest, account_id: int) -> HttpResponse:
    page = setup(request)
    account = _watched_account(request, account_id)
    if watching.read_account(account):
        messages.success(request, _("%(account)s was read.") % {"account": account.handle})
    else:
        messages.error(
            request,
            _("%(account)s could not be read: %(error)s") % {"account": account.handle, "error": account.last_error},
        )
    return redirect(_url("insights_watched", page))


@require_POST
@organisation_view(Action.VIEW_INSIGHTS)
def watched_remove(request: HttpRequest, account_id: int) -> HttpResponse:
    page = setup(request)
    account = _watched_account(request, account_id)
    account.delete()
    messages.success(request, _("%(account)s is no longer watched.") % {"account": account.handle})
    return redirect(_url("insights_watched", page))


# --- Collection ---------------------------------------------------------------------------------------------


@require_GET
@organisation_view(Action.VIEW_INSIGHTS)
def collection_page(request: HttpRequest) -> HttpResponse:
    page = setup(request)
    syncs = {sync.channel_id: sync for sync in InsightsSync.objects.filter(channel_id__in=page.scope.channel_ids)}
    rows = [
        (channel, syncs.get(channel.pk), insights_reader_for(channel.network) is not None)
        for channel in page.scope.channels
    ]
    table = exports.collection_table(rows, page.zone)
    if wants_csv(request):
        return csv_response(request, page, {"collection": table}, "collection")
    context = base_context(request, page, "insights_collection")
    context.update(
        table=table,
        rows=[(*row, cells) for row, cells in zip(rows, table.rows, strict=True)],
        tables={"collection": table},
        is_demo_organisation=page.membership.organisation.is_demo,
    )
    return render(request, "insights/collection.html", context)


@require_POST
@organisation_view(Action.APPROVE)
def collect_now(request: HttpRequest, channel_id: int) -> HttpResponse:
    from beffroi.insights.tasks import collect_channel_now

    page = setup(request)
    channel = get_object_or_404(Channel.objects.visible_to(request.membership), pk=channel_id)
    if insights_reader_for(channel.network) is None:
        messages.error(request, _("This channel type has no statistics."))
    elif request.organisation.is_demo:
        messages.error(request, _("Demo channels are not connected to any network: nothing to collect."))
    else:
        collect_channel_now.enqueue(channel.pk)
        messages.success(
            request,
            _("Collection of %(channel)s has started; this page shows its progress.") % {"channel": channel},
        )
    return redirect(_url("insights_collection", page))


# --- Reports ------------------------------------------------------------------------------------------------


class SubscriptionForm(forms.Form):
    frequency = forms.ChoiceField(label=gettext_lazy("How often"), choices=ReportSubscription.Frequency.choices)
    group = forms.ChoiceField(label=gettext_lazy("Pages"), required=False)
    language = forms.ChoiceField(label=gettext_lazy("Language of the report"), choices=settings.LANGUAGES)

    def __init__(self, *args, groups: list[PageGroup], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.groups = {str(group.pk): group for group in groups}
        self.fields["group"].choices = [("", _("Whole organisation"))] + [
            (str(group.pk), group.path_label()) for group in groups
        ]


def report_language(request: HttpRequest) -> str:
    language = request.GET.get("lang") or (get_language() or "fr")[:2]
    return language if language in dict(settings.LANGUAGES) else "fr"


@organisation_view(Action.VIEW_INSIGHTS)
def reports_page(request: HttpRequest) -> HttpResponse:
    page = setup(request)
    membership = page.membership
    groups = visible_groups(membership)
    form = SubscriptionForm(
        request.POST or None, groups=groups, initial={"language": report_language(request), "frequency": "monthly"}
    )
    if request.method == "POST" and form.is_valid():
        wanted = {
            "organisation": membership.organisation,
            "user": request.user,
            "group": form.groups.get(form.cleaned_data["group"] or ""),
            "frequency": form.cleaned_data["frequency"],
        }
        # Checked first: the database's unique constraint does not catch two "whole organisation" rows (NULL group).
        if ReportSubscription.objects.filter(**wanted).exists():
            form.add_error(None, _("You already receive this report."))
        else:
            try:
                with transaction.atomic():
                    ReportSubscription.objects.create(**wanted, language=form.cleaned_data["language"])
            except IntegrityError:
                form.add_error(None, _("You already receive this report."))
            else:
                messages.success(request, _("You will receive this report by e-mail."))
                return redirect(_url("insights_reports", page))
    context = base_context(request, page, "insights_reports")
    context.update(
        form=form,
        subscriptions=list(
            ReportSubscription.objects.filter(organisation=membership.organisation, user=request.user)
            .select_related("group")
            .order_by("frequency", "pk")
        ),
        email=request.user.email,
        report_languages=settings.LANGUAGES,
        current_language=report_language(request),
    )
    return render(request, "insights/reports.html", context)


@require_POST
@organisation_view(Action.VIEW_INSIGHTS)
def report_unsubscribe(request: HttpRequest, subscription_id: int) -> HttpResponse:
    page = setup(request)
    subscription = get_object_or_404(
        ReportSubscription, pk=subscription_id, organisation=request.organisation, user=request.user
    )
    subscription.delete()
    messages.success(request, _("You will no longer receive this report."))
    return redirect(_url("insights_reports", page))


@require_GET
@organisation_view(Action.VIEW_INSIGHTS)
def report_pdf(request: HttpRequest) -> HttpResponse:
    page = setup(request)
    language = report_language(request)
    data = reports.gather(page.scope, page.period, page.zone, language)
    response = HttpResponse(reports.render_pdf(data), content_type="application/pdf")
    name = reports.report_filename(page.membership.organisation.slug, page.period, language)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
