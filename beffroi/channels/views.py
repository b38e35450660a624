"""Channel settings: list, edit, enable and disable. Every lookup goes through Channel.objects.visible_to."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from beffroi.channels import services
from beffroi.channels.forms import ChannelForm
from beffroi.channels.models import Channel
from beffroi.core.forms import add_service_errors
from beffroi.organisations.roles import Action
from beffroi.organisations.tenancy import organisation_view


@organisation_view(Action.VIEW_CHANNELS)
def channel_list(request):
    channels = Channel.objects.visible_to(request.membership).select_related("group", "organisation")
    network = request.GET.get("network", "")
    if network:
        channels = channels.filter(network=network)
    status = request.GET.get("status", "")
    if status in Channel.Status.values:
        channels = channels.filter(status=status)
    return render(
        request,
        "channels/channel_list.html",
        {
            "channels": channels,
            "can_manage": request.membership.can(Action.MANAGE_CHANNELS),
            "network": network,
            "networks": sorted(
                {(c.network, c.get_network_display()) for c in Channel.objects.visible_to(request.membership)},
                key=lambda item: item[1],
            ),
        },
    )


@organisation_view(Action.MANAGE_CHANNELS)
def channel_edit(request, channel_id: int):
    channel = get_object_or_404(Channel.objects.visible_to(request.membership), pk=channel_id)
    form = ChannelForm(
        request.POST or None,
        organisation=request.organisation,
        initial={
            "display_name": channel.display_name,
            "group": channel.group_id,
            "time_zone": channel.time_zone,
            "status": Channel.Status.DISABLED if channel.status == Channel.Status.DISABLED else Channel.Status.ACTIVE,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_channel(channel, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Channel “%(name)s” saved.") % {"name": channel.display_name})
            return redirect("settings_channels", request.organisation.slug)
    return render(
        request, "channels/channel_edit.html", {"form": form, "channel": channel, "queue": _queue_days(channel)}
    )


def _queue_days(channel: Channel) -> list[dict]:
    from django.utils.dates import WEEKDAYS

    slots = list(channel.queue_slots.all())
    return [
        {
            "weekday": day,
            "label": WEEKDAYS[day],
            "times": ", ".join(s.time.strftime("%H:%M") for s in slots if s.weekday == day),
        }
        for day in range(7)
    ]


@organisation_view(Action.MANAGE_CHANNELS)
@require_POST
def channel_queue(request, channel_id: int):
    """The channel's weekly queue slots: one field per day, times separated by commas."""
    from beffroi.publishing.queues import set_slots

    channel = get_object_or_404(Channel.objects.visible_to(request.membership), pk=channel_id)
    slots = []
    for day in range(7):
        for text in request.POST.get(f"day-{day}", "").replace(";", ",").split(","):
            if text.strip():
                slots.append((day, text.strip()))
    try:
        set_slots(channel, slots)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _("Queue of “%(name)s” saved: %(count)s slots a week, in %(zone)s.")
            % {"name": channel.display_name, "count": len(slots), "zone": channel.effective_time_zone},
        )
    return redirect("settings_channel_edit", request.organisation.slug, channel.pk)


@require_POST
@organisation_view(Action.MANAGE_CHANNELS)
def channel_toggle(request, channel_id: int, verb: str):
    if verb not in ("enable", "disable"):
        raise Http404
    channel = get_object_or_404(Channel.objects.visible_to(request.membership), pk=channel_id)
    services.set_channel_enabled(channel, enabled=(verb == "enable"))
    if verb == "enable":
        messages.success(request, _("Channel “%(name)s” enabled.") % {"name": channel.display_name})
    else:
        messages.success(
            request,
            _("Channel “%(name)s” disabled: nothing will be published on it.") % {"name": channel.display_name},
        )
    return redirect("settings_channels", request.organisation.slug)


# Connecting channels (connecting.py holds the flow; each network's connect.py speaks to the network) ---------


def _connect_http():
    import httpx

    return httpx.Client(timeout=httpx.Timeout(20.0, connect=10.0), follow_redirects=False)


def _connect_error_message(error: Exception) -> str:
    import httpx

    from beffroi.networks.base import ConnectError, PublishError

    if isinstance(error, ConnectError):
        return error.localized()
    if isinstance(error, PublishError):
        return error.message
    if isinstance(error, httpx.HTTPError):
        return _("The network could not be reached. Check the address and try again.")
    return str(error)


