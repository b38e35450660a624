"""What each role sees: the menus follow the role, and pages outside it are refused."""

import re

import pytest
from playwright.sync_api import expect

from beffroi.tests.browser.conftest import BASSIN, org_url

pytestmark = pytest.mark.browser


def nav_hrefs(page) -> list[str]:
    links = page.locator("nav.sidenav").get_by_role("link")
    expect(links.first).to_be_visible()
    return [links.nth(i).get_attribute("href") for i in range(links.count())]


def test_analyst_sees_statistics_but_not_inbox_or_publications(login):
    page = login("analyst")
    assert nav_hrefs(page) == [org_url(BASSIN), org_url(BASSIN, "insights/"), org_url(BASSIN, "settings/")]

    with page.expect_navigation() as navigation:
        page.locator("nav.sidenav").locator(f'a[href="{org_url(BASSIN, "insights/")}"]').click()
    assert navigation.value.status == 200
    expect(page.locator("main h1")).to_have_count(1)

    for path in ("inbox/", "publications/", "calendar/", "campaigns/", "settings/members/"):
        response = page.goto(org_url(BASSIN, path))
        assert response.status == 403, path
        # A page of the product, in the person's language, not the bare server error.
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("main h1")).to_be_visible()
        expect(page.get_by_role("banner")).to_be_visible()

    # Settings are readable but not editable, and the members tab is not offered.
    page.goto(org_url(BASSIN, "settings/"))
    expect(page.locator("main form.form")).to_have_count(0)
    expect(page.locator("main dl.facts")).to_contain_text("Centres sociaux connectés du Bassin minier")
    tabs = page.locator("main nav.tabs")
    expect(tabs.get_by_role("link")).to_have_count(3)
    expect(tabs.locator(f'a[href="{org_url(BASSIN, "settings/members/")}"]')).to_have_count(0)


def test_editor_sees_only_the_channels_of_their_page_group(login):
    page = login("editor")
    hrefs = nav_hrefs(page)
    assert org_url(BASSIN, "publications/") in hrefs
    assert org_url(BASSIN, "inbox/") not in hrefs

    page.goto(org_url(BASSIN, "settings/channels/"))
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="Centre social de Valenciennes")).to_have_count(2)
    table = page.locator("main table")
    for other in ("Centre social de Douchy-les-Mines", "Jeunesse Denain", "Centres Sociaux Connectés du Bassin Minier"):
        expect(table).not_to_contain_text(other)
    # An editor cannot change channels: no edit links or enable/disable buttons.
    expect(table.locator("a[href*='/settings/channels/'], form")).to_have_count(0)

    # The network filter only offers the networks of the visible channels.
    options = page.locator("#network-filter option")
    expect(options).to_have_count(3)  # all, Facebook, Instagram
    with page.expect_navigation():
        page.select_option("#network-filter", "instagram")
    expect(page).to_have_url(re.compile(r"\?network=instagram$"))
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("@cs_valenciennes")

    # The dashboard agrees with the channel list.
    page.goto(org_url(BASSIN))
    channels = page.locator("section[aria-labelledby=channels-title]")
    expect(channels.get_by_role("listitem")).to_have_count(2)
    expect(channels).not_to_contain_text("Douchy-les-Mines")
