"""Operations on channels. Connecting and reconnecting arrive with the network connectors."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from beffroi.channels.models import Channel
from beffroi.organisations.models import PageGroup


@transaction.atomic
def update_channel(
    channel: Channel, *, display_name: str, group: PageGroup | None, time_zone: str, status: str
) -> None:
    if group is not None and group.organisation_id != channel.organisation_id:
        raise ValidationError({"group": _("This group belongs to another organisation.")})
    if status != channel.status and status not in (Channel.Status.ACTIVE, Channel.Status.DISABLED):
        raise ValidationError({"status": _("Unknown status.")})
    if status == Channel.Status.ACTIVE and channel.status == Channel.Status.NEEDS_RECONNECTION:
        status = Channel.Status.NEEDS_RECONNECTION  # only a fresh connection clears this
    channel.display_name, channel.group, channel.time_zone, channel.status = (
        display_name.strip(),
        group,
        time_zone,
        status,
    )
    channel.full_clean(exclude=["organisation"])
    channel.save()


@transaction.atomic
def set_channel_enabled(channel: Channel, enabled: bool) -> None:
    if enabled:
        if channel.status == Channel.Status.DISABLED:
            channel.status = Channel.Status.ACTIVE
    else:
        channel.status = Channel.Status.DISABLED
    channel.save(update_fields=["status", "updated_at"])
