from __future__ import annotations

import pytest
from django.test import Client

from beffroi.organisations.roles import Role


@pytest.mark.django_db
def test_openapi_schema_lists_the_endpoints(client_for, tenant_a):
    schema = client_for(tenant_a.member(Role.ANALYST)).get("/api/v1/openapi.json").json()
    assert "/api/v1/organisations/{slug}/channels/{channel_id}" in schema["paths"]


@pytest.mark.django_db
def test_admin_updates_a_channel_through_the_api_with_validation(tenant_a, client_for):
    client = client_for(tenant_a.member(Role.ADMIN))
    url = f"/api/v1/organisations/{tenant_a.organisation.slug}/channels/{tenant_a.channel.pk}"
    response = client.patch(
        url, {"display_name": "Nouvelle page", "status": "disabled"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["display_name"] == "Nouvelle page" and response.json()["status"] == "disabled"
    bad = client.patch(url, {"time_zone": "Nowhere/Land"}, content_type="application/json")
    assert bad.status_code == 422
    tenant_a.channel.refresh_from_db()
    assert tenant_a.channel.time_zone == ""


@pytest.mark.django_db
def test_api_writes_need_the_csrf_token_with_session_auth(tenant_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(tenant_a.member(Role.ADMIN))
    url = f"/api/v1/organisations/{tenant_a.organisation.slug}/channels/{tenant_a.channel.pk}"
    response = client.patch(url, {"display_name": "x"}, content_type="application/json")
    assert response.status_code == 403
    tenant_a.channel.refresh_from_db()
    assert tenant_a.channel.display_name == "a page"


@pytest.mark.django_db
def test_posts_are_scheduled_through_the_api_in_the_channels_zone(tenant_a, client_for):
    channel = tenant_a.channel
    channel.network, channel.time_zone = "mastodon", "America/Montreal"
    channel.save()
    client = client_for(tenant_a.member(Role.VALIDATOR))
    client.cookies["beffroi_language"] = "en"
    url = f"/api/v1/organisations/{tenant_a.organisation.slug}/posts"
    created = client.post(
        url,
        {"text": "Assemblée générale", "channel_ids": [channel.pk], "scheduled_at": "2031-06-03T09:00:00"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    [publication] = created.json()
    assert publication["state"] == "scheduled" and publication["scheduled_tz"] == "America/Montreal"
    assert publication["due_at"].startswith("2031-06-03T13:00:00")
    gap = client.post(
        url,
        {"text": "x", "channel_ids": [channel.pk], "scheduled_at": "2031-03-09T02:30:00"},
        content_type="application/json",
    )
    assert gap.status_code == 422 and "does not exist" in gap.json()["detail"]
    with_offset = client.post(
        url,
        {"text": "x", "channel_ids": [channel.pk], "scheduled_at": "2031-06-03T09:00:00+02:00"},
        content_type="application/json",
    )
    assert with_offset.status_code == 422
    cancel = client.post(f"/api/v1/organisations/{tenant_a.organisation.slug}/publications/{publication['id']}/cancel")
    assert cancel.status_code == 200 and cancel.json()["state"] == "cancelled"
