"""Moving around: the side navigation, the settings tabs, the organisation switcher and the keyboard."""

import re

import pytest
from playwright.sync_api import expect

from beffroi.tests.browser.conftest import BASSIN, QUEBEC, click_and_load, org_url

pytestmark = pytest.mark.browser

# The admin's sections in menu order: the overview, then every entry of context_processors.SECTIONS.
ADMIN_SECTIONS = ["", "calendar/", "publications/", "inbox/", "insights/", "campaigns/", "settings/"]
SETTINGS_TABS = [
    "settings/",
    "settings/groups/",
    "settings/channels/",
    "settings/publishing-health/",
    "settings/members/",
]


def side_nav(page):
    return page.locator("nav.sidenav")


def test_every_section_is_reached_from_the_side_navigation(login):
    page = login("admin")
    nav = side_nav(page)
    expect(nav).to_have_attribute("aria-label", re.compile(r"\S"))
    links = nav.get_by_role("link")
    expect(links).to_have_count(len(ADMIN_SECTIONS))
    assert [links.nth(i).get_attribute("href") for i in range(links.count())] == [
        org_url(BASSIN, path) for path in ADMIN_SECTIONS
    ]

    # From the last section back to the overview, so that every click changes the page.
    for path in [*ADMIN_SECTIONS[1:], ADMIN_SECTIONS[0]]:
        url = org_url(BASSIN, path)
        response = click_and_load(page, nav.locator(f'a[href="{url}"]'))
        assert response.status == 200, url
        expect(page).to_have_url(re.compile(f"{re.escape(url)}$"))
        expect(nav.locator('[aria-current="page"]')).to_have_count(1)
        expect(nav.locator(f'a[href="{url}"]')).to_have_attribute("aria-current", "page")
        expect(page.locator("main h1")).to_have_count(1)
        expect(page.locator("main h1")).not_to_be_empty()
        # The page title names the page, not only the product.
        assert re.match(r".+ · Beffroi$", page.title()), page.title()


def test_settings_tabs(login):
    page = login("admin")
    click_and_load(page, side_nav(page).locator(f'a[href="{org_url(BASSIN, "settings/")}"]'))
    tabs = page.locator("main nav.tabs")
    expect(tabs).to_have_attribute("aria-label", re.compile(r"\S"))
    expect(tabs.get_by_role("link")).to_have_count(len(SETTINGS_TABS))
    # What each tab shows of the demo data.
    shows = {
        "settings/": lambda: expect(page.locator("#id_name")).to_have_value(
            "Centres sociaux connectés du Bassin minier"
        ),
        "settings/groups/": lambda: expect(page.locator("main table")).to_contain_text("Douchy-les-Mines"),
        "settings/channels/": lambda: expect(page.locator("main table")).to_contain_text("Centre social de Cambrai"),
        "settings/publishing-health/": lambda: expect(page.locator("main table").last).to_contain_text(
            "Centre social de Cambrai"
        ),
        "settings/members/": lambda: expect(page.locator("main table").first).to_contain_text(
            "statistiques@demo.beffroi.example"
        ),
    }
    for path in [*SETTINGS_TABS[1:], SETTINGS_TABS[0]]:
        url = org_url(BASSIN, path)
        response = click_and_load(page, tabs.locator(f'a[href="{url}"]'))
        assert response.status == 200, url
        expect(page).to_have_url(re.compile(f"{re.escape(url)}$"))
        expect(tabs.locator('[aria-current="page"]')).to_have_count(1)
        expect(tabs.locator(f'a[href="{url}"]')).to_have_attribute("aria-current", "page")
        # The side navigation keeps "Settings" as the current section on every tab.
        expect(side_nav(page).locator('[aria-current="page"]')).to_have_attribute("href", org_url(BASSIN, "settings/"))
        expect(page.locator("main h1")).to_have_count(1)
        shows[path]()


def test_organisation_switcher(login):
    page = login("admin")
    footer = page.get_by_role("contentinfo")
    expect(footer).to_contain_text("Europe/Paris")
    switcher = page.locator("details.org-switcher")
    quebec_link = switcher.locator(f'a[href="{org_url(QUEBEC)}"]')
    expect(quebec_link).to_be_hidden()

    switcher.locator("summary").click()
    expect(switcher).to_have_attribute("open", "")
    expect(switcher.locator('a[aria-current="true"]')).to_have_attribute("href", org_url(BASSIN))
    expect(quebec_link).to_be_visible()
    expect(quebec_link).to_contain_text("SCC — Division du Québec")

    response = click_and_load(page, quebec_link)
    assert response.status == 200
    expect(page).to_have_url(re.compile(f"{org_url(QUEBEC)}$"))
    expect(page.locator("main h1")).to_have_text("SCC — Division du Québec")
    expect(switcher.locator("summary")).to_have_text("SCC — Division du Québec")
    expect(switcher.locator('a[aria-current="true"]')).to_have_attribute("href", org_url(QUEBEC), timeout=0)
    channels = page.locator("section[aria-labelledby=channels-title]")
    expect(channels).to_contain_text("SCC – Montérégie")
    expect(channels).not_to_contain_text("Centre social de Valenciennes")
    # The navigation now leads into the Québec organisation.
    expect(side_nav(page).get_by_role("link").first).to_have_attribute("href", org_url(QUEBEC))
    # Times are shown in the organisation's zone, and say so.
    expect(footer).to_contain_text("America/Toronto")
    expect(footer).not_to_contain_text("Europe/Paris")
    expect(page.locator("section[aria-labelledby=time-title]")).to_contain_text("America/Toronto")

    # Escape closes the menu and gives focus back to it.
    switcher.locator("summary").click()
    expect(switcher).to_have_attribute("open", "")
    page.keyboard.press("Escape")
    expect(switcher).not_to_have_attribute("open", "")
    expect(switcher.locator("summary")).to_be_focused()


def test_keyboard_skip_link_and_navigation(login):
    page = login("admin")
    page.goto(org_url(BASSIN, "calendar/"))  # a fresh load: focus starts at the top of the document

    skip = page.locator("a.skip-link")
    expect(skip).not_to_be_in_viewport()
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    expect(skip).to_have_attribute("href", "#main")
    expect(skip).to_be_in_viewport()  # shown when focused
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    expect(skip).not_to_be_in_viewport()

    # From the top again, Tab reaches every link of the side navigation, in order.
    page.goto(org_url(BASSIN, "calendar/"))
    expected = [org_url(BASSIN, path) for path in ADMIN_SECTIONS]
    reached = []
    for _ in range(30):
        page.keyboard.press("Tab")
        href = page.evaluate(
            "() => document.activeElement.closest('nav.sidenav') ? document.activeElement.getAttribute('href') : null"
        )
        if href:
            reached.append(href)
        if reached == expected:
            break
    assert reached == expected

    # And Enter on the focused link opens it.
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"{re.escape(expected[-1])}$"))
