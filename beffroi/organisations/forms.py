from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from beffroi.core.forms import TimeZoneField
from beffroi.organisations.models import Organisation, PageGroup
from beffroi.organisations.roles import Role

LANGUAGE_CHOICES = [("fr", "Français"), ("en", "English")]


class OrganisationForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    time_zone = TimeZoneField(help_text=_("Posts are scheduled and statistics counted in this zone by default."))
    language = forms.ChoiceField(label=_("Default language"), choices=LANGUAGE_CHOICES)


class OrganisationSettingsForm(OrganisationForm):
    duplicate_window_hours = forms.IntegerField(
        label=_("Duplicate guard (hours)"),
        required=False,  # left empty: unchanged
        min_value=0,
        max_value=24 * 30,
        help_text=_(
            "The same post on two pages of one network within this many hours is flagged before it is scheduled, so "
            "fans of several pages do not get it twice. 0 turns it off."
        ),
    )


def _group_choices(organisation: Organisation):
    return PageGroup.objects.filter(organisation=organisation).select_related("parent__parent")


class GroupChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: PageGroup) -> str:
        return obj.path_label()


class GroupMultipleChoiceField(forms.ModelMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: PageGroup) -> str:
        return obj.path_label()


class PageGroupForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    level = forms.TypedChoiceField(label=_("Level"), choices=PageGroup.Level.choices, coerce=int)
    parent = GroupChoiceField(
        label=_("Inside group"), queryset=PageGroup.objects.none(), required=False, empty_label=_("— none (top) —")
    )

    def __init__(self, *args, organisation: Organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = _group_choices(organisation).exclude(level=PageGroup.Level.LOCAL)


class MemberScopeMixin(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, widget=forms.RadioSelect)
    groups = GroupMultipleChoiceField(
        label=_("Limited to these page groups"),
        queryset=PageGroup.objects.none(),
        required=False,
        help_text=_("Leave empty for the whole organisation. A group includes the groups below it."),
    )

    def __init__(self, *args, organisation: Organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["groups"].queryset = _group_choices(organisation)


class InvitationForm(MemberScopeMixin):
    email = forms.EmailField(label=_("E-mail address"), max_length=254)
    field_order = ["email", "role", "groups"]


class MembershipForm(MemberScopeMixin):
    pass


class AcceptInvitationForm(forms.Form):
    full_name = forms.CharField(label=_("Your name"), max_length=120)
    password = forms.CharField(
        label=_("Choose a password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 10 characters, not only digits, not a common password."),
    )
