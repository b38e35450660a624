from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from beffroi.core.timezones import validate_time_zone


class TimeZoneField(forms.CharField):
    """An IANA zone typed with suggestions (a <datalist> of every zone), validated with a clear message."""

    def __init__(self, *, required: bool = True, **kwargs):
        kwargs.setdefault("label", _("Time zone"))
        kwargs.setdefault("max_length", 64)
        super().__init__(
            required=required,
            widget=forms.TextInput(attrs={"list": "time-zones", "autocomplete": "off", "spellcheck": "false"}),
            validators=[validate_time_zone],
            **kwargs,
        )

    def clean(self, value):
        return super().clean(value.strip() if isinstance(value, str) else value)


def add_service_errors(form: forms.Form, error) -> None:
    """Shows a service's ValidationError on the form: on its field when the form has it, else on top."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            for item in errors:
                form.add_error(field if field in form.fields else None, item)
    else:
        for message in error.messages:
            form.add_error(None, message)
