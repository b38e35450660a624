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
    return render(request, "channels/channel_edit.html", {"form": form, "channel": channel})


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
