"""The admin's settings: editing and disabling a channel, inviting members."""

import re

import pytest
from playwright.sync_api import expect

from beffroi.channels.models import Channel
from beffroi.organisations.models import Invitation
from beffroi.tests.browser.conftest import BASSIN, EMAILS, click_and_load, org_url, screenshot

pytestmark = pytest.mark.browser


def channel_row(page, name: str):
    return page.locator("main table tbody tr").filter(has_text=name)


def test_admin_renames_then_disables_a_channel(login):
    page = login("admin", next=org_url(BASSIN, "settings/channels/"))
    channel = Channel.objects.get(organisation__slug=BASSIN, display_name="Centre social de Cambrai")
    edit_url = org_url(BASSIN, f"settings/channels/{channel.pk}/")

    row = channel_row(page, "Centre social de Cambrai")
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_class(re.compile(r"\bstatus-active\b"))
    response = click_and_load(page, row.locator(f'a[href="{edit_url}"]'))
    assert response.status == 200
    expect(page).to_have_url(re.compile(f"{re.escape(edit_url)}$"))
    expect(page.locator("main h1")).to_contain_text("Centre social de Cambrai")
    expect(page.locator("main dl.facts")).to_contain_text("@cs_cambrai@mastodon.social")
    expect(page.locator("#id_display_name")).to_have_value("Centre social de Cambrai")

    page.fill("#id_display_name", "Centre social Cambrai — Mastodon")
    response = click_and_load(page, page.locator("main form.form:not(.queue-form) button[type=submit]"))
    assert response.status == 200
    expect(page).to_have_url(re.compile(f"{re.escape(org_url(BASSIN, 'settings/channels/'))}$"))
    success = page.locator("main .messages .message.success")
    expect(success).to_have_count(1)
    expect(success).to_contain_text("Centre social Cambrai — Mastodon")
    expect(channel_row(page, "Centre social Cambrai — Mastodon")).to_have_count(1)
    expect(page.locator("main table")).not_to_contain_text("Centre social de Cambrai")
    channel.refresh_from_db()
    assert channel.display_name == "Centre social Cambrai — Mastodon"
    assert channel.status == Channel.Status.ACTIVE

    row = channel_row(page, "Centre social Cambrai — Mastodon")
    click_and_load(page, row.locator(f'form[action="{edit_url}disable/"] button'))
    expect(success).to_contain_text("Centre social Cambrai — Mastodon")
    expect(row.locator(".badge")).to_have_class(re.compile(r"\bstatus-disabled\b"))
    expect(row.locator(f'form[action="{edit_url}disable/"]')).to_have_count(0)
    expect(row.locator(f'form[action="{edit_url}enable/"]')).to_have_count(1)
    channel.refresh_from_db()
    assert channel.status == Channel.Status.DISABLED

    # The status badge reads the same on the dashboard.
    disabled_label = row.locator(".badge").inner_text()
    page.goto(org_url(BASSIN))
    dashboard_item = page.locator("section[aria-labelledby=channels-title] li").filter(
        has_text="Centre social Cambrai — Mastodon"
    )
    expect(dashboard_item.locator(".badge.status-disabled")).to_have_text(disabled_label)


def test_admin_invites_a_member(login, mailoutbox):
    page = login("admin", next=org_url(BASSIN, "settings/members/"))
    email = "nouvelle.benevole@example.org"
    members_table = page.locator("main table").first
    expect(members_table.locator("tbody tr")).to_have_count(5)
    expect(members_table).to_contain_text(EMAILS["validator"])
    before = page.locator("main table").count()

    page.fill("#id_email", email)
    moderator = page.locator("input[name=role][value=moderator]")
    moderator.check()
    role_label = page.locator(f'label[for="{moderator.get_attribute("id")}"]').inner_text().strip()
    response = click_and_load(page, page.locator("main form.form:not(.queue-form) button[type=submit]"))
    assert response.status == 200

    expect(page).to_have_url(re.compile(f"{re.escape(org_url(BASSIN, 'settings/members/'))}$"))
    expect(page.locator("main .messages .message.success")).to_contain_text(email)
    expect(page.locator("main table")).to_have_count(before + 1)  # the pending invitations appear
    invitation_row = page.locator("main table").nth(1).locator("tbody tr").filter(has_text=email)
    expect(invitation_row).to_have_count(1)
    expect(invitation_row).to_contain_text(role_label)
    expect(invitation_row.locator("time")).to_have_count(1)  # when it expires
    expect(members_table.locator("tbody tr")).to_have_count(5)  # not a member until accepted
    invitation = Invitation.objects.get(organisation__slug=BASSIN, email=email)
    assert invitation.role == "moderator"
    assert [m.to for m in mailoutbox] == [[email]]

    screenshot(page, "members")

    # An address that already belongs to a member is refused on the form.
    page.fill("#id_email", EMAILS["validator"])
    page.locator("input[name=role][value=editor]").check()
    response = click_and_load(page, page.locator("main form.form:not(.queue-form) button[type=submit]"))
    assert response.status == 200
    expect(page.locator("main .messages .message.success")).to_have_count(0)
    expect(page.locator("#id_email_error")).to_be_visible()
    expect(page.locator("#id_email_error")).not_to_be_empty()
    expect(page.locator(".field.has-error #id_email")).to_have_value(EMAILS["validator"])
    assert not Invitation.objects.filter(email=EMAILS["validator"]).exists()
    assert len(mailoutbox) == 1
