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
