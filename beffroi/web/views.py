"""The product's sections that later work fills in, the person's profile and the language switch."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from beffroi.core.forms import TimeZoneField
from beffroi.organisations.context_processors import SECTIONS
from beffroi.organisations.tenancy import organisation_view
from beffroi.web.calendar import calendar, calendar_events, calendar_move  # noqa: F401 — routed in urls.py

# What each section will hold, said plainly while it is not built yet.
COMING = {
    "inbox": gettext_lazy(
        "The inbox will gather comments, mentions and messages from every page, with moderation rules, "
        "saved replies and escalation to a named contact."
    ),
    "campaigns": gettext_lazy(
        "Campaigns will group the posts of one operation across pages and networks, with their results."
    ),
}


def _section(name: str):
    action = next(action for url_name, _label, action in SECTIONS if url_name == name)
    label = next(label for url_name, label, _action in SECTIONS if url_name == name)

    @organisation_view(action)
    def view(request):
        return render(request, "web/section_coming.html", {"title": label, "description": COMING[name]})

    view.__name__ = f"{name}_section"
    return view


inbox = _section("inbox")
campaigns = _section("campaigns")


class ProfileForm(forms.Form):
    full_name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    time_zone = TimeZoneField(
        required=False,
        help_text=gettext_lazy("Times are shown in this zone. Leave empty to use each organisation's."),
    )
    language = forms.ChoiceField(label=gettext_lazy("Language"), choices=settings.LANGUAGES)


@login_required
def profile(request):
    user = request.user
    form = ProfileForm(
        request.POST or None,
        initial={"full_name": user.full_name, "time_zone": user.time_zone, "language": user.language or "fr"},
    )
    if request.method == "POST" and form.is_valid():
        for field, value in form.cleaned_data.items():
            setattr(user, field, value)
        user.save(update_fields=list(form.cleaned_data))
        messages.success(request, _("Profile saved."))
        response = redirect("profile")
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, user.language, max_age=365 * 24 * 3600, samesite="Lax")
        return response
    return render(request, "web/profile.html", {"form": form})


@require_POST
def set_language(request):
    """Switches the interface language for this browser, and remembers it for a logged-in person."""
    language = request.POST.get("language", "")
    if language not in dict(settings.LANGUAGES):
        language = settings.LANGUAGE_CODE
    next_url = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = "/"
    if request.user.is_authenticated and request.user.language != language:
        request.user.language = language
        request.user.save(update_fields=["language"])
    response = redirect(next_url)
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, max_age=365 * 24 * 3600, samesite="Lax")
    return response
