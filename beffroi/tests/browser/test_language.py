"""Switching the interface language with the header's language menu (submitted by app.js on change)."""

import re

import pytest
from playwright.sync_api import expect

from beffroi.accounts.models import User
from beffroi.tests.browser.conftest import BASSIN, EMAILS, org_url

pytestmark = pytest.mark.browser


def choose_language(page, code: str) -> None:
    with page.expect_navigation():
        page.select_option("#language-select", code)


def language_cookie(page) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == "beffroi_language"), None)


def test_switch_to_english_and_back(login):
    page = login("admin", next=org_url(BASSIN, "settings/channels/"))
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "fr")
    expect(page.locator("#language-select")).to_have_value("fr")
    # "Log out" is translated in allauth's catalogue (and ours): whatever its French wording, it changes.
    logout = page.locator("details.user-menu form[action$='/logout/'] button")
    french_logout = (logout.text_content() or "").strip()
    assert french_logout and french_logout != "Log out"

    choose_language(page, "en")
    expect(html).to_have_attribute("lang", "en")
    expect(page).to_have_url(re.compile(f"{re.escape(org_url(BASSIN, 'settings/channels/'))}$"))  # same page
    expect(page.locator("#language-select")).to_have_value("en")
    expect(logout).to_have_text("Log out")
    expect(page.locator("main table")).to_contain_text("Centre social de Cambrai")
    assert language_cookie(page) == "en"
    assert User.objects.get(email=EMAILS["admin"]).language == "en"  # remembered for the person too

    page.reload()
    expect(html).to_have_attribute("lang", "en")

    choose_language(page, "fr")
    expect(html).to_have_attribute("lang", "fr")
    expect(page.locator("#language-select")).to_have_value("fr")
    expect(logout).to_have_text(french_logout)
    assert language_cookie(page) == "fr"
    assert User.objects.get(email=EMAILS["admin"]).language == "fr"


def test_switch_language_before_logging_in(page):
    page.goto("/accounts/login/")
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "fr")
    choose_language(page, "en")
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(html).to_have_attribute("lang", "en")
    # The login form is still there and works in English.
    expect(page.locator("#id_login")).to_be_visible()
    expect(page.locator("#id_password")).to_be_visible()
