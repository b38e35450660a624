"""People log in by e-mail, reset their password, can add TOTP two-factor, and are rate-limited."""

from __future__ import annotations

import re

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.core import mail
from django.core.cache import cache
from django.test import Client

from beffroi.conftest import PASSWORD
from beffroi.organisations.roles import Role


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def _login(client: Client, email: str, password: str):
    return client.post("/accounts/login/", {"login": email, "password": password})


@pytest.mark.django_db
def test_login_by_email_lands_on_the_organisation(tenant_a):
    client = Client()
    response = _login(client, tenant_a.member(Role.ADMIN).email.upper(), PASSWORD)
    assert response.status_code == 302
    response = client.get(response["Location"], follow=True)
    assert response.redirect_chain[-1][0] == f"/o/{tenant_a.organisation.slug}/"
    assert "Org a" in response.content.decode()


@pytest.mark.django_db
def test_person_with_several_organisations_chooses_and_the_last_one_is_remembered(tenant_a, tenant_b):
    from beffroi.organisations.models import Membership

    person = tenant_a.member(Role.ANALYST)
    Membership.objects.create(organisation=tenant_b.organisation, user=person, role=Role.EDITOR)
    client = Client()
    client.force_login(person)
    page = client.get("/").content.decode()
    assert "/o/org-a/" in page and "/o/org-b/" in page
    client.get("/o/org-b/")
    assert client.get("/")["Location"] == "/o/org-b/"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "message"),
    [("en", "Too many failed login attempts"), ("fr", "Trop de tentatives de connexion échouées")],
)
def test_repeated_wrong_passwords_lock_the_login_with_a_clear_message(language, message, tenant_a):
    client = Client()
    client.cookies["beffroi_language"] = language
    email = tenant_a.member(Role.EDITOR).email
    for _ in range(5):
        response = _login(client, email, "wrong-password")
        assert response.status_code == 200
        assert message not in response.content.decode()
    response = _login(client, email, "wrong-password")
    assert message in response.content.decode()
    # Even the right password is refused while locked: nobody gets in by guessing on.
    response = _login(client, email, PASSWORD)
    assert response.status_code != 302
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_wrong_password_says_so_without_revealing_whether_the_account_exists(tenant_a):
    client = Client()
    client.cookies["beffroi_language"] = "en"
    known = _login(client, tenant_a.member(Role.EDITOR).email, "nope").content.decode()
    unknown = _login(client, "nobody@example.org", "nope").content.decode()
    for page in (known, unknown):
        assert "The email address and/or password you specified are not correct." in page


@pytest.mark.django_db
def test_password_reset_by_email(tenant_a, django_capture_on_commit_callbacks):
    person = tenant_a.member(Role.EDITOR)
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/password/reset/", {"email": person.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [person.email]
    link = re.search(r"http://[^/]+(/accounts/password/reset/key/[^\s]+)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    action = form_page.redirect_chain[-1][0] if form_page.redirect_chain else link
    response = client.post(action, {"password1": "a-brand-new-passphrase", "password2": "a-brand-new-passphrase"})
    assert response.status_code == 302
    assert Client().login(email=person.email, password="a-brand-new-passphrase")


@pytest.mark.django_db
def test_signup_is_closed_people_join_by_invitation():
    response = Client().post(
        "/accounts/signup/", {"email": "intruder@example.org", "password1": "x-Y-z-123456", "password2": "x-Y-z-123456"}
    )
    from beffroi.accounts.models import User

    assert not User.objects.filter(email="intruder@example.org").exists()
    assert response.status_code in (200, 302)


@pytest.mark.django_db
def test_totp_two_factor_is_asked_after_the_password(tenant_a):
    person = tenant_a.member(Role.VALIDATOR)
    secret = generate_totp_secret()
    TOTP.activate(person, secret)
    client = Client()
    response = _login(client, person.email, PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/authenticate/"
    assert "_auth_user_id" not in client.session
    assert client.get(f"/o/{tenant_a.organisation.slug}/").status_code == 302  # still outside
    wrong = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    from allauth.mfa.totp.internal.auth import yield_hotp_counters_from_time

    counter = next(iter(yield_hotp_counters_from_time()))
    code = format_hotp_value(hotp_value(secret, counter))
    response = client.post("/accounts/2fa/authenticate/", {"code": code})
    assert response.status_code == 302
    assert client.get(f"/o/{tenant_a.organisation.slug}/").status_code == 200


@pytest.mark.django_db
def test_two_factor_setup_page_is_reachable_in_the_layout(tenant_a, client_for):
    client = client_for(tenant_a.member(Role.ANALYST))
    # Security pages ask for the password again first.
    assert client.get("/accounts/2fa/totp/activate/").status_code == 302
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="skip-link"' in html  # inside Beffroi's layout
    assert "<svg" in html or "data:image" in html  # the QR code to scan