@organisation_view(Action.MANAGE_CHANNELS)
def channel_connect(request):
    import httpx

    from beffroi.channels import connecting
    from beffroi.networks.base import PublishError
    from beffroi.networks.registry import all_capabilities, connect_for

    capabilities = all_capabilities()
    if request.method == "POST":
        network = request.POST.get("network", "")
        connect = connect_for(network)
        if connect is None:
            raise Http404
        state = connecting.new_state()
        form = {key: value for key, value in request.POST.items() if key != "csrfmiddlewaretoken"}
        try:
            with _connect_http() as http:
                url, kept = connect.start(redirect_uri=connecting.callback_uri(network), state=state, form=form)
                accounts = None
                if not url:
                    accounts = connect.finish(
                        redirect_uri=connecting.callback_uri(network), params=form, kept=kept, http=http
                    )
        except (ValueError, PublishError, httpx.HTTPError) as error:
            messages.error(request, _connect_error_message(error))
            return redirect("settings_channel_connect", request.organisation.slug)
        if url:
            connecting.remember(
                request.session, state, {"organisation": request.organisation.slug, "network": network, "kept": kept}
            )
            return redirect(url)
        connecting.remember(
            request.session,
            state,
            {
                "organisation": request.organisation.slug,
                "network": network,
                "accounts": connecting.accounts_to_json(accounts),
            },
        )
        return redirect("settings_channel_connect_choose", request.organisation.slug, state)
    return render(
        request,
        "channels/channel_connect.html",
        {"networks": [capabilities[n] for n in ("facebook", "instagram", "mastodon", "bluesky", "atom")]},
    )


def connect_callback(request, network: str):
    """Where networks send people back after they authorised Beffroi (one fixed address per network)."""
    import httpx

    from beffroi.channels import connecting
    from beffroi.networks.base import PublishError
    from beffroi.networks.registry import connect_for

    if not request.user.is_authenticated:
        return redirect("account_login")
    state = request.GET.get("state", "")
    data = connecting.recall(request.session, state, pop=True) if state else None
    connect = connect_for(network)
    if data is None or connect is None or data.get("network") != network:
        messages.error(request, _("This connection was not started here or has expired. Start again."))
        return redirect("home")
    slug = data["organisation"]
    membership = request.user.memberships.filter(organisation__slug=slug).first()
    if membership is None or not membership.can(Action.MANAGE_CHANNELS):
        raise Http404
    if request.GET.get("error"):
        messages.error(
            request,
            _("The network did not authorise Beffroi: %(reason)s")
            % {"reason": request.GET.get("error_description") or request.GET["error"]},
        )
        return redirect("settings_channel_connect", slug)
    try:
        with _connect_http() as http:
            accounts = connect.finish(
                redirect_uri=connecting.callback_uri(network),
                params=dict(request.GET.items()),
                kept=data["kept"],
                http=http,
            )
    except (ValueError, PublishError, httpx.HTTPError) as error:
        messages.error(request, _connect_error_message(error))
        return redirect("settings_channel_connect", slug)
    connecting.remember(
        request.session,
        state,
        {"organisation": slug, "network": network, "accounts": connecting.accounts_to_json(accounts)},
    )
    return redirect("settings_channel_connect_choose", slug, state)


@organisation_view(Action.MANAGE_CHANNELS)
def channel_connect_choose(request, state: str):
    from beffroi.channels import connecting
    from beffroi.organisations.models import PageGroup

    data = connecting.recall(request.session, state)
    if data is None or data.get("organisation") != request.organisation.slug:
        messages.error(request, _("This connection was not started here or has expired. Start again."))
        return redirect("settings_channel_connect", request.organisation.slug)
    accounts = connecting.accounts_from_json(data["accounts"])
    groups = PageGroup.objects.filter(organisation=request.organisation)
    scope = request.membership.scope_group_ids()
    if scope is not None:
        groups = groups.filter(pk__in=scope)
    known = set(
        Channel.objects.filter(
            organisation=request.organisation, network=data["network"], remote_id__in=[a.remote_id for a in accounts]
        ).values_list("remote_id", flat=True)
    )
    error = ""
    if request.method == "POST":
        chosen = [accounts[int(i)] for i in request.POST.getlist("account") if i.isdigit() and int(i) < len(accounts)]
        group = groups.filter(pk=request.POST.get("group") or 0).first()
        if not chosen:
            error = _("Choose at least one account.")
        else:
            try:
                created, reconnected = connecting.add_connected_accounts(
                    request.membership, data["network"], chosen, group=group
                )
            except ValidationError as refused:
                error = " ".join(refused.messages)
            else:
                connecting.recall(request.session, state, pop=True)
                if created:
                    messages.success(
                        request,
                        _("Connected: %(names)s.") % {"names": ", ".join(c.display_name for c in created)},
                    )
                if reconnected:
                    messages.success(
                        request,
                        _("Reconnected: %(names)s. Posts held meanwhile go out now.")
                        % {"names": ", ".join(c.display_name for c in reconnected)},
                    )
                return redirect("settings_channels", request.organisation.slug)
    return render(
        request,
        "channels/channel_connect_choose.html",
        {
            "accounts": [(index, account, account.remote_id in known) for index, account in enumerate(accounts)],
            "groups": groups,
            "network_label": dict(Channel._meta.get_field("network").choices).get(data["network"], data["network"]),
            "error": error,
        },
    )
