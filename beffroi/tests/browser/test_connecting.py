"""Connecting a channel from the settings, and the reconnection banner."""

import pytest
from playwright.sync_api import expect

from beffroi.channels.models import Channel
from beffroi.tests.browser.conftest import BASSIN, click_and_load, org_url, screenshot

pytestmark = pytest.mark.browser


def test_admin_connects_an_atom_feed_and_opens_its_address(login):
    page = login("admin", next=org_url(BASSIN, "settings/channels/"))
    click_and_load(page, page.get_by_role("link", name="Connecter un canal"))
    expect(page.locator("main h2")).to_have_text("Connecter un canal")
    atom = page.locator("section[aria-labelledby=connect-atom]")
    atom.get_by_label("Titre du fil").fill("Lettre du centre de Denain")
    atom.get_by_label("Description (facultative)").fill("Les nouvelles de Denain")
    click_and_load(page, atom.get_by_role("button", name="Créer le fil"))
    expect(page.locator("main h2")).to_contain_text("Comptes à connecter")
    expect(page.get_by_label("Lettre du centre de Denain")).to_be_checked()
    options = page.get_by_label("Groupe de pages").locator("option").all_inner_texts()
    page.get_by_label("Groupe de pages").select_option(label=next(o for o in options if "Denain" in o))
    screenshot(page, "connect-choose")
    click_and_load(page, page.get_by_role("button", name="Connecter", exact=True))
    expect(page.locator("main .messages .message.success")).to_contain_text("Lettre du centre de Denain")
    channel = Channel.objects.get(network="atom", display_name="Lettre du centre de Denain")
    assert channel.group.name.endswith("Denain") or "Denain" in channel.group.path_label
    row = page.locator("main table tbody tr").filter(has_text="Lettre du centre de Denain")
    feed = row.get_by_role("link", name="Adresse du fil")
    response = click_and_load(page, feed)
    assert response.status == 200 and response.headers["content-type"].startswith("application/atom+xml")


def test_a_channel_to_reconnect_is_announced_on_every_page(login):
    channel = Channel.objects.filter(organisation__slug=BASSIN, network="bluesky").first()
    channel.status = Channel.Status.NEEDS_RECONNECTION
    channel.status_reason = "Bluesky refused the channel's authorisation"
    channel.save()
    page = login("validator", next=org_url(BASSIN, "publications/"))
    banner = page.locator("main .alert.warning[role=alert]")
    expect(banner).to_contain_text(channel.display_name)
    expect(banner).to_contain_text("Demandez à un·e administrateur·rice")
    page.context.clear_cookies()
    page = login("admin", next=org_url(BASSIN))
    expect(page.locator("main .alert.warning a")).to_have_text("Reconnecter")
