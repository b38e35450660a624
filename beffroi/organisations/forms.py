from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from beffroi.core.forms import TimeZoneField
from beffroi.organisations.models import APPROVER_ROLES, Organisation, PageGroup
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


class ApprovalStepForm(forms.Form):
    """A step added to a page group's approval chain: who approves it, and an optional name."""

    approver = forms.ChoiceField(
        label=_("Approved by"),
        help_text=_(
            "A page group: the validators limited to it (or to a group above it) approve. A role: the people with "
            "that role who see the page. Admins may approve any step."
        ),
    )
    label = forms.CharField(
        label=_("Name of the step"),
        max_length=120,
        required=False,
        help_text=_("Optional, e.g. “Public affairs office”. Without one, the step takes its approvers' name."),
    )

    def __init__(self, *args, organisation: Organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.groups = {str(g.pk): g for g in _group_choices(organisation)}
        self.fields["approver"].choices = [
            ("", _("— choose —")),
            (_("Validators of a page group"), [(f"group:{pk}", g.path_label()) for pk, g in self.groups.items()]),
            (_("A role"), [(f"role:{value}", label) for value, label in APPROVER_ROLES]),
        ]

    def clean_approver(self) -> dict:
        kind, _sep, value = self.cleaned_data["approver"].partition(":")
        if kind == "group" and value in self.groups:
            return {"approver_group": self.groups[value], "approver_role": ""}
        if kind == "role" and value in dict(APPROVER_ROLES):
            return {"approver_group": None, "approver_role": value}
        raise forms.ValidationError(_("Choose who approves this step."))


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
