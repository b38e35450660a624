"""Logging in through the form: the demo admin reaches an organisation; a wrong password does not."""

import re

import pytest
from playwright.sync_api import expect

from beffroi.demo.data import DEMO_PASSWORD
from beffroi.tests.browser.conftest import BASSIN, EMAILS, QUEBEC, click_and_load, org_url, screenshot, submit_login

pytestmark = pytest.mark.browser

BASSIN_NAME = "Centres sociaux connectés du Bassin minier"
QUEBEC_NAME = "SCC — Division du Québec"
NO_HORIZONTAL_OVERFLOW = """() => {
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) return false;
  return [...document.querySelectorAll("main .card")].every((card) => {
    const box = card.getBoundingClientRect();
    return [...card.querySelectorAll("*")].every((el) => el.getBoundingClientRect().right <= box.right + 1);
  });
}"""


def test_admin_logs_in_and_sees_the_organisation_dashboard(page):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    submit_login(page, EMAILS["admin"], DEMO_PASSWORD)

    # Member of two organisations and none used yet: the home page offers both.
    expect(page).to_have_url(re.compile(r"/$"))
    main = page.locator("main")
    expect(main.get_by_role("link", name=BASSIN_NAME)).to_have_attribute("href", org_url(BASSIN))
    expect(main.get_by_role("link", name=QUEBEC_NAME)).to_have_attribute("href", org_url(QUEBEC))
    expect(page.locator("details.user-menu summary")).to_have_text("Camille")

    response = click_and_load(page, main.get_by_role("link", name=BASSIN_NAME))
    assert response.status == 200
    expect(page).to_have_url(re.compile(f"{org_url(BASSIN)}$"))
    expect(page.locator("h1")).to_have_text(BASSIN_NAME)
    expect(page).to_have_title(re.compile(f"^{BASSIN_NAME}"))
    expect(page.locator("details.org-switcher summary")).to_have_text(BASSIN_NAME)

    groups = page.locator("section[aria-labelledby=groups-title]")
    for name in ("Coordination Bassin minier", "Valenciennes", "Douchy-les-Mines", "Cambrai", "Lille"):
        expect(groups.get_by_role("listitem").filter(has_text=name).first).to_be_visible()
    expect(groups.get_by_role("listitem")).to_have_count(9)

    channels = page.locator("section[aria-labelledby=channels-title]")
    expect(channels.get_by_role("listitem").filter(has_text="Centre social de Valenciennes")).to_have_count(2)
    expect(channels.get_by_role("listitem").filter(has_text="Jeunesse Denain")).to_have_count(1)
    expect(channels.get_by_role("listitem")).to_have_count(11)
    # The channel that lost its authorisation is called out.
    expect(page.locator("main .notice").first).to_contain_text("Centre social de Douchy-les-Mines")
    # Nothing from the other organisation leaks in.
    expect(main).not_to_contain_text("SCC – Montérégie")

    # Nothing sticks out of its card or makes the page scroll sideways (desktop and phone widths).
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate(NO_HORIZONTAL_OVERFLOW), f"content wider than the window at {width}px"
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, "dashboard")

    # The organisation used last is where the home page leads from now on.
    page.goto("/")
    expect(page).to_have_url(re.compile(f"{org_url(BASSIN)}$"))


def test_wrong_password_shows_an_error_and_does_not_log_in(page):
    page.goto("/accounts/login/")
    submit_login(page, EMAILS["admin"], "not-the-password")

    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    error = page.locator("main form [role=alert]")  # announced by screen readers
    expect(error.first).to_be_visible()
    expect(error.first).not_to_be_empty()
    # The address stays filled in, the password does not.
    expect(page.locator("#id_login")).to_have_value(EMAILS["admin"])
    expect(page.locator("#id_password")).to_have_value("")
    expect(page.locator("details.user-menu")).to_have_count(0)

    page.goto(org_url(BASSIN))
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
