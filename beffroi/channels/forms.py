from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from beffroi.channels.models import Channel
from beffroi.core.forms import TimeZoneField
from beffroi.organisations.forms import GroupChoiceField
from beffroi.organisations.models import Organisation, PageGroup


class ChannelForm(forms.Form):
    display_name = forms.CharField(label=_("Display name"), max_length=120)
    group = GroupChoiceField(
        label=_("Page group"), queryset=PageGroup.objects.none(), required=False, empty_label=_("— no group —")
    )
    time_zone = TimeZoneField(required=False, help_text=_("Leave empty to use the organisation's time zone."))
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[(Channel.Status.ACTIVE, _("Active")), (Channel.Status.DISABLED, _("Disabled"))],
        help_text=_("A disabled channel publishes nothing until it is enabled again."),
    )

    def __init__(self, *args, organisation: Organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = PageGroup.objects.filter(organisation=organisation)
