"""Which channels a statistics page covers: the organisation, one page group (with its sub-groups) or one channel,
always narrowed to what the viewer may see."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404
from django.utils.translation import gettext as _

from beffroi.channels.models import Channel
from beffroi.organisations.models import Membership, Organisation, PageGroup, descendant_ids


@dataclass
class Scope:
    organisation: Organisation
    channels: list[Channel]
    label: str
    group: PageGroup | None = None
    channel: Channel | None = None

    @property
    def channel_ids(self) -> list[int]:
        return [channel.pk for channel in self.channels]

    @property
    def query(self) -> str:
        """The scope as URL parameters (links between statistics pages keep it)."""
        if self.channel:
            return f"channel={self.channel.pk}"
        if self.group:
            return f"group={self.group.pk}"
        return ""


def scope_for(membership: Membership, *, group_id: int | None = None, channel_id: int | None = None) -> Scope:
    organisation = membership.organisation
    visible = Channel.objects.visible_to(membership).select_related("group").order_by("display_name")
    if channel_id:
        channel = visible.filter(pk=channel_id).first()
        if channel is None:
            raise Http404
        return Scope(organisation, [channel], str(channel), channel=channel)
    if group_id:
        group = PageGroup.objects.filter(organisation=organisation, pk=group_id).first()
        if group is None:
            raise Http404
        ids = descendant_ids(organisation.pk, {group.pk})
        return Scope(organisation, list(visible.filter(group_id__in=ids)), group.path_label(), group=group)
    return Scope(organisation, list(visible), _("Whole organisation"))
