from __future__ import annotations

import pytest
from django.test import Client

from beffroi.organisations.roles import Role


@pytest.mark.django_db
def test_language_switch_sets_the_cookie_and_remembers_it_for_the_person(tenant_a, client_for):
    person = tenant_a.member(Role.EDITOR)
    client = client_for(person)
    response = client.post("/language/", {"language": "en", "next": f"/o/{tenant_a.organisation.slug}/"})
    assert response.status_code == 302 and response["Location"] == f"/o/{tenant_a.organisation.slug}/"
    assert client.get(response["Location"]).content.decode().startswith('<!DOCTYPE html>\n<html lang="en">')
    person.refresh_from_db()
    assert person.language == "en"
    # On another browser (no cookie) the saved language applies.
    other = Client()
    other.force_login(person)
    assert '<html lang="en">' in other.get(f"/o/{tenant_a.organisation.slug}/").content.decode()


def test_language_switch_refuses_to_redirect_elsewhere():
    response = Client().post("/language/", {"language": "fr", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_french_is_the_default_language():
    assert '<html lang="fr">' in Client().get("/accounts/login/").content.decode()


@pytest.mark.django_db
def test_profile_saves_name_zone_and_language_and_refuses_unknown_zones(tenant_a, client_for):
    person = tenant_a.member(Role.ANALYST)
    client = client_for(person)
    client.cookies["beffroi_language"] = "en"
    bad = client.post("/profile/", {"full_name": "Marc", "time_zone": "Lille", "language": "en"})
    assert "is not a known time zone" in bad.content.decode()
    person.refresh_from_db()
    assert person.full_name != "Marc"
    ok = client.post("/profile/", {"full_name": "Marc Petit", "time_zone": "America/Toronto", "language": "fr"})
    assert ok.status_code == 302
    person.refresh_from_db()
    assert (person.full_name, person.time_zone, person.language) == ("Marc Petit", "America/Toronto", "fr")


@pytest.mark.django_db
def test_sections_not_built_yet_say_so(tenant_a, client_for):
    client = client_for(tenant_a.member(Role.ADMIN))
    client.cookies["beffroi_language"] = "en"
    for section in ("inbox", "campaigns"):
        page = client.get(f"/o/{tenant_a.organisation.slug}/{section}/").content.decode()
        assert "This section is not available yet." in page, section


@pytest.mark.django_db
def test_forbidden_pages_explain_why(tenant_a, client_for):
    client = client_for(tenant_a.member(Role.ANALYST))
    client.cookies["beffroi_language"] = "en"
    response = client.get(f"/o/{tenant_a.organisation.slug}/inbox/")
    assert response.status_code == 403
    assert "Your role in this organisation does not allow this." in response.content.decode()


def test_browser_language_does_not_override_french_first():
    page = Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").get("/accounts/login/").content.decode()
    assert '<html lang="fr">' in page


@pytest.mark.django_db
def test_organisation_default_language_applies_to_people_who_chose_none(tenant_a, client_for):
    tenant_a.organisation.language = "en"
    tenant_a.organisation.save()
    person = tenant_a.member(Role.EDITOR)
    client = client_for(person)
    assert '<html lang="en">' in client.get(f"/o/{tenant_a.organisation.slug}/").content.decode()
    client.cookies["beffroi_language"] = "fr"  # the person's own choice wins
    assert '<html lang="fr">' in client.get(f"/o/{tenant_a.organisation.slug}/").content.decode()
